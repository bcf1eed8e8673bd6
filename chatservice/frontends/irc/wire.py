"""
IRC's message syntax: parsing client lines and formatting server lines.

A line is ``[@tags ][:source ]COMMAND [params...] [:trailing]``, as the
modern IRC client protocol document describes it.  Tags may use up to 4096
bytes (with their ``@`` and trailing space); the rest of the line at most 512
bytes including its CR LF.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...core.text import clean

TAGS_MAX_BYTES = 4096
BODY_MAX_BYTES = 512  # including the CR LF
MAX_PARAMS = 15

_LINE_BREAKERS = str.maketrans({"\r": None, "\n": None, "\0": None})
_TAG_UNESCAPES = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}
_TAG_ESCAPES = str.maketrans({";": "\\:", " ": "\\s", "\\": "\\\\", "\r": "\\r", "\n": "\\n"})


class InputTooLong(ValueError):
    """The line's tags or body are longer than IRC allows."""


@dataclass
class Message:
    """One line from a client, parsed."""

    command: str
    params: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    source: str | None = None
    # The line was not valid UTF-8 (its bad bytes were replaced).
    invalid_utf8: bool = False


def unescape_tag(value: str) -> str:
    """A tag value as the client meant it (IRCv3 message-tags escaping undone)."""
    if "\\" not in value:
        return value
    out = []
    chars = iter(value)
    for char in chars:
        if char == "\\":
            following = next(chars, "")
            out.append(_TAG_UNESCAPES.get(following, following))
        else:
            out.append(char)
    return "".join(out)


def escape_tag(value: str) -> str:
    return value.translate(_TAG_ESCAPES)


def _is_utf8(data: bytes) -> bool:
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def parse(line: bytes) -> Message | None:
    """
    Parse one line (without its line ending).  Return C{None} for a line
    with no command (empty or only tags).

    @raise InputTooLong: the tags or the body are too long.
    """
    tags: dict[str, str] = {}
    invalid_utf8 = not _is_utf8(line)
    if line.startswith(b"@"):
        raw_tags, _, line = line.partition(b" ")
        if len(raw_tags) + 1 > TAGS_MAX_BYTES:
            raise InputTooLong("tags")
        for item in raw_tags[1:].decode("utf-8", "replace").split(";"):
            if item:
                key, _, value = item.partition("=")
                tags[clean(key)] = clean(unescape_tag(value))
        line = line.lstrip(b" ")
    if len(line) + 2 > BODY_MAX_BYTES:
        raise InputTooLong("body")
    text = clean(line.decode("utf-8", "replace"))
    source = None
    if text.startswith(":"):
        source, _, text = text[1:].partition(" ")
        text = text.lstrip(" ")
    if " :" in text:
        head, _, trailing = text.partition(" :")
        params = head.split()
        params.append(trailing)
    elif text.startswith(":"):
        params = [text[1:]]
    else:
        params = text.split()
    if not params:
        return None
    command = params.pop(0)
    if command.startswith(":"):
        return None
    if len(params) > MAX_PARAMS:
        params[MAX_PARAMS - 1:] = [" ".join(params[MAX_PARAMS - 1:])]
    return Message(command.upper(), params, tags, source, invalid_utf8)


def format_line(source: str | None, command: str, *params: str,
                tags: str = "") -> bytes:
    """
    Format one server line, ending in CR LF.  The last parameter is written
    as a trailing parameter when it has to be.  C{tags} is an already
    formatted tag string without the C{@}.
    """
    parts = []
    if tags:
        parts.append("@" + tags)
    if source:
        parts.append(":" + source)
    parts.append(command)
    if params:
        # A middle parameter cannot be empty, hold a space or start with ':'
        # without the client misreading the line; such text (from a client's
        # own trailing parameter, echoed back) is shown as '*'.
        parts.extend(p if p and " " not in p and p[0] != ":" else "*" for p in params[:-1])
        last = params[-1]
        if not last or " " in last or last.startswith(":"):
            last = ":" + last
        parts.append(last)
    line = " ".join(parts)
    # Defence in depth: nothing may end a line early or inject another one.
    if "\r" in line or "\n" in line or "\0" in line:
        line = line.translate(_LINE_BREAKERS)
    data = line.encode("utf-8")
    # Nor may it pass IRC's 512 bytes (tags aside): long text from elsewhere
    # (a line user's topic or reason) is cut, never inside a character.
    end = (len(tags.encode("utf-8")) + 2 if tags else 0) + BODY_MAX_BYTES - 2
    if len(data) > end:
        while data[end] & 0xC0 == 0x80:
            end -= 1
        data = data[:end]
    return data + b"\r\n"
