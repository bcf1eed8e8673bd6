"""
Tests for IRC's message syntax (L{chatservice.frontends.irc.wire}) and the
pure helpers of L{chatservice.frontends.irc.render}.
"""

from __future__ import annotations

import pytest

from chatservice.core.events import Joined, Kind, Message, PrivateMessage, Source
from chatservice.core.rooms import ModeChange, RoomMode
from chatservice.frontends.irc.render import (
    IRCRenderer,
    display_host,
    message_lines,
    mode_string,
    server_time,
    split_utf8,
)
from chatservice.frontends.irc.wire import InputTooLong, escape_tag, format_line, parse
from chatservice.frontends.irc.wire import Message as Line


# parse: structure

def test_parse_command_and_params():
    """A plain line parses into its upper-cased command and space-separated parameters."""
    assert parse(b"join #a,#b key") == Line("JOIN", ["#a,#b", "key"])


def test_parse_trailing():
    """A parameter after ' :' is one trailing parameter that keeps its spaces and colons."""
    assert parse(b"PRIVMSG #a :hello  there :)") == Line("PRIVMSG", ["#a", "hello  there :)"])


def test_parse_empty_trailing():
    """An empty trailing parameter is an empty string, not a missing parameter."""
    assert parse(b"TOPIC #a :") == Line("TOPIC", ["#a", ""])


def test_parse_trailing_only():
    """A command whose only parameter is trailing parses."""
    assert parse(b"QUIT :gone home") == Line("QUIT", ["gone home"])


def test_parse_colon_inside_middle_param():
    """A colon inside a middle parameter does not start the trailing parameter."""
    assert parse(b"PRIVMSG a:b :hi") == Line("PRIVMSG", ["a:b", "hi"])


def test_parse_extra_spaces():
    """Runs of spaces between parameters and at the start of the line are ignored."""
    assert parse(b"   NICK    alice  ") == Line("NICK", ["alice"])


def test_parse_source_ignored():
    """A source prefix is recorded but does not become the command or a parameter."""
    message = parse(b":mallory!m@evil PRIVMSG #a :hi")
    assert message.command == "PRIVMSG"
    assert message.params == ["#a", "hi"]
    assert message.source == "mallory!m@evil"


def test_parse_source_only():
    """A line with only a source has no command."""
    assert parse(b":mallory!m@evil") is None
    assert parse(b":mallory!m@evil   ") is None


@pytest.mark.parametrize("line", [b"", b" ", b"    ", b"\t", b"@a=b", b"@a=b "])
def test_parse_empty_lines(line):
    """An empty, blank or tags-only line has no command."""
    assert parse(line) is None


def test_parse_max_params():
    """More than 15 parameters: the 15th and everything after it become the last one."""
    words = [f"p{n}" for n in range(20)]
    message = parse(b"CMD " + " ".join(words).encode())
    assert len(message.params) == 15
    assert message.params[:14] == words[:14]
    assert message.params[14] == " ".join(words[14:])


def test_parse_exactly_15_params():
    """Exactly 15 parameters are kept as they are."""
    words = [f"p{n}" for n in range(14)] + ["last one"]
    message = parse(b"CMD " + " ".join(words[:14]).encode() + b" :last one")
    assert message.params == words


def test_parse_invalid_utf8_replaced():
    """Invalid UTF-8 is replaced, and the line marked as invalid so that it can be refused."""
    assert parse(b"PRIVMSG #a :caf\xe9") == Line("PRIVMSG", ["#a", "caf\ufffd"],
                                                  invalid_utf8=True)
    assert parse("PRIVMSG #a :café".encode()).invalid_utf8 is False


def test_parse_control_characters_removed():
    """NUL, CR, ESC and other control characters are removed; IRC formatting codes stay."""
    message = parse(b"PRIVMSG #a :a\x00b\rc\x1b[31md\x02bold\x02\x07")
    assert message.params == ["#a", "abcd\x02bold\x02"]


# parse: tags

def test_parse_tags():
    """Tags are parsed into a dictionary, a tag without a value mapping to the empty string."""
    message = parse(b"@label=abc;+draft/typing=active;flag PRIVMSG #a :hi")
    assert message.tags == {"label": "abc", "+draft/typing": "active", "flag": ""}
    assert message.command == "PRIVMSG"
    assert message.params == ["#a", "hi"]


def test_parse_tags_and_source():
    """Tags and a source may both precede the command."""
    message = parse(b"@a=1 :src PING x")
    assert (message.tags, message.source, message.command, message.params) == (
        {"a": "1"}, "src", "PING", ["x"])


def test_parse_tag_unescaping():
    """Tag values are unescaped: \\: \\s \\\\ \\r \\n, an unknown escape drops its backslash, a trailing backslash is dropped."""
    message = parse(rb"@a=x\:y\sz\\w;b=\b\;c=end\ PING x")
    assert message.tags["a"] == "x;y z\\w"
    assert message.tags["b"] == "b"
    assert message.tags["c"] == "end"


def test_parse_tag_unescaped_control_characters_removed():
    """Escaped CR and LF in a tag value do not survive into the server."""
    message = parse(rb"@a=x\r\ny PING x")
    assert message.tags["a"] == "xy"


def test_escape_tag_round_trip():
    """escape_tag escapes ; space \\ CR LF so that parse gives the value back."""
    value = "a;b c\\d"
    assert escape_tag(value) == "a\\:b\\sc\\\\d"
    assert escape_tag("x\r\ny") == "x\\r\\ny"
    assert parse(f"@k={escape_tag(value)} PING x".encode()).tags == {"k": value}


# parse: lengths

def test_body_limit():
    """A body of 510 bytes (512 with CR LF) is accepted; 511 bytes raise InputTooLong."""
    head = b"PRIVMSG #a :"
    ok = head + b"x" * (510 - len(head))
    assert parse(ok).params[1] == "x" * (510 - len(head))
    with pytest.raises(InputTooLong):
        parse(ok + b"x")


def test_body_limit_does_not_count_tags():
    """The 512-byte limit applies to the body; tags have their own budget."""
    body = b"PRIVMSG #a :" + b"x" * 498
    assert parse(b"@" + b"t" * 1000 + b" " + body).params[1] == "x" * 498


def test_tags_limit():
    """Tags of 4096 bytes with their @ and space are accepted; one more byte raises InputTooLong."""
    tags = b"@k=" + b"v" * (4096 - 4)
    assert len(tags + b" ") == 4096
    assert parse(tags + b" PING x").tags == {"k": "v" * 4092}
    with pytest.raises(InputTooLong):
        parse(tags + b"v PING x")


def test_body_limit_counts_bytes():
    """The body limit counts UTF-8 bytes, not characters."""
    with pytest.raises(InputTooLong):
        parse("PRIVMSG #a :".encode() + "é".encode() * 250)


# format_line

def test_format_simple():
    """A server line is source, command and parameters, ended with CR LF."""
    assert format_line("srv", "PONG", "srv", "token") == b":srv PONG srv token\r\n"


def test_format_trailing_only_when_needed():
    """The last parameter gets a colon only when it is empty, has a space or starts with a colon."""
    assert format_line("s", "X", "a", "b") == b":s X a b\r\n"
    assert format_line("s", "X", "a", "b c") == b":s X a :b c\r\n"
    assert format_line("s", "X", "a", "") == b":s X a :\r\n"
    assert format_line("s", "X", "a", ":b") == b":s X a ::b\r\n"


def test_format_no_source():
    """An empty source leaves the prefix out."""
    assert format_line("", "ERROR", "Closing Link: x (bye)") == b"ERROR :Closing Link: x (bye)\r\n"
    assert format_line(None, "PING", "srv") == b"PING srv\r\n"


def test_format_no_params():
    """A command without parameters is written alone."""
    assert format_line("s", "X") == b":s X\r\n"


def test_format_tags():
    """Tags come first, with an @."""
    assert format_line("s", "X", "a", tags="time=1") == b"@time=1 :s X a\r\n"


@pytest.mark.parametrize("bad", ["\r", "\n", "\0", "\r\n"])
def test_format_strips_line_breakers(bad):
    """CR, LF and NUL never reach the wire from any parameter."""
    line = format_line("s", "PRIVMSG", f"#a{bad}b", f"x{bad}QUIT :y")
    assert line == b":s PRIVMSG #ab :xQUIT :y\r\n"


def test_format_cuts_to_512_bytes():
    """A line longer than 512 bytes is cut at the end of its last parameter, never inside a character."""
    line = format_line("srv", "TOPIC", "#a", "\u20ac" * 300)
    assert len(line) <= 512
    assert line.startswith(b":srv TOPIC #a \xe2\x82\xac")
    text = line[len(b":srv TOPIC #a "):-2].decode("utf-8")
    assert text == "\u20ac" * len(text)
    assert len(line) > 509


def test_format_cut_does_not_count_tags():
    """The 512-byte cut leaves the tags out of the count."""
    line = format_line("srv", "QUIT", "x " * 400, tags="time=2023-11-14T22:13:20.000Z")
    assert line.startswith(b"@time=2023-11-14T22:13:20.000Z :srv QUIT :x x")
    assert len(line.split(b" ", 1)[1]) == 512


def test_format_utf8():
    """Lines are encoded in UTF-8."""
    assert format_line("s", "X", "caf\u00e9") == ":s X caf\u00e9\r\n".encode("utf-8")


# split_utf8 and message_lines

@pytest.mark.parametrize("budget", range(4, 12))
def test_split_utf8_never_cuts_a_character(budget):
    """split_utf8 cuts at character boundaries only, each piece within the budget, losing nothing."""
    text = "aé€😀b" * 7
    pieces = split_utf8(text.encode("utf-8"), budget)
    assert b"".join(pieces) == text.encode("utf-8")
    for piece in pieces:
        assert 0 < len(piece) <= budget
        piece.decode("utf-8")  # would raise on a cut character


def test_split_utf8_short_is_one_piece():
    """Data within the budget is one piece."""
    assert split_utf8(b"abc", 3) == [b"abc"]
    assert split_utf8(b"", 3) == [b""]


def test_message_lines_short():
    """A message that fits is one line."""
    assert message_lines("a!u@h", "PRIVMSG", "#r", "hi") == b":a!u@h PRIVMSG #r :hi\r\n"


def test_message_lines_split():
    """A long message becomes several lines of at most 512 bytes that rejoin to the original text."""
    text = ("word€ " * 300).strip()
    data = message_lines("alice!~alice@1.2.3.4", "PRIVMSG", "#lobby", text, tags="time=x")
    lines = data.split(b"\r\n")
    assert lines.pop() == b""
    assert len(lines) > 1
    head = b"@time=x :alice!~alice@1.2.3.4 PRIVMSG #lobby :"
    pieces = []
    for line in lines:
        assert line.startswith(head)
        assert len(line[len(b"@time=x "):]) + 2 <= 512
        pieces.append(line[len(head):].decode("utf-8"))
    assert "".join(pieces) == text
    assert len(lines[0][len(b"@time=x "):]) + 2 > 500  # lines are filled


# render helpers

def test_server_time_format():
    """server_time is ISO 8601 UTC with milliseconds and a Z."""
    assert server_time(0) == "1970-01-01T00:00:00.000Z"
    assert server_time(1700000000.1234) == "2023-11-14T22:13:20.123Z"


def test_display_host_ipv6():
    """An IPv6 host starting with a colon is shown with a leading zero so it cannot be read as a trailing parameter."""
    assert display_host("::1") == "0::1"
    assert display_host("1.2.3.4") == "1.2.3.4"


def test_mode_string():
    """Mode changes become signed letters followed by their arguments in order."""
    changes = [ModeChange(True, RoomMode.OPERATOR, "bob"), ModeChange(True, RoomMode.MODERATED),
               ModeChange(False, RoomMode.VOICE, "carol"), ModeChange(False, RoomMode.LIMIT)]
    assert mode_string(changes) == ["+om-vl", "bob", "carol"]


SOURCE = Source("alice", "~alice", "1.2.3.4")


def test_renderer_plain():
    """Without capabilities, events carry no tags."""
    renderer = IRCRenderer()
    assert renderer(Joined(1, 0.0, SOURCE, "#a")) == b":alice!~alice@1.2.3.4 JOIN #a\r\n"
    assert renderer(Message(2, 0.0, SOURCE, "#a", "hi", Kind.SAY)) == (
        b":alice!~alice@1.2.3.4 PRIVMSG #a :hi\r\n")


def test_renderer_tags():
    """server-time adds time= to every event; message-tags adds msgid= to every event."""
    renderer = IRCRenderer(server_time=True, message_tags=True)
    assert renderer(Joined(1, 1.5, SOURCE, "#a")) == (
        b"@time=1970-01-01T00:00:01.500Z;msgid=1 :alice!~alice@1.2.3.4 JOIN #a\r\n")
    assert renderer(PrivateMessage(7, 1.5, SOURCE, "bob", "psst", Kind.NOTICE)) == (
        b"@time=1970-01-01T00:00:01.500Z;msgid=7 :alice!~alice@1.2.3.4 NOTICE bob :psst\r\n")
    only_tags = IRCRenderer(message_tags=True)
    assert only_tags(Joined(1, 1.5, SOURCE, "#a")) == b"@msgid=1 :alice!~alice@1.2.3.4 JOIN #a\r\n"
    assert only_tags(Message(3, 1.5, SOURCE, "#a", "hi", Kind.ACTION)) == (
        b"@msgid=3 :alice!~alice@1.2.3.4 PRIVMSG #a :\x01ACTION hi\x01\r\n")


def test_split_action_pieces_each_wrapped():
    """Each piece of a long split CTCP ACTION is a whole ACTION of its own, within 512 bytes."""
    from chatservice.frontends.irc.render import message_lines

    text = "dances " + "\u00e9" * 600
    data = message_lines("bob!bob@h", "PRIVMSG", "#a", text, action=True)
    lines = data.split(b"\r\n")[:-1]
    assert len(lines) == 3
    pieces = []
    for line in lines:
        assert len(line) + 2 <= 512
        head, _, body = line.partition(b" :")
        assert head == b":bob!bob@h PRIVMSG #a"
        assert body.startswith(b"\x01ACTION ") and body.endswith(b"\x01")
        pieces.append(body[len(b"\x01ACTION "):-1])
    assert b"".join(pieces).decode("utf-8") == text


def test_split_message_msgids_unique():
    """Each piece of a split message carries its own msgid, the first being the event's."""
    from chatservice.frontends.irc.render import message_lines

    data = message_lines("bob!bob@h", "PRIVMSG", "#a", "x" * 1200, tags="time=T", msgid="7")
    tags = [line.split(b" ", 1)[0] for line in data.split(b"\r\n")[:-1]]
    assert tags == [b"@time=T;msgid=7", b"@time=T;msgid=7.1", b"@time=T;msgid=7.2"]


def test_middle_parameter_cannot_hold_space():
    """A middle parameter that is empty, holds a space or starts with ':' is sent as '*', so the line still parses."""
    assert format_line("srv", "401", "alice", "a b", "No such nick") == \
        b":srv 401 alice * :No such nick\r\n"
    assert format_line("srv", "401", "alice", "", "x") == b":srv 401 alice * x\r\n"
    assert format_line("srv", "401", "alice", ":a", "x") == b":srv 401 alice * x\r\n"
