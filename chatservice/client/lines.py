"""
Lines from a line-chat server: split, cleaned, capped and classified.

Nothing a server sends reaches the terminal unchanged: invalid UTF-8 is
replaced, control characters, terminal escape sequences, bidi overrides,
invisible direction marks and IRC formatting codes are removed and line
separators become spaces (with L{chatservice.core.text}), and a line longer than
L{MAX_LINE_CHARS} is cut with a marker.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from ..core import text

# A server line longer than this many bytes is cut there; the rest of it, up
# to the next line break, is dropped.
MAX_LINE_BYTES = 16 * 1024
# A cleaned line longer than this many characters is cut and marked.
MAX_LINE_CHARS = 4000
CUT = " [...]"


class LineSplitter:
    """
    Bytes in, lines (bytes, without their line ending) out.  A line that grows
    beyond C{limit} bytes without a line break is given out cut, and the rest of
    it is skipped up to the next line break.
    """

    def __init__(self, limit: int = MAX_LINE_BYTES) -> None:
        self.limit = limit
        self._buffer = b""
        self._skipping = False

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        found = []
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                break
            line, self._buffer = self._buffer[:end], self._buffer[end + 1:]
            if self._skipping:
                self._skipping = False
                continue
            found.append(line[:self.limit] + (CUT.encode() if len(line) > self.limit else b""))
        if len(self._buffer) > self.limit:
            if not self._skipping:
                found.append(self._buffer[:self.limit] + CUT.encode())
            self._skipping = True
            self._buffer = b""
        return [line.rstrip(b"\r") for line in found]

    def flush(self) -> list[bytes]:
        """The end of the stream: the unfinished line, if any (a server may close mid-line)."""
        rest, self._buffer = self._buffer, b""
        skipping, self._skipping = self._skipping, False
        return [rest.rstrip(b"\r")] if rest and not skipping else []


def sanitise(line: bytes | str) -> str:
    """
    Text safe to print on a terminal: valid Unicode, no control characters,
    no bidi overrides, no IRC formatting, at most L{MAX_LINE_CHARS} long.
    """
    if isinstance(line, bytes):
        line = line.decode("utf-8", "replace")
    cleaned = text.for_terminal(text.strip_formatting(text.clean(line)))
    if len(cleaned) > MAX_LINE_CHARS:
        cleaned = cleaned[:MAX_LINE_CHARS] + CUT
    return cleaned


class Kind(enum.Enum):
    SERVER = "server"              # *** the server speaking
    NICK_PROMPT = "nick-prompt"    # *** Choose a nickname ...
    PASSWORD_PROMPT = "password"   # *** ... Password:
    MESSAGE = "message"            # [#room] <nick> text
    ACTION = "action"              # [#room] * nick text
    NOTICE = "notice"              # [#room] -nick- text
    PRIVATE = "private"            # [private] <nick> text
    OWN_PRIVATE = "own-private"    # [to nick] <me> text
    OTHER = "other"                # anything else
    CLIENT = "client"              # --- the client itself speaking


@dataclass(frozen=True)
class Line:
    kind: Kind
    text: str
    room: str | None = None
    nick: str | None = None
    # A line of replayed history, /history or /search: "[14:02] [#room] ...".
    history: bool = False


SERVER_PREFIX = "*** "
CLIENT_PREFIX = "--- "

_STAMP = re.compile(r"\[(?:[A-Z][a-z]{2} \d{2} (?:\d{4} )?)?\d{2}:\d{2}\] ")
_SAID = [
    (Kind.MESSAGE, re.compile(r"\[(#\S+)\] <(\S+?)> ")),
    (Kind.ACTION, re.compile(r"\[(#\S+)\] \* (\S+) ")),
    (Kind.NOTICE, re.compile(r"\[(#\S+)\] -(\S+?)- ")),
    (Kind.PRIVATE, re.compile(r"\[private\] <(\S+?)> ")),
    (Kind.OWN_PRIVATE, re.compile(r"\[to (\S+)\] <\S+?> ")),
]


def is_password_prompt(line: str) -> bool:
    """A server line that asks for a password: it mentions one and ends with a colon."""
    return "password" in line.lower() and line.rstrip().endswith(":")


def classify(line: str) -> Line:
    """Classify one cleaned server line."""
    if line.startswith(SERVER_PREFIX):
        if line.startswith("*** Choose a nickname"):
            return Line(Kind.NICK_PROMPT, line)
        if is_password_prompt(line):
            return Line(Kind.PASSWORD_PROMPT, line)
        return Line(Kind.SERVER, line)
    stamp = _STAMP.match(line)
    start = stamp.end() if stamp else 0
    for kind, pattern in _SAID:
        said = pattern.match(line, start)
        if said:
            if kind in (Kind.PRIVATE, Kind.OWN_PRIVATE):
                return Line(kind, line, nick=said.group(1), history=bool(stamp))
            return Line(kind, line, room=said.group(1), nick=said.group(2),
                        history=bool(stamp))
    return Line(Kind.OTHER, line)


def client_line(message: str) -> Line:
    """A line the client itself shows (connection news, errors)."""
    return Line(Kind.CLIENT, CLIENT_PREFIX + message)
