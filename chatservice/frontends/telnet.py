"""
Dropping telnet negotiation from a byte stream.

A telnet client may send IAC sequences (option negotiation, or "interrupt
process" when someone presses Ctrl-C).  The line front end does not negotiate
anything; it only removes these sequences so they never reach a chat line.
Twisted's C{twisted.conch.telnet} would negotiate, but it parses every byte in
Python and wraps the transport; here the common case (no 0xFF byte, which valid
UTF-8 never contains) costs one C{in} test.
"""

import re

IAC = b"\xff"

# IAC IAC is a literal 0xFF; WILL/WONT/DO/DONT take one option byte; SB runs to
# IAC SE; the commands SE to GA are two bytes.  An IAC before anything else is
# not telnet: only the IAC goes, so a line ending after it is kept.
_SEQUENCE = re.compile(
    rb"\xff(?:\xff|[\xfb-\xfe].|\xfa.*?\xff\xf0|[\xf0-\xf9]|(?=[^\xf0-\xff]))",
    re.DOTALL,
)
# A sequence cut off by the end of a chunk.
_UNFINISHED = re.compile(rb"\xff(?:[\xfb-\xfe]|\xfa(?:(?!\xff\xf0).)*)?\Z", re.DOTALL)

# Subnegotiation longer than this is not telnet but garbage; it is dropped.
_MAX_UNFINISHED = 1024


class TelnetFilter:
    """
    Removes telnet commands from successive chunks of a stream, keeping a
    command cut in two by a chunk boundary until its end arrives.
    """

    def __init__(self) -> None:
        self._carry = b""
        # Whether the client ever sent a telnet command: a telnet client,
        # which honours WILL ECHO.
        self.seen = False

    def feed(self, data: bytes) -> bytes:
        if self._carry:
            data, self._carry = self._carry + data, b""
        elif IAC not in data:
            return data
        self.seen = True
        data = _SEQUENCE.sub(b"", data)
        unfinished = _UNFINISHED.search(data)
        if unfinished:
            start = unfinished.start()
            if len(data) - start <= _MAX_UNFINISHED:
                self._carry = data[start:]
            data = data[:start]
        return data
