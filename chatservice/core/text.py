"""
What user-supplied text may contain once it is inside the server.

Everything a person sends is cleaned here, once, before the hub accepts it, so
no front end can forward a terminal escape, a NUL, a line break or a Unicode
bidi override to somebody else.  IRC's formatting codes (bold, colour, italics,
reverse, underline, reset, monospace and CTCP's delimiter) survive, because IRC
clients display them; front ends for terminals strip them with
L{strip_formatting}.
"""

import re

# IRC text formatting: ^B bold, ^C colour, ^O reset, ^V reverse, ^] italics,
# ^^ strikethrough, ^_ underline, ^Q monospace, and ^A which delimits CTCP.
FORMATTING_CODES = "\x02\x03\x0f\x16\x1d\x1e\x1f\x11\x01"

_UNSAFE = (
    [chr(c) for c in range(0x00, 0x20) if chr(c) not in FORMATTING_CODES + "\t"]
    + [chr(0x7F)]
    + [chr(c) for c in range(0x80, 0xA0)]
    # Bidi embeddings, overrides and isolates ("Trojan Source").
    + [chr(c) for c in range(0x202A, 0x202F)]
    + [chr(c) for c in range(0x2066, 0x206A)]
)
_CLEAN = {ord(c): None for c in _UNSAFE}
_CLEAN[ord("\t")] = " "

_FORMATTING = re.compile(r"\x03(?:\d{1,2}(?:,\d{1,2})?)?|[\x01\x02\x0f\x16\x1d\x1e\x1f\x11]")


def clean(text: str) -> str:
    """
    Remove every character that could act on a terminal or break a line,
    keeping IRC formatting codes; a tab becomes a space.
    """
    return text.translate(_CLEAN)


def strip_formatting(text: str) -> str:
    """
    Remove IRC formatting codes (including a colour code's numbers), for
    people reading in a plain terminal.
    """
    if text.isprintable():
        return text
    return _FORMATTING.sub("", text)


def decode(line: bytes) -> str:
    """
    Decode one line from the wire as UTF-8, replacing invalid bytes, and clean
    it.
    """
    return clean(line.decode("utf-8", "replace"))
