"""
Tests for the IRCv3 capabilities that change what events look like
(server-time, message-tags, echo-message, away-notify) and for sharing
renderers between clients.
"""

from __future__ import annotations

import re

import pytest

from chatservice.frontends.irc.render import IRCRenderer
from irc_helpers import MixedServer

ALICE = "alice!~alice@1.2.3.4"
STAMP = re.compile(r"^@time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ")


@pytest.fixture
def server():
    server = MixedServer()
    server.clock.advance(1700000000.25)
    return server


def test_server_time_on_messages(server):
    """server-time adds @time= in ISO 8601 UTC with milliseconds to messages."""
    alice, = server.room("#lobby", "alice")
    bob, = server.room("#lobby", "bob", caps=("server-time",))
    alice.take()
    alice.line("PRIVMSG #lobby :hi")
    assert bob.take() == [f"@time=2023-11-14T22:13:20.250Z :{ALICE} PRIVMSG #lobby :hi"]


def test_server_time_on_other_events(server):
    """server-time also tags joins, parts, nick changes, topics, modes, kicks and quits."""
    alice, = server.room("#lobby", "alice")
    bob, = server.room("#lobby", "bob", caps=("server-time",))
    carol = server.register("carol")
    alice.take()
    carol.line("JOIN #lobby")
    alice.line("TOPIC #lobby :t")
    alice.line("MODE #lobby +v carol")
    carol.line("NICK caroline")
    alice.line("KICK #lobby caroline")
    alice.line("PART #lobby :bye")
    lines = bob.take()
    assert len(lines) == 6
    assert all(STAMP.match(line) for line in lines), lines
    assert [line.split()[2] for line in lines] == ["JOIN", "TOPIC", "MODE", "NICK", "KICK",
                                                   "PART"]


def test_server_time_on_own_echoes(server):
    """The client's own JOIN and NICK echoes carry its server-time tag."""
    alice = server.register("alice", caps=("server-time",))
    assert alice.said("JOIN #a")[0] == f"@time=2023-11-14T22:13:20.250Z :{ALICE} JOIN #a"
    assert alice.said("NICK alicia") == [f"@time=2023-11-14T22:13:20.250Z :{ALICE} NICK alicia"]


def test_server_time_not_on_numerics(server):
    """Numeric replies are not tagged."""
    alice = server.register("alice", caps=("server-time",))
    assert alice.said("PING x") == [":chatservice PONG chatservice x"]


def test_server_time_follows_clock(server):
    """The time tag is the time the event happened on the hub's clock."""
    alice, = server.room("#lobby", "alice")
    bob, = server.room("#lobby", "bob", caps=("server-time",))
    server.clock.advance(61.5)
    alice.line("PRIVMSG #lobby :later")
    assert bob.take()[-1].startswith("@time=2023-11-14T22:14:21.750Z ")


def test_message_tags_msgid(server):
    """message-tags adds a msgid to every event, different for each."""
    alice, = server.room("#lobby", "alice")
    bob, = server.room("#lobby", "bob", caps=("message-tags",))
    alice.take()
    server.register("carol").line("JOIN #lobby")
    alice.line("PRIVMSG #lobby :one")
    alice.line("NOTICE bob :two")
    lines = bob.take()
    joined = re.fullmatch(r"@msgid=(\S+) :carol!~carol@1\.2\.3\.4 JOIN #lobby", lines[0])
    assert joined
    first = re.fullmatch(r"@msgid=(\S+) :" + re.escape(ALICE) + " PRIVMSG #lobby :one", lines[1])
    second = re.fullmatch(r"@msgid=(\S+) :" + re.escape(ALICE) + " NOTICE bob :two", lines[2])
    assert first and second
    assert len({joined.group(1), first.group(1), second.group(1)}) == 3


def test_both_tags(server):
    """With server-time and message-tags, both tags are present."""
    alice, = server.room("#lobby", "alice")
    bob, = server.room("#lobby", "bob", caps=("server-time", "message-tags"))
    alice.take()
    alice.line("PRIVMSG #lobby :x")
    assert re.fullmatch(r"@time=2023-11-14T22:13:20\.250Z;msgid=\S+ :" + re.escape(ALICE)
                        + r" PRIVMSG #lobby :x", bob.take()[0])


def test_echo_has_same_msgid(server):
    """With echo-message and message-tags, the sender's echo has the msgid the others got."""
    alice, = server.room("#lobby", "alice", caps=("echo-message", "message-tags"))
    bob, = server.room("#lobby", "bob", caps=("message-tags",))
    alice.take()
    alice.line("PRIVMSG #lobby :x")
    echo, = alice.take()
    assert echo == bob.take()[0]
    assert echo.startswith("@msgid=")


def test_client_tags_relayed_only_with_message_tags(server):
    """Client tags on a PRIVMSG reach clients with message-tags; server tags and clients without the capability get none."""
    alice, bob = server.room("#lobby", "alice", "bob", caps=("message-tags",))
    carol, = server.room("#lobby", "carol")
    bob.take()
    alice.line("@+draft/react=x;+example=y;fizz=buzz PRIVMSG #lobby :hi")
    assert bob.take()[0].startswith("@+draft/react=x;+example=y;msgid=")
    assert carol.take() == [":alice!~alice@1.2.3.4 PRIVMSG #lobby :hi"]


def test_long_message_split_keeps_tags(server):
    """Each piece of a split message carries the tags, and the body stays within 512 bytes."""
    alice = server.sign_in_line("alice")
    bob, = server.room("#lobby", "bob", caps=("server-time", "message-tags"))
    alice.take()
    alice.line("y" * 1500)
    lines = bob.take()
    assert len(lines) == 4
    tags = re.compile(r"^@time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z;msgid=\S+ ")
    assert all(tags.match(line) for line in lines), lines
    assert "".join(line.split(" :", 2)[2] for line in lines) == "y" * 1500


# Renderer sharing

def test_same_caps_share_renderer(server):
    """Clients with the same capabilities share one renderer object; others get another."""
    a = server.register("a", caps=("server-time", "echo-message"))
    b = server.register("b", caps=("server-time",))
    c = server.register("c")
    d = server.register("d")
    assert a.protocol.renderer is b.protocol.renderer
    assert c.protocol.renderer is d.protocol.renderer
    assert a.protocol.renderer is not c.protocol.renderer
    assert isinstance(a.protocol.renderer, IRCRenderer)


def test_renderer_follows_cap_changes(server):
    """Requesting or dropping a capability moves the client to the matching shared renderer."""
    a = server.register("a")
    b = server.register("b", caps=("server-time",))
    a.line("CAP REQ server-time")
    assert a.protocol.renderer is b.protocol.renderer
    a.line("CAP REQ -server-time")
    assert a.protocol.renderer is server.register("c").protocol.renderer


def test_renders_once_per_variant(server, monkeypatch):
    """An event sent to many IRC clients is rendered once per capability variant."""
    calls = []
    original = IRCRenderer.__call__

    def counting(self, event):
        calls.append(self)
        return original(self, event)

    monkeypatch.setattr(IRCRenderer, "__call__", counting)
    speaker, = server.room("#lobby", "speaker")
    plain = server.room("#lobby", "p1", "p2", "p3")
    timed = server.room("#lobby", "t1", "t2", caps=("server-time",))
    tagged = server.room("#lobby", "m1", caps=("server-time", "message-tags"))
    calls.clear()
    speaker.line("PRIVMSG #lobby :hello all")
    assert len(calls) == 3
    assert len(set(map(id, calls))) == 3
    for client in plain + timed + tagged:
        assert client.take()[-1].endswith(" PRIVMSG #lobby :hello all")


def test_one_bytes_object_for_all(server):
    """Clients sharing a renderer are written the very same bytes object."""
    speaker, a, b = server.room("#lobby", "speaker", "a", "b")
    written = []
    for client in (a, b):
        queue = client.protocol.send_queue
        original = queue._send
        queue._send = lambda data, original=original: (written.append(data), original(data))
    speaker.line("PRIVMSG #lobby :shared")
    speaker.protocol.factory.flusher.flush()
    assert len(written) == 2
    assert written[0] is written[1]


def test_capability_change_after_joining(server):
    """A client that asks for server-time after joining gets time tags on the room's next messages, and loses them when it drops the capability."""
    speaker, listener = server.room("#lobby", "speaker", "listener")
    speaker.line("PRIVMSG #lobby :before")
    assert listener.take() == [":speaker!~speaker@1.2.3.4 PRIVMSG #lobby :before"]
    listener.line("CAP REQ server-time")
    listener.take()
    speaker.line("PRIVMSG #lobby :after")
    [line] = listener.take()
    assert re.fullmatch(r"@time=\S+ :speaker!~speaker@1\.2\.3\.4 PRIVMSG #lobby :after", line)
    listener.line("CAP REQ -server-time")
    listener.take()
    speaker.line("PRIVMSG #lobby :again")
    assert listener.take() == [":speaker!~speaker@1.2.3.4 PRIVMSG #lobby :again"]
