"""
History of private conversations and of TAGMSG, and CHATHISTORY TARGETS, for
IRC clients logged in with SASL: what irctest's chathistory module checks with
services, on a hub with in-memory accounts and history and a fake clock.
"""

from __future__ import annotations

import base64
import re

import pytest

from chatservice.core.accounts import Accounts
from chatservice.store.accounts import MemoryAccounts
from chatservice.store.memory import MemoryStore
from irc_helpers import MixedServer

START = 1700000000.25
FULL = ("batch", "server-time", "message-tags", "draft/chathistory", "echo-message",
        "labeled-response")
PLAYBACK = FULL + ("draft/event-playback",)


@pytest.fixture
def server():
    server = MixedServer()
    server.clock.advance(START)
    server.hub.attach_store(MemoryStore(server.clock))
    server.hub.use_accounts(Accounts(MemoryAccounts(), server.clock))
    for name in ("alice", "bob", "carol"):
        server.hub.accounts.register(name, name + " secret")
    return server


def login(server, nick: str, caps=FULL, account: str | None = None):
    """An IRC client logged in with SASL PLAIN to C{account} (C{nick}'s by default)."""
    account = account or nick
    client = server.connect()
    client.line("CAP LS 302")
    client.line("CAP REQ :" + " ".join(("sasl",) + caps))
    plain = base64.b64encode(f"\0{account}\0{account} secret".encode()).decode()
    client.line("AUTHENTICATE PLAIN")
    client.line("AUTHENTICATE " + plain)
    client.line("CAP END")
    client.line(f"NICK {nick}")
    client.line(f"USER {nick} 0 * :{nick}")
    server.clock.advance(0)
    lines = client.take()
    assert any(" 903 " in line for line in lines) and any(" 001 " in line for line in lines), lines
    client.nick = nick
    return client


def tell(server, sender, target: str, text: str, command: str = "PRIVMSG") -> None:
    server.clock.advance(1)
    sender.line(f"{command} {target} :{text}" if text else f"{command} {target}")


def history(client, target: str, subcommand: str = "LATEST", *args: str) -> list[str]:
    """The lines of the chathistory batch answering a request, batch tags removed."""
    arguments = " ".join(args) if args else "* 50"
    lines = client.said(f"CHATHISTORY {subcommand} {target} {arguments}")
    assert re.fullmatch(r":chatservice BATCH \+\S+ chathistory \S+", lines[0]), lines
    assert lines[-1].startswith(":chatservice BATCH -"), lines
    return [re.sub(r"batch=[^; ]+;?", "", line) for line in lines[1:-1]]


def said(lines: list[str]) -> list[str]:
    """Each PRIVMSG of C{lines} as 'sender target :text'."""
    found = (re.search(r":(\S+?)!\S+ PRIVMSG (\S+) :(.*)$", line) for line in lines)
    return [f"{m.group(1)} {m.group(2)} :{m.group(3)}" for m in found if m]


def test_conversation_kept_for_each_account(server):
    """Two logged-in people each read their whole conversation back, in order, under any case of the other's nick; a third account reads nothing of it."""
    alice, bob, carol = (login(server, nick) for nick in ("alice", "bob", "carol"))
    for number in range(4):
        sender, target = (alice, "bob") if number % 2 == 0 else (bob, "alice")
        tell(server, sender, target, f"m{number}")
    expected = ["alice bob :m0", "bob alice :m1", "alice bob :m2", "bob alice :m3"]
    assert said(history(alice, "bob")) == expected
    assert said(history(bob, "ALICE")) == expected
    assert bob.said("CHATHISTORY LATEST ALICE * 1")[0].endswith(" chathistory ALICE")
    assert said(history(carol, "bob")) == said(history(carol, "alice")) == []


def test_live_and_kept_msgids_agree(server):
    """A private message comes back from history with the msgid and time its echo had."""
    alice = login(server, "alice")
    login(server, "bob")
    tell(server, alice, "bob", "same one")
    echo, = alice.take()
    kept, = history(alice, "bob")
    live_tags = dict(tag.split("=") for tag in echo[1:].split(" ")[0].split(";"))
    kept_tags = dict(tag.split("=") for tag in kept[1:].split(" ")[0].split(";") if tag)
    assert kept_tags["msgid"] == live_tags["msgid"] and kept_tags["time"] == live_tags["time"]


def test_conversation_with_someone_not_logged_in(server):
    """With someone not logged in, the conversation is kept for the account alone; the other reads nothing, even after logging in to an account of that name."""
    alice = login(server, "alice")
    guest = server.register("dave", caps=FULL)
    tell(server, alice, "dave", "hello guest")
    tell(server, guest, "alice", "hello alice")
    assert said(history(alice, "dave")) == ["alice dave :hello guest",
                                            "dave alice :hello alice"]
    assert said(history(guest, "alice")) == []
    guest.line("QUIT")
    server.hub.accounts.register("dave", "dave secret")
    dave = login(server, "dave")
    assert said(history(dave, "alice")) == []


def test_messages_to_oneself_kept_once(server):
    """Messages to oneself come back once each, echo-message or not, labeled or not."""
    alice = login(server, "alice", caps=tuple(c for c in FULL if c != "echo-message"))
    tell(server, alice, "alice", "first")
    assert len(said(alice.take())) == 1
    alice.line("CAP REQ echo-message")
    tell(server, alice, "alice", "second")
    assert len(said(alice.take())) == 2
    server.clock.advance(1)
    alice.line("@label=xyz PRIVMSG alice :third")
    assert len(said(alice.take())) == 2
    assert said(history(alice, "alice")) == [
        "alice alice :first", "alice alice :second", "alice alice :third"]


def test_notices_actions_and_multiline_kept(server):
    """Private notices, actions and multiline messages are kept (a multiline one as one line)."""
    alice, bob = login(server, "alice"), login(server, "bob", caps=FULL + ("draft/multiline",))
    tell(server, alice, "bob", "a notice", "NOTICE")
    tell(server, alice, "bob", "\x01ACTION waves\x01")
    bob.line("BATCH +ml draft/multiline alice")
    bob.line("@batch=ml PRIVMSG alice :line one")
    bob.line("@batch=ml PRIVMSG alice :line two")
    bob.line("BATCH -ml")
    lines = history(alice, "bob")
    assert any(" NOTICE bob :a notice" in line for line in lines)
    assert said(lines) == ["alice bob :\x01ACTION waves\x01", "bob alice :line one line two"]


def test_without_account_nothing_kept_or_read(server):
    """Between two people not logged in nothing is kept; reading a nick without an account is an empty batch, a bad nick INVALID_TARGET."""
    one, two = server.register("one", caps=FULL), server.register("two", caps=FULL)
    tell(server, one, "two", "not kept")
    assert history(one, "two") == [] and history(two, "one") == []
    assert server.hub.store.stored == 0
    assert one.said("CHATHISTORY LATEST a!b * 10") == [
        ":chatservice FAIL CHATHISTORY INVALID_TARGET LATEST a!b :Messages could not be retrieved"]


def test_paging_a_conversation(server):
    """BEFORE, AFTER, AROUND and BETWEEN page through a private conversation as through a room."""
    alice, bob = login(server, "alice"), login(server, "bob")
    for number in range(6):
        tell(server, alice, "bob", f"m{number}")
    ids = re.findall(r"msgid=(\d+)", "\n".join(alice.take()))
    texts = lambda lines: [line.rsplit(":", 1)[1] for line in said(lines)]  # noqa: E731
    assert texts(history(bob, "alice", "BEFORE", f"msgid={ids[3]}", "2")) == ["m1", "m2"]
    assert texts(history(bob, "alice", "AFTER", f"msgid={ids[3]}", "2")) == ["m4", "m5"]
    assert texts(history(bob, "alice", "AROUND", f"msgid={ids[3]}", "2")) == ["m2", "m3"]
    assert texts(history(bob, "alice", "BETWEEN", f"msgid={ids[0]}", f"msgid={ids[5]}",
                         "10")) == ["m1", "m2", "m3", "m4"]


# TAGMSG

def tagmsgs(lines: list[str]) -> list[str]:
    return [line for line in lines if " TAGMSG " in line]


@pytest.mark.parametrize("target", ["#room", "bob"])
def test_tagmsg_kept_for_event_playback(server, target):
    """A TAGMSG with client-only tags is kept with its tags and msgid, and played back only to clients with draft/event-playback."""
    alice = login(server, "alice", caps=PLAYBACK)
    bob = login(server, "bob")
    server.joined("#room", alice, bob)
    server.clock.advance(1)
    alice.line(rf"@+draft/react=\:)\sok;+draft/reply=1 TAGMSG {target}")
    echo, = alice.take()
    msgid = re.search(r"msgid=(\d+)", echo).group(1)
    relayed, = bob.take()
    assert "+draft/react=\\:)\\sok" in relayed
    kept, = tagmsgs(history(alice, "bob" if target == "bob" else target))
    assert kept.endswith(f":alice!~alice@1.2.3.4 TAGMSG {target}")
    assert "+draft/react=\\:)\\sok" in kept and "+draft/reply=1" in kept
    assert f"msgid={msgid}" in kept
    assert tagmsgs(history(bob, "alice" if target == "bob" else target)) == []


def test_typing_notifications_not_kept(server):
    """A TAGMSG carrying only typing notifications is relayed but not kept."""
    alice = login(server, "alice", caps=PLAYBACK)
    bob = login(server, "bob", caps=PLAYBACK)
    server.joined("#room", alice, bob)
    before = server.hub.store.stored
    alice.line("@+typing=active TAGMSG #room")
    alice.line("@+draft/typing=paused TAGMSG bob")
    assert len(tagmsgs(bob.take())) == 2
    assert server.hub.store.stored == before
    assert tagmsgs(history(bob, "#room")) == tagmsgs(history(bob, "alice")) == []


# TARGETS

def targets(client, start: str, end: str, limit: int = 100) -> list[tuple[str, str]]:
    lines = client.said(f"CHATHISTORY TARGETS timestamp={start} timestamp={end} {limit}")
    assert re.fullmatch(r":chatservice BATCH \+\S+ draft/chathistory-targets", lines[0]), lines
    return [tuple(line.split(" ")[-2:]) for line in lines[1:-1]]


EARLY, LATE = "2020-01-01T00:00:00.000Z", "2262-01-01T00:00:00.000Z"


def test_targets_lists_rooms_and_people(server):
    """TARGETS lists one's rooms and the people one's account talked with, by the time of the latest message, earliest first, both ends excluded to the millisecond."""
    alice, bob, carol = (login(server, nick) for nick in ("alice", "bob", "carol"))
    server.joined("#one", alice, bob)
    server.joined("#two", alice, carol)
    tell(server, alice, "#one", "a")
    tell(server, alice, "bob", "b")
    tell(server, alice, "#two", "c")
    tell(server, carol, "alice", "d")
    times = ["2023-11-14T22:13:21.250Z", "2023-11-14T22:13:22.250Z",
             "2023-11-14T22:13:23.250Z", "2023-11-14T22:13:24.250Z"]
    assert targets(alice, EARLY, LATE) == list(zip(["#one", "bob", "#two", "carol"], times))
    assert [name for name, _ in targets(alice, LATE, EARLY, 2)] == ["#one", "bob"]
    assert [name for name, _ in targets(alice, times[0], LATE)] == ["bob", "#two", "carol"]
    assert [name for name, _ in targets(alice, times[0], times[3])] == ["bob", "#two"]
    # Bob's account talked with alice only; his room is #one.
    assert [name for name, _ in targets(bob, EARLY, LATE)] == ["#one", "alice"]


def test_targets_by_latest_message(server):
    """A target whose latest message falls after the window is not listed, though earlier ones fell inside."""
    alice = login(server, "alice")
    server.joined("#one", alice)
    for text in ("x", "y", "z"):
        tell(server, alice, "#one", text)
    assert targets(alice, EARLY, LATE) == [("#one", "2023-11-14T22:13:23.250Z")]
    assert targets(alice, EARLY, "2023-11-14T22:13:22.250Z") == []


def test_targets_without_account_lists_rooms_only(server):
    """Someone not logged in gets their rooms only; the account they wrote to lists them."""
    guest = server.register("guest", caps=FULL)
    alice = login(server, "alice")
    server.joined("#one", guest)
    tell(server, guest, "#one", "x")
    tell(server, guest, "alice", "y")
    assert [name for name, _ in targets(guest, EARLY, LATE)] == ["#one"]
    assert [name for name, _ in targets(alice, EARLY, LATE)] == ["guest"]
