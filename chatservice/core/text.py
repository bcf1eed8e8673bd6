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
# Whether a text holds anything L{clean} changes: one scan in C, where the
# translation would look each character up in a dictionary (most text holds
# nothing to clean, and every message passes here).
_NEEDS_CLEANING = re.compile("[" + re.escape("".join(_UNSAFE) + "\t") + "]")

# Terminal escape sequences (ECMA-48), removed whole so that their
# parameters ("[31m") do not show up once the ESC is gone: a CSI with its
# parameter, intermediate and final bytes; an OSC, DCS, SOS, PM or APC string
# up to its BEL or ST terminator (or the end of the text); any other ESC with
# its intermediates and final byte.  C1 controls (U+0080 to U+009F, which a
# UTF-8 terminal does not take as 8-bit CSI and the like) go one by one with
# the other control characters.
_ESCAPE = re.compile(
    r"\x1b\[[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?"
    r"|\x1b[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[\x20-\x2f]*[\x30-\x7e]?"
)

# What a terminal should not get even though IRC clients and browsers take it
# well: invisible direction marks (LRM, RLM, ALM) and zero-width spaces, which
# hide or disguise text in a terminal, and the Unicode line and paragraph
# separators, on which some terminals and clients break the line (a forged
# second line).  U+200D (zero-width joiner) stays: emoji sequences need it.
_TERMINAL = {ord(c): None for c in "\u200e\u200f\u061c\u200b\ufeff"}
_TERMINAL.update({0x2028: " ", 0x2029: " "})
_TERMINAL_ANY = re.compile("[\u200e\u200f\u061c\u200b\ufeff\u2028\u2029]")

_FORMATTING = re.compile(r"\x03(?:\d{1,2}(?:,\d{1,2})?)?|[\x01\x02\x0f\x16\x1d\x1e\x1f\x11]")


def clean(text: str) -> str:
    """
    Remove every character that could act on a terminal or break a line,
    keeping IRC formatting codes; a tab becomes a space.  A terminal escape
    sequence goes whole, parameters and all.
    """
    if _NEEDS_CLEANING.search(text) is None:
        return text
    if "\x1b" in text:
        text = _ESCAPE.sub("", text)
    return text.translate(_CLEAN)


def for_terminal(line: str) -> str:
    """
    A line of clean text as it may be shown in a terminal: without direction
    marks and zero-width spaces, line and paragraph separators as spaces.
    """
    # Every line sent to a line client passes here: most are ASCII, or hold
    # none of these, and are returned as they are.
    if line.isascii() or not _TERMINAL_ANY.search(line):
        return line
    return line.translate(_TERMINAL)


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
