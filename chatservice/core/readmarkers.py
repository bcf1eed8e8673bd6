"""
Read markers: up to when a person has read each room or conversation, so that
every client they use can show what is new (IRCv3 draft/read-marker; the web
page's "new" divider).

Until accounts exist a marker belongs to one sign-in (the hub's L{User}): it
is kept while they are connected and forgotten when they leave, so a nick
taken over later learns nothing.  A marker only ever moves forward, and one
person keeps markers for at most L{MAX_TARGETS} targets (the oldest-set goes).
Times are whole milliseconds since the epoch, as IRC's server-time writes them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import names

if TYPE_CHECKING:
    from .hub import User

MAX_TARGETS = 500


def read_marker(user: User, target: str) -> int | None:
    """The time (ms) up to which C{user} has read C{target}, if they said."""
    markers = user.read_markers
    return None if markers is None else markers.get(names.fold(target))


def renamed(user: User, old: str, new: str) -> None:
    """A room C{user} is in is now called C{new}: its marker follows it."""
    markers = user.read_markers
    if markers:
        kept = markers.pop(names.fold(old), None)
        if kept is not None:
            markers[names.fold(new)] = kept


def mark_read(user: User, target: str, when: int) -> int:
    """
    Record that C{user} has read C{target} up to C{when} (ms); an earlier
    time than the one kept changes nothing.  Return the marker kept.
    """
    markers = user.read_markers
    if markers is None:
        markers = user.read_markers = {}
    key = names.fold(target)
    kept = markers.get(key)
    if kept is not None and kept >= when:
        return kept
    markers.pop(key, None)
    markers[key] = when
    if len(markers) > MAX_TARGETS:
        del markers[next(iter(markers))]
    return when
