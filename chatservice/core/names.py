"""
Nickname and room-name rules.

They are IRC's (RFC 2812 nicknames, ``rfc1459`` case mapping) so that every
front end shares one namespace: a netcat user called ``Bob[away]`` and an IRC
user asking for ``bob{away}`` collide, exactly as an IRC server would decide.
"""

import re

NICK_MAX_LENGTH = 32
ROOM_MAX_LENGTH = 50

_NICK = re.compile(r"[A-Za-z_\[\]\\`^{}|][A-Za-z0-9_\[\]\\`^{}|-]*")
# Room names exclude what would break an IRC line or a comma-separated list,
# and anything that is not printable.
_ROOM = re.compile(r"#[^\s,:\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]+")

_RFC1459_FOLD = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ[]\\~", "abcdefghijklmnopqrstuvwxyz{}|^"
)


# rfc1459's four letters beyond ASCII's case: []\\~ fold to {}|^.
_RFC1459_SPECIAL = str.maketrans("[]\\~", "{}|^")
_SPECIAL = re.compile(r"[\[\]\\~]")


def fold(name: str) -> str:
    """
    Return the key under which C{name} is unique, as IRC's rfc1459 mapping
    compares names.  A name that is its own key (most nicknames) is
    returned itself, not a copy: every signed-in user keeps their key.
    """
    if name.isascii():
        # Most names: str.lower and one scan, both in C, where the
        # translation looks each character up in a dictionary (names are
        # folded several times for each message).
        folded = name.lower()
        if _SPECIAL.search(folded) is not None:
            folded = folded.translate(_RFC1459_SPECIAL)
    else:
        folded = name.translate(_RFC1459_FOLD)
    return name if folded == name else folded


def nick_problem(nick: str) -> str | None:
    """
    Explain why C{nick} cannot be a nickname, or return C{None} if it can.
    """
    if not nick:
        return "A nickname cannot be empty."
    if len(nick) > NICK_MAX_LENGTH:
        return f"A nickname has at most {NICK_MAX_LENGTH} characters."
    if nick[0].isdigit() or nick[0] == "-":
        return "A nickname cannot start with a digit or '-'."
    if not _NICK.fullmatch(nick):
        return (
            "A nickname may contain only ASCII letters, digits and _-[]\\`^{}|."
        )
    return None


def room_problem(name: str) -> str | None:
    """
    Explain why C{name} cannot name a room, or return C{None} if it can.
    """
    if not name.startswith("#"):
        return "A room name starts with '#'."
    if len(name) > ROOM_MAX_LENGTH:
        return f"A room name has at most {ROOM_MAX_LENGTH} characters."
    if not _ROOM.fullmatch(name):
        return "A room name cannot contain spaces, commas, colons or control characters."
    return None
