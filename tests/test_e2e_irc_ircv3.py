"""
End to end: the IRCv3 extensions of issue 10, batch B (labeled-response,
message redaction, channel rename, read markers, multiline, metadata),
against a real ``twistd -n chat`` over sockets, with line users and the web
page in the same rooms.
"""

from __future__ import annotations

import re

import pytest


CAPS = ("batch message-tags echo-message labeled-response server-time draft/chathistory "
        "draft/message-redaction draft/channel-rename draft/read-marker")


def irc(server, nick: str, caps: str = CAPS, room: str | None = "#lobby"):
    """An IRC client on the server's IRC port, with C{caps}, in C{room}."""
    client = server.connect(f"irc-{nick}", port=server.irc_ports[0])
    client.send(f"CAP LS 302\r\nCAP REQ :{caps}\r\nNICK {nick}\r\n"
                f"USER {nick} 0 * :{nick}\r\nCAP END\r\n")
    client.read_until(re.compile(rb"^:\S+ 001 " + nick.encode() + rb" ", re.M))
    if room:
        client.send(f"JOIN {room}\r\n")
        client.read_until(re.compile(rb" 366 " + nick.encode() + rb" ", re.M))
    return client


def msgid_of(data: bytes) -> str:
    """The msgid of the last line in C{data}."""
    return re.findall(rb"msgid=([0-9]+)", data)[-1].decode()


@pytest.fixture
def mixed(start_server):
    """A server with a line port and an IRC port; opal (IRC) made #lobby, carol (line) is in it."""
    server = start_server(irc=1)
    opal = irc(server, "opal")
    carol = server.user("carol")
    opal.read_until(re.compile(rb"JOIN #lobby\r\n"))
    return server, opal, carol


def test_labeled_join_is_one_batch(mixed):
    """A labeled JOIN over a real socket is answered by one labeled-response batch."""
    server, opal, carol = mixed
    opal.send(b"@label=j1 JOIN #b\r\n")
    data = opal.read_until(re.compile(rb"BATCH -\S+\r\n"))
    ref = re.search(rb"@label=j1 :\S+ BATCH \+(\S+) labeled-response\r\n", data).group(1)
    assert re.search(rb"@batch=" + ref + rb";[^ ]* :opal!\S+ JOIN #b\r\n", data)
    assert b"@batch=" + ref + b" :" in data and b" 366 opal #b " in data


def test_labeled_pong_gets_ack(mixed):
    """A labeled PONG, which has no answer, gets a labeled ACK."""
    server, opal, carol = mixed
    opal.send(b"@label=p PONG x\r\n")
    opal.read_until(re.compile(rb"^@label=p :\S+ ACK\r\n", re.M))


def test_redacting_a_line_users_message(mixed):
    """An IRC operator redacts a line user's message: IRC gets REDACT, the line user a notice, history loses it."""
    server, opal, carol = mixed
    carol.send_line("my password is hunter2")
    msgid = msgid_of(opal.read_until(b"hunter2\r\n"))
    opal.send(f"@label=r REDACT #lobby {msgid} :leaked\r\n".encode())
    opal.read_until(re.compile(rb"^@label=r;[^ ]* :opal!\S+ REDACT #lobby "
                               + msgid.encode() + rb" leaked\r\n", re.M))
    carol.read_until("*** opal removed a message from #lobby (leaked)")
    opal.send(b"CHATHISTORY LATEST #lobby * 10\r\n")
    history = opal.read_until(re.compile(rb"BATCH -\S+\r\n"))
    assert b"hunter2" not in history


def test_line_user_cannot_be_redacted_by_stranger(mixed):
    """A member who is neither sender nor operator is refused, and the message stays."""
    server, opal, carol = mixed
    opal.send(b"PRIVMSG #lobby :opal says\r\n")
    msgid = msgid_of(opal.read_until(b"opal says\r\n"))
    zed = irc(server, "zed")
    zed.send(f"REDACT #lobby {msgid}\r\n".encode())
    zed.read_until(f"FAIL REDACT REDACT_FORBIDDEN #lobby {msgid} :".encode())


def test_rename_moves_everyone(mixed):
    """RENAME moves the room: IRC sees RENAME, the line user a notice and speaks in the new room."""
    server, opal, carol = mixed
    opal.send(b"RENAME #lobby #hall :new home\r\n")
    opal.read_until(re.compile(rb":opal!\S+ RENAME #lobby #hall :new home\r\n"))
    carol.read_until("*** opal renamed #lobby to #hall (new home)")
    carol.send_line("hello hall")
    opal.read_until(re.compile(rb":carol!\S+ PRIVMSG #hall :hello hall\r\n"))


def test_markread_round_trip(mixed):
    """MARKREAD sets and reads back a marker; an older one does not move it back."""
    server, opal, carol = mixed
    opal.send(b"MARKREAD #lobby timestamp=2030-01-02T03:04:05.678Z\r\n")
    opal.read_until(b"MARKREAD #lobby timestamp=2030-01-02T03:04:05.678Z\r\n")
    opal.send(b"MARKREAD #lobby timestamp=2020-01-01T00:00:00.000Z\r\n")
    opal.read_until(b"MARKREAD #lobby timestamp=2030-01-02T03:04:05.678Z\r\n")
    opal.send(b"MARKREAD #lobby timestamp=\xff\xfe\r\nMARKREAD #lobby timestamp=soon\r\n"
              b"MARKREAD\r\n")
    opal.read_until(b"FAIL MARKREAD INVALID_UTF8 :")
    opal.read_until(b"FAIL MARKREAD INVALID_PARAMS #lobby :")
    opal.read_until(b"FAIL MARKREAD NEED_MORE_PARAMS :")


def test_answers_stay_in_order_under_a_flood(mixed):
    """Many history requests at once are answered in the order asked, then the PING."""
    server, opal, carol = mixed
    opal.send(b"".join(b"@label=%d CHATHISTORY LATEST #lobby * 5\r\n" % n for n in range(15))
              + b"PING end\r\n")
    data = opal.read_until(re.compile(rb"PONG \S+ end\r\n"))
    labels = [int(label) for label in re.findall(rb"@label=(\d+) ", data)]
    assert labels == list(range(15))


def test_abrupt_disconnect_while_redacting(mixed):
    """A client that hangs up right after REDACT leaves the server working."""
    server, opal, carol = mixed
    carol.send_line("short lived")
    msgid = msgid_of(opal.read_until(b"short lived\r\n"))
    opal.send(f"REDACT #lobby {msgid}\r\n".encode())
    opal.close()
    carol.read_until("*** opal removed a message from #lobby")
    other = irc(server, "other")
    other.send(b"PING alive\r\n")
    other.read_until(b"alive\r\n")


def test_multiline_reaches_everyone(mixed):
    """A multiline batch reaches a capable IRC client as a batch, another as lines, a line user line by line."""
    server, opal, carol = mixed
    ml = irc(server, "mel", CAPS + " draft/multiline")
    plain = irc(server, "pat", "message-tags")
    ml.send(b"@label=m BATCH +x draft/multiline #lobby\r\n"
            b"@batch=x PRIVMSG #lobby :first line\r\n"
            b"@batch=x PRIVMSG #lobby :\r\n"
            b"@batch=x;draft/multiline-concat PRIVMSG #lobby :second \xf0\x9f\x92\x9c\r\n"
            b"BATCH -x\r\n")
    echo = ml.read_until(re.compile(rb"BATCH -m\w+\r\n"))
    assert re.search(rb"@label=m;[^ ]* :mel!\S+ BATCH \+m\w+ draft/multiline #lobby", echo)
    plain.read_until(re.compile(rb"PRIVMSG #lobby :first line\r\n"))
    plain.read_until(re.compile(rb"PRIVMSG #lobby :second \xf0\x9f\x92\x9c\r\n"))
    carol.read_until("[#lobby] <mel> first line")
    carol.read_until("[#lobby] <mel> second \U0001f49c")


def test_multiline_flood_is_bounded(mixed):
    """A batch of too many lines is refused with MULTILINE_MAX_LINES and delivers nothing."""
    server, opal, carol = mixed
    ml = irc(server, "mel", CAPS + " draft/multiline")
    ml.send(b"BATCH +f draft/multiline #lobby\r\n"
            + b"@batch=f PRIVMSG #lobby :spam\r\n" * 33 + b"BATCH -f\r\nPING done\r\n")
    # Flood control paces the lines beyond its burst: this takes seconds.
    ml.read_until(b"FAIL BATCH MULTILINE_MAX_LINES 32 :", timeout=30)
    ml.read_until(re.compile(rb"PONG \S+ done\r\n"), timeout=30)
    carol.send_line("after the flood")
    data = opal.read_until(b"after the flood\r\n")
    assert b"spam" not in data


def test_metadata_between_two_clients(mixed):
    """A subscriber hears another client's display-name, and sees it in WHOIS."""
    server, opal, carol = mixed
    md = CAPS + " draft/metadata-3"
    meg = irc(server, "meg", md)
    ned = irc(server, "ned", md)
    ned.send(b"METADATA * SUB display-name\r\n")
    ned.read_until(b" 770 ned display-name\r\n")
    meg.send("METADATA * SET display-name :Meg \u00e9\r\n".encode())
    meg.read_until(" 761 meg meg display-name * :Meg \u00e9\r\n".encode())
    ned.read_until(" 761 ned meg display-name * :Meg \u00e9\r\n".encode())
    ned.send(b"WHOIS meg\r\n")
    ned.read_until(" 760 ned meg display-name * :Meg \u00e9\r\n".encode())
    meg.send(b"METADATA * SET display-name :" + b"x" * 400 + b"\r\n")
    meg.read_until(b"FAIL METADATA INVALID_VALUE display-name :")
