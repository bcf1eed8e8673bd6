"""
End to end: fan-out over TLS and WebSocket, whose output now goes straight
to the socket once per turn (L{chatservice.frontends.directwrite}), through
a real ``twistd -n chat`` with real clients: Python's C{ssl} over line chat
and IRC, the C{websockets} library and hand-made WebSocket frames over plain
and TLS connections.  A flood arrives complete and in order everywhere, and
a TLS or WSS client that never reads is still cut off at the send-queue cap.
"""

from __future__ import annotations

import re

import pytest

from server import HOST, Client, free_ports, join_announcement
from test_e2e_websocket import open_ws, raw_ws, users

# Fixtures this module takes from test_e2e_websocket by importing them.
FIXTURES = (open_ws,)

FLOOD = 600


def flood(sender: Client, count: int, batch: int = 50, wait=None) -> None:
    """Send C{count} numbered lines in batches; after each, C{wait(last number)}."""
    for start in range(0, count, batch):
        sender.send(b"".join(b"flood %d %s\n" % (n, b"f" * 100)
                             for n in range(start, min(start + batch, count))))
        if wait is not None:
            wait(min(start + batch, count) - 1)


def numbers(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"flood (\d+) f+", text)]


def test_tls_flood_arrives_complete_and_in_order(start_server, tls_context, certificate):
    """A flood from a plain client reaches line chat and IRC clients over TLS complete and in order."""
    irc_tls, = free_ports(1)
    key, cert = certificate
    server = start_server("--no-flood-control", "--irc",
                          f"ssl:{irc_tls}:privateKey={key}:certKey={cert}:interface={HOST}",
                          tls=1)
    line_tls = server.user("secure", tls=tls_context)
    irc = server.connect("ircs", tls=tls_context, port=irc_tls)
    irc.send(b"NICK ircs\r\nUSER ircs 0 * :I\r\nJOIN #lobby\r\n")
    irc.read_until(re.compile(rb" 366 ircs #lobby "))
    sender = server.user("sender")
    line_tls.read_until(join_announcement("sender"))
    flood(sender, FLOOD, wait=lambda last: (line_tls.read_until(b"flood %d " % last),
                                            irc.read_until(b"flood %d " % last)))
    expected = list(range(FLOOD))
    assert numbers(line_tls.text()) == expected
    assert numbers(irc.text()) == expected
    assert irc.text().count("PRIVMSG #lobby :flood ") == FLOOD


def test_tls_reader_that_never_reads_is_dropped(start_server, tls_context):
    """A TLS client that never reads while the room is flooded is disconnected once its send queue is full, and the others are unaffected."""
    server = start_server("--no-flood-control", "--max-send-queue", "20000", tls=1)
    observer = server.user("observer", tls=tls_context, rcvbuf=1 << 20)
    server.user("slow", tls=tls_context, rcvbuf=4096)  # signs in, then never reads
    observer.read_until(join_announcement("slow"))
    flooder = server.user("flooder")
    observer.read_until(join_announcement("flooder"))
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
    flooder.send_line("after the flood")
    observer.read_until("[#lobby] <flooder> after the flood\r\n")
    assert observer.text().count("slow quit") == 1
    server.user("slow", tls=tls_context)  # the nickname is free again


def test_websocket_flood_arrives_complete_and_in_order(start_server, open_ws, tls_context):
    """A flood from a WebSocket client reaches WebSocket clients over plain and TLS connections complete, in order, one message per line."""
    server = start_server("--no-flood-control", plain=0, web=1, web_tls=1)
    port, tls_port = server.web_ports[0], server.web_tls_ports[0]
    plain, sender = users(open_ws, port, "plain", "sender")
    secure = raw_ws(server, tls_port, name="secure", tls=tls_context)
    secure.register("secure")
    plain.read_until(re.compile(r"^:secure!\S+ JOIN #lobby$"))
    sender.read_until(re.compile(r"^:secure!\S+ JOIN #lobby$"))
    for start in range(0, FLOOD, 50):
        for n in range(start, start + 50):
            sender.send(f"PRIVMSG #lobby :flood {n} {'f' * 100}")
        plain.read_until(re.compile(rf"PRIVMSG #lobby :flood {start + 49} "))
    got_secure = []
    while len(got_secure) < FLOOD:
        message = secure.read_message_matching(re.compile(r"PRIVMSG #lobby :flood "))
        got_secure.append(message)
    expected = [f":sender!~sender@127.0.0.1 PRIVMSG #lobby :flood {n} {'f' * 100}"
                for n in range(FLOOD)]
    assert [m for m in plain.received if " PRIVMSG #lobby :flood " in m] == expected
    assert got_secure == expected


def test_wss_client_that_never_reads_is_dropped(start_server, open_ws, tls_context):
    """A WebSocket client over TLS that never reads while the room is flooded is dropped once its send queue is full, and the others are unaffected."""
    server = start_server("--no-flood-control", "--max-send-queue", "20000",
                          plain=0, web=1, web_tls=1)
    port, tls_port = server.web_ports[0], server.web_tls_ports[0]
    observer, = users(open_ws, port, "observer")
    slow = raw_ws(server, tls_port, name="slow", rcvbuf=4096, tls=tls_context)
    slow.register("slow")
    observer.read_until(re.compile(r"^:slow!\S+ JOIN #lobby$"))
    flooder, = users(open_ws, port, "flooder")
    observer.read_until(re.compile(r"^:flooder!\S+ JOIN #lobby$"))
    payload = "p" * 400
    dropped = re.compile(r"^:slow!\S+ QUIT :.*Send queue exceeded")
    sent = 0
    for batch in range(1000):
        for n in range(50):
            flooder.send(f"PRIVMSG #lobby :{sent + n} {payload}")
        sent += 50
        observer.read_until(re.compile(rf"PRIVMSG #lobby :{sent - 1} p"))
        if any(dropped.search(m) for m in observer.received):
            break
    else:
        pytest.fail(f"slow was never dropped after {sent} lines")
    flooder.send("PRIVMSG #lobby :after the flood")
    observer.read_until(re.compile(r"^:flooder!\S+ PRIVMSG #lobby :after the flood$"))
    observer.send("NAMES #lobby")
    names = observer.read_until(re.compile(r"^:\S+ 353 observer "))
    assert "slow" not in names
