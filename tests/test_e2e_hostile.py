"""
End to end: hostile or broken input against a real twistd.  After each attack
the server must go on serving everybody else.
"""

from __future__ import annotations

import re
import time

import pytest

from server import assert_terminal_safe, join_announcement

def still_serving(server, *chatting) -> None:
    """The server accepts a newcomer, who chats with those still connected."""
    newcomer = server.user("newcomer")
    newcomer.send_line("still here?")
    for client in chatting:
        client.read_until("[#lobby] <newcomer> still here?\r\n")


# Line length

def test_overlong_line_is_discarded_and_later_lines_kept(start_server):
    """A line over --max-line-length gets an error, is not said, and lines sent after it in the same write still arrive."""
    server = start_server("--max-line-length", "100")
    alice, bob = server.users("alice", "bob")
    alice.send(b"x" * 300 + b"\nafter one\r\nafter two\n")
    assert alice.read_line() == ("*** Line too long (the limit is 100 bytes); "
                                 "it was discarded.")
    bob.read_until("[#lobby] <alice> after one\r\n")
    bob.read_until("[#lobby] <alice> after two\r\n")
    assert "xxx" not in bob.text()
    # The connection stays usable.
    alice.send_line("/who")
    assert alice.read_line() == "*** In #lobby (2): @alice, bob"
    still_serving(server, alice, bob)


def test_line_length_limit_is_exact(start_server):
    """A line of exactly --max-line-length bytes is accepted and one byte more is not, whether it ends with LF or CRLF."""
    server = start_server("--max-line-length", "100")
    alice, bob = server.users("alice", "bob")
    too_long = "*** Line too long (the limit is 100 bytes); it was discarded."
    for ending in (b"\n", b"\r\n"):
        alice.send(b"a" * 100 + ending)
        bob.read_until(b"[#lobby] <alice> " + b"a" * 100 + b"\r\n")
        alice.send(b"b" * 101 + ending)
        assert alice.read_line() == too_long, ending
        # multi-byte characters count in bytes: 50 x 2 bytes fits, 51 does not
        alice.send("é".encode() * 50 + ending)
        bob.read_until(("[#lobby] <alice> " + "é" * 50 + "\r\n").encode())
        alice.send("é".encode() * 51 + ending)
        assert alice.read_line() == too_long, ending
    alice.send_line("done")
    bob.read_until("[#lobby] <alice> done\r\n")
    assert "b" * 101 not in bob.text() and "é" * 51 not in bob.text()


def test_endless_line_does_not_kill_the_server(server):
    """A newline-less stream far longer than the limit gets one error as soon as it passes the limit, before any newline, is discarded, and the client continues after a newline."""
    alice, bob = server.users("alice", "bob")
    alice.send(b"z" * 3000)
    assert alice.read_line() == ("*** Line too long (the limit is 2048 bytes); "
                                 "it was discarded.")
    chunk = b"z" * 65536
    for _ in range(32):  # 2 MiB more without a newline
        alice.send(chunk)
    alice.send(b"\ncontinued\n")
    bob.read_until("[#lobby] <alice> continued\r\n", timeout=15)
    alice.send_line("/who")
    assert alice.read_line() == "*** In #lobby (2): @alice, bob"
    assert "zzz" not in bob.text()
    still_serving(server, alice, bob)


def test_overlong_nickname_line(server):
    """An overlong line instead of a nickname gets the line-length error and the client can still sign in."""
    client = server.connect()
    client.read_prompt()
    client.send(b"n" * 5000 + b"\n")
    assert client.read_line() == ("*** Line too long (the limit is 2048 bytes); "
                                  "it was discarded.")
    client.send_line("nick")
    client.read_until("*** Hello nick!")


# Encoding and control characters

def test_invalid_utf8_becomes_replacement_characters(server):
    """Invalid UTF-8 arrives at other users as U+FFFD replacement characters."""
    alice, bob = server.users("alice", "bob")
    alice.send(b"caf\xc3 ok \xe9t\xe9 \x80 end\xe2\x82\n")
    line = bob.read_until(b"\r\n")
    assert line.decode("utf-8") == (
        "[#lobby] <alice> caf\ufffd ok \ufffdt\ufffd \ufffd end\ufffd\r\n")
    alice.send("valid UTF-8 stays: żółw ✓\n".encode())
    bob.read_until("[#lobby] <alice> valid UTF-8 stays: żółw ✓\r\n")
    assert_terminal_safe(bob.transcript)


def test_invalid_utf8_nickname(server):
    """A nickname with invalid UTF-8 is refused as invalid and the client can try again."""
    client = server.connect()
    client.read_prompt()
    client.send(b"al\xe9ce\n")
    assert client.read_line() == ("*** A nickname may contain only ASCII letters, "
                                  "digits and _-[]\\`^{}|.")
    client.read_prompt()
    client.send_line("alice")
    client.read_until("*** Hello alice!")


def test_control_characters_never_reach_others(server):
    """ESC, NUL, BEL, CR, C1 controls and bidi overrides sent by one user never reach another user's socket, whatever the command."""
    alice, bob = server.users("alice", "bob")
    nasty = "\x1b[31mred\x1b[0m\x00nul\x07bel\rcr\x08bs\x9b2J\u202etxt\u2066iso\u2069\x7f\x0c"
    raw = nasty.encode("utf-8")
    alice.send(b"say " + raw + b"\n")
    alice.send(b"/me " + raw + b"\n")
    alice.send(b"/msg bob " + raw + b"\n")
    alice.send(b"/topic " + raw + b"\n")
    alice.send(b"\x1b]0;title\x07\x1b[2J\n")  # escapes only: nothing left, not said
    alice.send(b"\x1b\x07\x00\n")  # nothing left at all: not said
    alice.send(b"/join #other\n")
    alice.send(b"/part #lobby " + raw + b"\n")
    bob.read_until(re.compile(rb"\*\*\* alice left #lobby[^\n]*\n"))
    alice.send(b"/join #lobby\n")
    bob.read_until(join_announcement("alice"))
    alice.send(b"/quit " + raw + b"\n")
    bob.read_until(re.compile(rb"\*\*\* alice quit[^\n]*\n"))
    assert_terminal_safe(bob.transcript)
    text = bob.text()
    cleaned = "rednulbelcrbs2Jtxtiso"  # what is left of nasty: no "[31m"
    assert f"[#lobby] <alice> say {cleaned}\r\n" in text
    assert f"[#lobby] * alice {cleaned}\r\n" in text
    assert f"[private] <alice> {cleaned}\r\n" in text
    assert f"*** alice set the topic of #lobby: {cleaned}\r\n" in text
    assert "title" not in text and "[2J" not in text
    assert f"*** alice left #lobby ({cleaned})\r\n" in text
    assert f"*** alice quit (Quit: {cleaned})\r\n" in text
    # the line that was nothing but control characters was not said at all
    assert "<alice> \r\n" not in text
    still_serving(server, bob)
    bob.send_line("/topic")
    assert_terminal_safe(bob.read_until("(set by alice)\r\n"))


def test_tab_becomes_space(server):
    """A tab in a message reaches others as a space."""
    alice, bob = server.users("alice", "bob")
    alice.send(b"a\tb\n")
    bob.read_until("[#lobby] <alice> a b\r\n")


def test_irc_formatting_is_stripped_for_line_clients(server):
    """IRC bold and colour codes never reach line clients; the text around them does."""
    alice, bob = server.users("alice", "bob")
    alice.send(b"\x02bold\x02 \x0304,12colour\x03 \x1fund\x1f\n")
    bob.read_until("[#lobby] <alice> bold colour und\r\n")
    assert_terminal_safe(bob.transcript)


def test_telnet_negotiation_is_dropped(server):
    """Telnet IAC sequences are dropped, even inside words and across writes, and a telnet client can sign in."""
    carol = server.connect("carol")
    carol.read_prompt()
    # What a telnet client sends first: DO SUPPRESS-GO-AHEAD, WILL TERMINAL-TYPE,
    # a terminal-type subnegotiation.
    carol.send(b"\xff\xfd\x03\xff\xfb\x18\xff\xfa\x18\x00xterm\xff\xf0carol\r\n")
    carol.read_until("*** Hello carol!")
    carol.read_until("#lobby has no topic.\r\n")
    dave = server.user("dave")
    carol.read_until(join_announcement("dave"))
    carol.send(b"hel\xff\xfb\x01lo\r\n")  # IAC WILL ECHO
    dave.read_until("[#lobby] <carol> hello\r\n")
    carol.send(b"wor\xff\xf4ld\r\n")  # IAC IP (Ctrl-C)
    dave.read_until("[#lobby] <carol> world\r\n")
    carol.send(b"split\xff")  # a command cut in two by a write
    carol.send(b"\xfd\x01 across writes\r\n")
    dave.read_until("[#lobby] <carol> split across writes\r\n")
    # IAC IAC stands for a 0xFF byte, which is never valid UTF-8: it is
    # dropped or replaced, but never passed on.
    carol.send(b"literal \xff\xff byte\r\n")
    dave.read_until(re.compile("\\[#lobby\\] <carol> literal (\ufffd)? byte\r\n".encode()))
    assert_terminal_safe(dave.transcript)


# Foreign protocols

def test_http_request_gets_400_and_close(server):
    """An HTTP request on the chat port gets an HTTP 400 response with a hint, and the connection is closed."""
    client = server.connect("browser")
    client.send(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: test\r\n\r\n")
    received = client.read_until_closed()
    assert b"HTTP/1.0 400 Bad Request\r\n" in received
    assert (b"This is a chat server, not a web server: connect with nc or telnet.\r\n"
            in received)
    still_serving(server)


def test_irc_registration_gets_hint_and_close(server):
    """An IRC client's registration on the line port gets a hint and the connection is closed."""
    client = server.connect("irc")
    client.send(b"CAP LS 302\r\nNICK alice\r\nUSER alice 0 * :Alice\r\n")
    received = client.read_until_closed().decode()
    assert "*** This port speaks plain line chat, not IRC" in received
    assert received.endswith("*** Closing the connection: IRC on the line-chat port.\r\n")
    still_serving(server)


# Rate and resource limits

def test_flood_is_disconnected(server):
    """With the default limits a client that sends many lines at once is disconnected for "Excess flood", and the others keep chatting."""
    alice, bob, flooder = server.users("alice", "bob", "flooder")
    flooder.send(b"".join(b"flood %d\n" % n for n in range(200)))
    assert flooder.read_until_closed().endswith(
        b"*** Closing the connection: Excess flood.\r\n")
    alice.read_until("*** flooder quit (Excess flood)\r\n")
    bob.read_until("*** flooder quit (Excess flood)\r\n")
    # The burst went through before the flood was cut off, the rest did not.
    assert "[#lobby] <flooder> flood 0\r\n" in alice.text()
    assert "flood 199" not in alice.text()
    alice.send_line("still chatting")
    bob.read_until("[#lobby] <alice> still chatting\r\n")
    still_serving(server, alice, bob)


def test_short_burst_is_not_flood(server):
    """With the default limits a burst of ten lines all arrive, in order, and the sender stays."""
    alice, bob = server.users("alice", "bob")
    alice.send(b"".join(b"line %d\n" % n for n in range(10)))
    for n in range(10):
        bob.read_until(f"[#lobby] <alice> line {n}\r\n")
    alice.send_line("/who")
    assert alice.read_line() == "*** In #lobby (2): @alice, bob"


def test_no_flood_control(start_server):
    """With --no-flood-control a client sending many lines at once is not disconnected and every line arrives."""
    server = start_server("--no-flood-control")
    alice, flooder = server.users("alice", "flooder")
    flooder.send(b"".join(b"flood %d\n" % n for n in range(500)))
    alice.read_until("[#lobby] <flooder> flood 499\r\n")
    flooded = re.findall(r"<flooder> flood (\d+)\r\n", alice.text())
    assert flooded == [str(n) for n in range(500)]
    flooder.send_line("/who")
    assert flooder.read_line() == "*** In #lobby (2): @alice, flooder"


def test_reader_that_never_reads_is_dropped(start_server):
    """A client that never reads while the room is flooded is disconnected once its send queue is full, and the others are unaffected."""
    server = start_server("--no-flood-control", "--max-send-queue", "20000")
    observer = server.user("observer", rcvbuf=1 << 20)
    server.user("slow", rcvbuf=4096)  # signs in, then never reads
    observer.read_until(join_announcement("slow"))
    flooder = server.user("flooder")
    observer.read_until(join_announcement("flooder"))
    # Stop reading "slow"; flood in batches small enough for the observer,
    # who reads each batch, until the server gives up on "slow".
    payload = b"p" * 1000
    dropped = "*** slow quit (Send queue exceeded)\r\n"
    sent = 0
    for batch in range(600):  # at most 12 MB
        flooder.send(b"".join(b"%d %s\n" % (batch * 20 + n, payload) for n in range(20)))
        sent += 20
        observer.read_until(b"<flooder> %d " % (sent - 1))
        if dropped in observer.text():
            break
    else:
        pytest.fail(f"slow was never dropped after {sent} lines of 1000 bytes")
    observer.send_line("/who")
    observer.read_until("*** In #lobby (2): flooder, @observer\r\n")
    flooder.send_line("after the flood")
    observer.read_until("[#lobby] <flooder> after the flood\r\n")
    server.user("slow")  # the nickname is free again
    assert observer.text().count("slow quit") == 1


def test_max_per_address(start_server):
    """With --max-per-address N the N+1th connection from one address is refused with a clear message, and a slot frees when one closes."""
    server = start_server("--max-per-address", "3", "--exempt", "none")
    first = server.user("first")
    others = [server.connect(f"c{n}") for n in range(2)]
    for client in others:
        client.read_prompt()
    refused = server.connect("refused")
    assert refused.read_until_closed().decode() == (
        "*** Too many connections from your address (the limit is 3).\r\n"
        "*** Closing the connection: Too many connections from your address.\r\n")
    first.send_line("/who")
    assert first.read_line() == "*** In #lobby (1): @first"
    closed_before = server.current_log().count("Disconnected ")
    others[0].close()
    server.wait_for_log(lambda log: log.count("Disconnected ") > closed_before,
                        "the closed connection")
    server.user("later")
    first.read_until(join_announcement("later"))


def test_loopback_is_exempt_by_default(start_server):
    """By default connections from 127.0.0.1 are not limited per address (--exempt defaults to loopback), and listing another network takes that exemption away."""
    server = start_server("--max-per-address", "2")
    users = [server.user(f"u{n}") for n in range(4)]
    users[3].send_line("/who")
    assert users[3].read_until("*** In #lobby (4): ")
    other = start_server("--max-per-address", "1", "--exempt", "10.0.0.0/8")
    other.user("alone")
    refused = other.connect("refused")
    assert b"Too many connections from your address (the limit is 1)" in refused.read_until_closed()


def test_registration_timeout(start_server):
    """With --registration-timeout 1 a connection that chooses no nickname is closed with a message saying why, and signed-in clients stay."""
    server = start_server("--registration-timeout", "1")
    alice = server.user("alice")
    idle = server.connect("idle")
    started = time.monotonic()
    idle.read_prompt()
    rest = idle.read_until_closed(timeout=10)
    waited = time.monotonic() - started
    assert rest == b"*** Closing the connection: Registration timed out.\r\n"
    assert 0.5 <= waited < 8
    # alice signed in more than a second ago and is still served
    alice.send_line("/who")
    assert alice.read_line() == "*** In #lobby (1): @alice"


def test_ten_bad_nicknames_disconnect(server):
    """Ten invalid or taken nicknames in a row get the connection closed."""
    server.user("taken")
    client = server.connect()
    client.read_prompt()
    for attempt in range(9):
        client.send_line("taken" if attempt % 2 else f"{attempt}bad")
        client.read_line()
        client.read_prompt()
    client.send_line("9bad")
    assert client.read_until_closed().decode() == (
        "*** A nickname cannot start with a digit or '-'.\r\n"
        "*** Closing the connection: Too many invalid nicknames.\r\n")
    still_serving(server)


def test_max_nick_attempts_option(start_server):
    """--max-nick-attempts sets how many bad nicknames close the connection."""
    server = start_server("--max-nick-attempts", "2")
    client = server.connect()
    client.read_prompt()
    client.send(b"1\n2\n")
    rest = client.read_until_closed().decode()
    assert rest.endswith("*** Closing the connection: Too many invalid nicknames.\r\n")
    assert rest.count("Choose a nickname") == 1
