"""
LIST, with the ELIST filters (ISUPPORT C{ELIST=CMNTU}).

C{LIST} alone lists every channel the client may see; its parameter is a
comma-separated list of terms, each one of:

 - C{#name} or a mask with C{*} and C{?} (M): channels matching any such term;
 - C{!mask} (N): channels matching none of these;
 - C{<n} / C{>n} (U): fewer / more than n members;
 - C{C<n} / C{C>n} (C): created less / more than n minutes ago;
 - C{T<n} / C{T>n} (T): topic set less / more than n minutes ago.

A channel is listed when it passes every term of each kind given.  A term
that is none of these (C{>x}) matches nothing, so a mistyped filter lists no
channel rather than all of them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Callable

from ....core.hub import User
from ....core.rooms import Room, mask_matcher
from .. import numerics as N
from ..wire import Message
from .common import _targets, _visible
from .table import command

if TYPE_CHECKING:
    from ..protocol import IRCConnection

ELIST = "CMNTU"

_COMPARISON = re.compile(r"([CT]?)([<>])(\d{1,9})", re.ASCII)

Filter = Callable[[Room], bool]


def _comparison(term: str, now: float) -> Filter | None:
    """The filter for a C{<n}, C{C>n} or C{T<n}-style term, or C{None}."""
    found = _COMPARISON.fullmatch(term)
    if found is None:
        return None
    what, sign, number = found.group(1), found.group(2), int(found.group(3))
    if not what:
        if sign == "<":
            return lambda room: len(room.members) < number
        return lambda room: len(room.members) > number

    def minutes_ago(room: Room) -> float | None:
        when = room.created if what == "C" else room.topic_time if room.topic else None
        return None if when is None else (now - when) / 60

    if sign == "<":
        return lambda room: (age := minutes_ago(room)) is not None and age < number
    return lambda room: (age := minutes_ago(room)) is not None and age > number


def parse_filters(argument: str, now: float) -> tuple[list, list, list[Filter]]:
    """The wanted masks, the unwanted masks and the other filters of C{argument}."""
    wanted, unwanted, filters = [], [], []
    for term in _targets(argument):
        if term[0] in "<>" or term[:2] in ("C<", "C>", "T<", "T>"):
            found = _comparison(term, now)
            filters.append(found if found is not None else (lambda room: False))
        elif term.startswith("!"):
            unwanted.append(mask_matcher(term[1:]))
        else:
            wanted.append(mask_matcher(term))
    return wanted, unwanted, filters


@command("LIST")
def list_(conn: IRCConnection, user: User, message: Message) -> None:
    argument = message.params[0] if message.params else ""
    wanted, unwanted, filters = parse_filters(argument, conn.clock.seconds())
    conn.numeric(N.RPL_LISTSTART, "Channel", "Users  Name")
    for room in sorted(conn.hub.rooms(), key=lambda r: r.key):
        if wanted and not any(p.fullmatch(room.key) for p in wanted):
            continue
        if any(p.fullmatch(room.key) for p in unwanted):
            continue
        if not all(check(room) for check in filters) or not _visible(room, user):
            continue
        conn.numeric(N.RPL_LIST, room.name, str(len(room.members)), room.topic)
    conn.numeric(N.RPL_LISTEND, "End of /LIST")
