"""
Tests for L{chatservice.frontends.telnet.TelnetFilter}.
"""

import pytest

from chatservice.frontends.telnet import TelnetFilter

IAC, DONT, DO, WONT, WILL, SB, SE = b"\xff", b"\xfe", b"\xfd", b"\xfc", b"\xfb", b"\xfa", b"\xf0"
IP, NOP, AYT, GA = b"\xf4", b"\xf1", b"\xf6", b"\xf9"
ECHO, NAWS, TTYPE, LINEMODE = b"\x01", b"\x1f", b"\x18", b"\x22"


def feed_all(*chunks):
    telnet = TelnetFilter()
    return b"".join(telnet.feed(chunk) for chunk in chunks)


def test_plain_unchanged():
    """Data without IAC comes out as it went in, as the same object."""
    data = "h\u00e9llo \U0001f642\r\n".encode("utf-8") * 3
    assert TelnetFilter().feed(data) is data


def test_empty():
    """An empty chunk gives nothing."""
    assert TelnetFilter().feed(b"") == b""


@pytest.mark.parametrize("verb", [WILL, WONT, DO, DONT])
def test_negotiation_dropped(verb):
    """IAC WILL/WONT/DO/DONT and their option byte are dropped."""
    assert feed_all(b"ab" + IAC + verb + ECHO + b"cd\n") == b"abcd\n"


@pytest.mark.parametrize("command", [IP, NOP, AYT, GA, b"\xf0", b"\xf1", b"\xf8"])
def test_two_byte_command_dropped(command):
    """Any other two-byte command (interrupt process, no-op, are-you-there...) is dropped."""
    assert feed_all(b"ab" + IAC + command + b"cd") == b"abcd"


def test_iac_iac_dropped():
    """IAC IAC, a literal 0xFF byte, which is never valid UTF-8, is dropped."""
    assert feed_all(b"a" + IAC + IAC + b"b") == b"ab"


def test_iac_iac_then_command_bytes():
    """After IAC IAC the next bytes are data again, not a command."""
    assert feed_all(IAC + IAC + WILL + ECHO) == WILL + ECHO


def test_subnegotiation_dropped():
    """A subnegotiation, IAC SB ... IAC SE, is dropped whole."""
    naws = IAC + SB + NAWS + b"\x00\x50\x00\x18" + IAC + SE
    ttype = IAC + SB + TTYPE + b"\x00xterm-256color" + IAC + SE
    assert feed_all(b"x" + naws + b"y" + ttype + b"z") == b"xyz"


def test_subnegotiation_with_escaped_iac():
    """An escaped IAC inside a subnegotiation does not end it."""
    assert feed_all(b"a" + IAC + SB + NAWS + b"\x00" + IAC + IAC + b"\x00\x18" + IAC + SE
                    + b"b") == b"ab"


def test_typical_client_opening():
    """The negotiation a telnet client sends on connecting, followed by a nickname, leaves the nickname."""
    opening = (IAC + DO + ECHO + IAC + WILL + NAWS + IAC + WILL + TTYPE
               + IAC + SB + NAWS + b"\x00\x50\x00\x18" + IAC + SE)
    assert feed_all(opening + b"alice\r\n") == b"alice\r\n"


STREAMS = [
    b"ab" + IAC + WILL + ECHO + b"cd\n",
    b"a" + IAC + IAC + b"b" + IAC + IAC + IAC + DO + NAWS + b"c",
    IAC + IP + b"x" + IAC + NOP + IAC,
    b"x" + IAC + SB + NAWS + b"\x00\x50" + IAC + IAC + b"\x18" + IAC + SE + b"y\n",
    IAC + SB + TTYPE + b"\x00xterm" + IAC + SE + IAC + DONT + LINEMODE + b"tail",
    b"hello\r\n" + IAC + WONT + ECHO + IAC + SB + SE + IAC + SE + b"bye\r\n",
]


@pytest.mark.parametrize("stream", STREAMS)
def test_split_everywhere(stream):
    """A stream cut in two at any position gives what the whole stream gives."""
    whole = feed_all(stream)
    for cut in range(len(stream) + 1):
        assert feed_all(stream[:cut], stream[cut:]) == whole, cut


@pytest.mark.parametrize("stream", STREAMS)
def test_split_twice_everywhere(stream):
    """A stream cut in three at any two positions gives what the whole stream gives."""
    whole = feed_all(stream)
    for first in range(len(stream) + 1):
        for second in range(first, len(stream) + 1):
            chunks = stream[:first], stream[first:second], stream[second:]
            assert feed_all(*chunks) == whole, (first, second)


@pytest.mark.parametrize("stream", STREAMS)
def test_byte_by_byte(stream):
    """A stream fed one byte at a time gives what the whole stream gives."""
    whole = feed_all(stream)
    assert feed_all(*(stream[i:i + 1] for i in range(len(stream)))) == whole


def test_expected_stream_outputs():
    """The split-test streams give exactly their data bytes."""
    assert [feed_all(stream) for stream in STREAMS] == [
        b"abcd\n", b"abc", b"x", b"xy\n", b"tail", b"hello\r\nbye\r\n"]


def test_unfinished_held_back():
    """A command cut off at the end of a chunk gives nothing until its end arrives."""
    telnet = TelnetFilter()
    assert telnet.feed(b"ab" + IAC) == b"ab"
    assert telnet.feed(WILL) == b""
    assert telnet.feed(ECHO + b"cd") == b"cd"
    assert telnet.feed(IAC + SB + NAWS + b"\x00") == b""
    assert telnet.feed(b"\x50" + IAC) == b""
    assert telnet.feed(SE + b"ef") == b"ef"


def test_runaway_subnegotiation_bounded():
    """A subnegotiation that never ends is not held without limit: past 1 KiB it is dropped and later data flows again."""
    telnet = TelnetFilter()
    assert telnet.feed(b"hi" + IAC + SB + TTYPE) == b"hi"
    for _ in range(10):
        assert telnet.feed(b"x" * 100) == b""
        assert 0 < len(telnet._carry) <= 1024
    assert telnet.feed(b"x" * 100) == b""
    assert telnet._carry == b""
    assert telnet.feed(b"hello\n") == b"hello\n"


def test_huge_unfinished_subnegotiation_in_one_chunk():
    """A single chunk with an unterminated subnegotiation longer than 1 KiB keeps nothing back."""
    telnet = TelnetFilter()
    assert telnet.feed(b"ok" + IAC + SB + b"y" * 5000) == b"ok"
    assert telnet._carry == b""
    assert telnet.feed(b"next\n") == b"next\n"


def test_invalid_utf8_without_iac_untouched():
    """Bytes other than 0xFF pass through, even when they are not valid UTF-8."""
    assert feed_all(b"\xfe\xfb\xc3(\x80") == b"\xfe\xfb\xc3(\x80"


def test_stray_iac_keeps_line_ending():
    """An IAC followed by a byte that is no telnet command is dropped alone, so the line ending after it stays."""
    assert feed_all(b"ab" + IAC + b"\ncd\n") == b"ab\ncd\n"
