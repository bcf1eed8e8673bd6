"""
Tests for history in the IRC front end: CHATHISTORY (draft/chathistory,
draft/event-playback), SEARCH (soju.im/search), and the messages played back
on JOIN to clients that do not fetch history themselves.  A hub with an
in-memory store, clients on StringTransports, a fake clock.
"""

from __future__ import annotations

import re

import pytest
from twisted.internet.defer import Deferred, fail

from chatservice.core.history import MAX_LIMIT
from chatservice.store.memory import MemoryStore
from irc_helpers import MixedServer

FULL = ("batch", "server-time", "message-tags", "draft/chathistory")
PLAYBACK = FULL + ("draft/event-playback",)
START = 1700000000.25
BOB = "bob!~bob@1.2.3.4"


def history_server(replay_lines: int = 15, since_join: bool = False,
                   store: MemoryStore | None = None) -> MixedServer:
    server = MixedServer()
    server.clock.advance(START)
    server.hub.attach_store(store or MemoryStore(server.clock), since_join, replay_lines)
    return server


@pytest.fixture
def server():
    return history_server()


def chat(server, speaker, room: str, *texts: str, gap: float = 1.0) -> None:
    """C{speaker} says each of C{texts} in C{room}, C{gap} seconds apart."""
    for text in texts:
        server.clock.advance(gap)
        speaker.line(f"PRIVMSG {room} :{text}")


def batch(lines: list[str], kind: str = "chathistory", *params: str) -> list[str]:
    """
    The lines inside the one batch that C{lines} must be, without their
    batch tag; every inner line must carry it.
    """
    assert len(lines) >= 2, lines
    expected = re.escape(" ".join((kind,) + params)) if params else re.escape(kind) + "( .*)?"
    opening = re.fullmatch(r":chatservice BATCH \+(\S+) " + expected, lines[0])
    assert opening, lines
    ref = opening.group(1)
    assert lines[-1] == f":chatservice BATCH -{ref}", lines
    inner = []
    for line in lines[1:-1]:
        tags, _, rest = line.partition(" ")
        assert tags.startswith("@"), line
        tag_list = tags[1:].split(";")
        assert f"batch={ref}" in tag_list, line
        others = [tag for tag in tag_list if tag != f"batch={ref}"]
        inner.append(("@" + ";".join(others) + " " if others else "") + rest)
    return inner


def texts(lines: list[str]) -> list[str]:
    """The text of each PRIVMSG or NOTICE among C{lines}."""
    found = (re.search(r" (?:PRIVMSG|NOTICE) \S+ :(.*)$", line) for line in lines)
    return [match.group(1) for match in found if match]


def msgids(lines: list[str]) -> list[str]:
    return [re.search(r"msgid=([^; ]+)", line).group(1) for line in lines]


@pytest.fixture
def talk(server):
    """
    alice (every history capability) and bob (none) in #room; bob said
    "m0" .. "m9", one a second.  Returns alice, bob and the msgids alice saw.
    """
    alice = server.register("alice", caps=FULL)
    bob = server.register("bob")
    server.joined("#room", alice, bob)
    chat(server, bob, "#room", *(f"m{n}" for n in range(10)))
    seen = alice.take()
    assert texts(seen) == [f"m{n}" for n in range(10)]
    return alice, bob, msgids(seen)


# Capabilities and ISUPPORT

def test_caps_offered_only_with_history():
    """draft/chathistory, draft/event-playback and soju.im/search are offered only when history is kept."""
    plain = MixedServer()
    client = plain.connect()
    client.line("CAP LS 302")
    offered = client.take()[0].split(" :", 1)[1].split()
    assert not {"draft/chathistory", "draft/event-playback", "soju.im/search"} & set(offered)
    client.line("CAP REQ :draft/chathistory")
    assert client.take() == [":chatservice CAP * NAK draft/chathistory"]

    client = history_server().connect()
    client.line("CAP LS 302")
    offered = client.take()[0].split(" :", 1)[1].split()
    assert {"draft/chathistory", "draft/event-playback", "soju.im/search"} <= set(offered)
    assert offered == sorted(offered)
    client.line("CAP REQ :draft/chathistory draft/event-playback soju.im/search")
    assert client.take() == [
        ":chatservice CAP * ACK :draft/chathistory draft/event-playback soju.im/search"]


def isupport(server) -> list[str]:
    client = server.connect()
    client.line("NICK zed")
    client.line("USER zed 0 * :Zed")
    return [token for line in client.take() if " 005 " in line
            for token in line.split(" :")[0].split()[3:]]


def test_isupport_tokens_only_with_history():
    """CHATHISTORY=1000 and MSGREFTYPES=timestamp,msgid are advertised when history is kept."""
    tokens = isupport(history_server())
    assert f"CHATHISTORY={MAX_LIMIT}" in tokens and "MSGREFTYPES=timestamp,msgid" in tokens
    assert tokens == sorted(tokens)
    tokens = isupport(MixedServer())
    assert not [token for token in tokens if token.startswith(("CHATHISTORY", "MSGREFTYPES"))]


def test_no_history_commands_without_store():
    """Without a store CHATHISTORY and SEARCH are unknown commands."""
    server = MixedServer()
    alice = server.register("alice")
    assert alice.said("CHATHISTORY LATEST #room * 10") == [
        ":chatservice 421 alice CHATHISTORY :Unknown command"]
    assert alice.said("SEARCH in=#room;text=x") == [
        ":chatservice 421 alice SEARCH :Unknown command"]


# CHATHISTORY: the subcommands

def test_latest(server, talk):
    """LATEST * gives the newest messages, oldest first, with the msgids and times they were sent with."""
    alice, _, ids = talk
    inner = batch(alice.said("CHATHISTORY LATEST #room * 3"), "chathistory", "#room")
    assert inner == [
        f"@time=2023-11-14T22:13:{28 + n}.250Z;msgid={ids[7 + n]} :{BOB} PRIVMSG #room :m{7 + n}"
        for n in range(3)]
    inner = batch(alice.said("CHATHISTORY LATEST #room * 100"), "chathistory", "#room")
    assert texts(inner) == [f"m{n}" for n in range(10)]
    assert msgids(inner) == ids


def test_latest_after_reference(server, talk):
    """LATEST with a msgid or timestamp gives only what came after it (excluded)."""
    alice, _, ids = talk
    inner = batch(alice.said(f"CHATHISTORY LATEST #room msgid={ids[4]} 100"))
    assert texts(inner) == [f"m{n}" for n in range(5, 10)]
    # m4 was sent at ...:25.250; its millisecond is excluded too.
    inner = batch(alice.said("CHATHISTORY LATEST #room timestamp=2023-11-14T22:13:25.250Z 100"))
    assert texts(inner) == [f"m{n}" for n in range(5, 10)]
    inner = batch(alice.said(f"CHATHISTORY LATEST #room msgid={ids[4]} 2"))
    assert texts(inner) == ["m8", "m9"]


def test_before(server, talk):
    """BEFORE gives the newest messages before the reference, excluded."""
    alice, _, ids = talk
    assert texts(batch(alice.said(f"CHATHISTORY BEFORE #room msgid={ids[6]} 100"))) == \
        [f"m{n}" for n in range(6)]
    assert texts(batch(alice.said(
        "CHATHISTORY BEFORE #room timestamp=2023-11-14T22:13:27.250Z 2"))) == ["m4", "m5"]


def test_after(server, talk):
    """AFTER gives the oldest messages after the reference, excluded."""
    alice, _, ids = talk
    assert texts(batch(alice.said(f"CHATHISTORY AFTER #room msgid={ids[3]} 100"))) == \
        [f"m{n}" for n in range(4, 10)]
    assert texts(batch(alice.said(
        "CHATHISTORY AFTER #room timestamp=2023-11-14T22:13:24.250Z 3"))) == ["m4", "m5", "m6"]


def test_around(server, talk):
    """AROUND a msgid includes it; the limit counts every message returned."""
    alice, _, ids = talk
    assert texts(batch(alice.said(f"CHATHISTORY AROUND #room msgid={ids[7]} 1"))) == ["m7"]
    assert texts(batch(alice.said(f"CHATHISTORY AROUND #room msgid={ids[7]} 3"))) == \
        ["m6", "m7", "m8"]
    # A timestamp stands for the first message shown with it (m7 was sent at :28.250).
    assert texts(batch(alice.said(
        "CHATHISTORY AROUND #room timestamp=2023-11-14T22:13:28.250Z 3"))) == ["m6", "m7", "m8"]


def test_around_without_playback_keeps_to_messages(server, talk):
    """AROUND without event-playback counts and returns only messages, not the joins around them."""
    alice, bob, ids = talk
    server.clock.advance(1)
    server.register("carol").line("JOIN #room")
    chat(server, bob, "#room", "m10")
    inner = batch(alice.said(f"CHATHISTORY AROUND #room msgid={ids[9]} 3"))
    assert texts(inner) == ["m8", "m9", "m10"] and len(inner) == 3


def test_between(server, talk):
    """BETWEEN excludes both ends, in either order; the limit counts from the first."""
    alice, _, ids = talk
    forward = f"CHATHISTORY BETWEEN #room msgid={ids[0]} msgid={ids[9]}"
    backward = f"CHATHISTORY BETWEEN #room msgid={ids[9]} msgid={ids[0]}"
    assert texts(batch(alice.said(forward + " 100"))) == [f"m{n}" for n in range(1, 9)]
    assert texts(batch(alice.said(backward + " 100"))) == [f"m{n}" for n in range(1, 9)]
    assert texts(batch(alice.said(forward + " 3"))) == ["m1", "m2", "m3"]
    assert texts(batch(alice.said(backward + " 3"))) == ["m6", "m7", "m8"]
    stamps = ("timestamp=2023-11-14T22:13:21.250Z", "timestamp=2023-11-14T22:13:30.250Z")
    assert texts(batch(alice.said(f"CHATHISTORY BETWEEN #room {stamps[0]} {stamps[1]} 3"))) \
        == ["m1", "m2", "m3"]
    assert texts(batch(alice.said(f"CHATHISTORY BETWEEN #room {stamps[1]} {stamps[0]} 3"))) \
        == ["m6", "m7", "m8"]
    # A msgid and a timestamp may be mixed.
    assert texts(batch(alice.said(f"CHATHISTORY BETWEEN #room msgid={ids[2]} {stamps[1]} 100"))) \
        == [f"m{n}" for n in range(3, 9)]


def test_timestamps_mean_what_was_shown():
    """
    A timestamp stands for the millisecond server-time showed, whatever
    microseconds the event had and whatever floating-point error the
    arithmetic brings: AFTER and BEFORE exclude the event shown with it,
    AROUND starts with it.
    """
    server = history_server()
    server.clock.advance(1796199263.4 - START)
    alice = server.register("alice", caps=FULL + ("soju.im/search",))
    bob = server.register("bob")
    server.joined("#room", alice, bob)
    for gap in (0.144815, 0.000185, 0.000999, 0.000001, 0.3, 0.0004995, 0.0000005):
        server.clock.advance(gap)
        bob.line(f"PRIVMSG #room :at {server.clock.seconds():.7f}")
    seen = alice.take()
    stamps = [re.search(r"time=([^;]+)", line).group(1) for line in seen]
    for index, stamp in enumerate(stamps):
        same = [n for n, other in enumerate(stamps) if other == stamp]
        earlier = texts(seen[:same[0]])
        later = texts(seen[same[-1] + 1:])
        assert texts(batch(alice.said(f"CHATHISTORY AFTER #room timestamp={stamp} 100"))) \
            == later, stamp
        assert texts(batch(alice.said(f"CHATHISTORY LATEST #room timestamp={stamp} 100"))) \
            == later, stamp
        assert texts(batch(alice.said(f"CHATHISTORY BEFORE #room timestamp={stamp} 100"))) \
            == earlier, stamp
        assert texts(batch(alice.said(f"CHATHISTORY AROUND #room timestamp={stamp} 1"))) \
            == texts(seen[same[0]:same[0] + 1]), stamp
        assert texts(batch(alice.said(f"SEARCH in=#room;text=at;after={stamp};before={stamp}",
                                      ), "soju.im/search")) == texts([seen[n] for n in same])
        server.clock.advance(3)  # the history request budget


def test_before_star_is_latest(server, talk):
    """BEFORE * (as some clients send it) is LATEST *."""
    alice, _, _ = talk
    assert texts(batch(alice.said("CHATHISTORY BEFORE #room * 2"))) == ["m8", "m9"]


def test_split_message_msgid_means_the_message(server):
    """A reference to a piece of a split message (ID.2) is a reference to the message."""
    alice = server.register("alice", caps=FULL)
    line_user = server.sign_in_line("walt")
    alice.line("JOIN #lobby")
    server.clock.advance(1)
    line_user.line("before")
    server.clock.advance(1)
    line_user.line("y" * 1500)
    server.clock.advance(1)
    line_user.line("after")
    seen = [line for line in alice.take() if "PRIVMSG" in line]
    ids = msgids(seen)
    assert len(seen) == 6 and ids[2] == ids[1] + ".1" and ids[3] == ids[1] + ".2"
    inner = batch(alice.said(f"CHATHISTORY BEFORE #lobby msgid={ids[3]} 10"))
    assert texts(inner) == ["before"]
    inner = batch(alice.said(f"CHATHISTORY AFTER #lobby msgid={ids[2]} 10"))
    assert texts(inner) == ["after"]
    # The split message comes back in the same pieces with the same msgids.
    inner = batch(alice.said("CHATHISTORY LATEST #lobby * 10"))
    assert [re.sub(r"time=[^;]+;", "", line) for line in inner] == \
        [re.sub(r"time=[^;]+;", "", line) for line in seen]


def test_actions_and_notices(server):
    """Actions and notices come back as they were sent."""
    alice = server.register("alice", caps=FULL)
    bob = server.register("bob")
    server.joined("#room", alice, bob)
    bob.line("PRIVMSG #room :\x01ACTION waves\x01")
    bob.line("NOTICE #room :heads up")
    live = alice.take()
    assert batch(alice.said("CHATHISTORY LATEST #room * 10")) == live


# CHATHISTORY: what the client negotiated

def test_event_playback(server):
    """With draft/event-playback, joins, parts, quits, kicks, nicks, topics and modes come back too, as they were shown."""
    alice = server.register("alice", caps=PLAYBACK)
    bob = server.register("bob")
    carol = server.register("carol")
    server.joined("#room", alice, bob, carol)
    live = []
    for who, line in ((bob, "PRIVMSG #room :hi"), (alice, "TOPIC #room :the topic"),
                      (bob, "NICK robert"), (bob, "PART #room :bye"),
                      (alice, "MODE #room +k sesame"), (alice, "KICK #room carol :out")):
        server.clock.advance(1)
        who.line(line)
        live += alice.take()
    dave = server.register("dave")
    dave.line("JOIN #room sesame")
    server.clock.advance(1)
    dave.line("QUIT :gone")
    live += alice.take()
    commands = [line.split(" ")[2] for line in live]
    assert commands == ["PRIVMSG", "TOPIC", "NICK", "PART", "MODE", "KICK", "JOIN", "QUIT"]
    inner = batch(alice.said("CHATHISTORY AFTER #room timestamp=2023-11-14T22:13:20.000Z 100"))
    # The room's password is not kept: history shows it as *.
    expected = [line.replace("+k sesame", "+k *") for line in live]
    assert inner[-len(live):] == expected
    assert [line.split(" ")[2] for line in inner[:-len(live)]] == ["JOIN", "JOIN", "JOIN"]


def test_no_playback_only_messages(server):
    """Without draft/event-playback only PRIVMSG and NOTICE come back."""
    alice = server.register("alice", caps=FULL)
    bob = server.register("bob")
    server.joined("#room", alice, bob)
    for who, line in ((alice, "TOPIC #room :t"), (bob, "PRIVMSG #room :one"),
                      (bob, "NICK robert"), (bob, "NOTICE #room :two"), (bob, "PART #room")):
        server.clock.advance(1)
        who.line(line)
    inner = batch(alice.said("CHATHISTORY LATEST #room * 100"))
    assert [line.split(" ")[2] for line in inner] == ["PRIVMSG", "NOTICE"]
    assert texts(inner) == ["one", "two"]


def test_without_batch_or_tags(server):
    """Without batch the lines come bare; without server-time or message-tags, without those tags."""
    bare = server.register("alice", caps=("draft/chathistory",))
    bob = server.register("bob")
    server.joined("#room", bare, bob)
    chat(server, bob, "#room", "one", "two")
    assert bare.said("CHATHISTORY LATEST #room * 10") == [
        f":{BOB} PRIVMSG #room :one", f":{BOB} PRIVMSG #room :two"]
    tagged = server.register("carol", caps=("draft/chathistory", "message-tags"))
    tagged.line("JOIN #room")
    lines = tagged.said("CHATHISTORY LATEST #room * 10")
    assert [re.sub(r"^@msgid=\d+ ", "", line) for line in lines] == [
        f":{BOB} PRIVMSG #room :one", f":{BOB} PRIVMSG #room :two"]


def test_nothing_to_return_is_an_empty_batch(server):
    """A room with no history matching gives an empty batch."""
    alice = server.register("alice", caps=FULL)
    alice.line("JOIN #quiet")
    assert batch(alice.said("CHATHISTORY LATEST #quiet * 10"), "chathistory", "#quiet") == []
    assert alice.said("CHATHISTORY BEFORE #quiet timestamp=2000-01-01T00:00:00.000Z 10")[1:] \
        == [":chatservice BATCH -h2"]


def test_room_name_canonical(server, talk):
    """The batch names the room as it is written, whatever case the client used."""
    alice, _, _ = talk
    assert len(batch(alice.said("CHATHISTORY LATEST #ROOM * 2"), "chathistory", "#room")) == 2


def test_private_targets_without_account_are_empty(server):
    """Without an account nothing private is kept: a nick (or *) gives an empty batch, named as the client asked."""
    alice = server.register("alice", caps=FULL)
    server.register("Bob")
    alice.line("PRIVMSG bob :psst")
    assert batch(alice.said("CHATHISTORY LATEST bob * 10"), "chathistory", "bob") == []
    assert batch(alice.said("CHATHISTORY LATEST nobody * 10"), "chathistory", "nobody") == []
    assert batch(alice.said("CHATHISTORY LATEST * * 10"), "chathistory", "*") == []
    assert alice.said("CHATHISTORY LATEST a!b * 10") == [
        ":chatservice FAIL CHATHISTORY INVALID_TARGET LATEST a!b :Messages could not be retrieved"]


def test_targets(server):
    """TARGETS lists the rooms one is in that had messages in the time given, earliest first."""
    alice = server.register("alice", caps=FULL)
    bob = server.register("bob")
    server.joined("#one", alice, bob)
    server.joined("#two", alice, bob)
    server.joined("#three", bob)
    chat(server, bob, "#two", "a")
    chat(server, bob, "#one", "b")
    chat(server, bob, "#three", "c")
    lines = alice.said("CHATHISTORY TARGETS timestamp=2023-11-14T22:00:00.000Z "
                       "timestamp=2023-11-15T00:00:00.000Z 10")
    assert batch(lines, "draft/chathistory-targets") == [
        ":chatservice CHATHISTORY TARGETS #two 2023-11-14T22:13:21.250Z",
        ":chatservice CHATHISTORY TARGETS #one 2023-11-14T22:13:22.250Z"]
    lines = alice.said("CHATHISTORY TARGETS timestamp=2023-11-15T00:00:00.000Z "
                       "timestamp=2023-11-14T22:00:00.000Z 1")
    assert len(batch(lines, "draft/chathistory-targets")) == 1
    assert alice.said("CHATHISTORY TARGETS msgid=1 timestamp=2023-11-15T00:00:00.000Z 1") == [
        ":chatservice FAIL CHATHISTORY INVALID_PARAMS TARGETS msgid=1 :TARGETS takes timestamps"]
    assert alice.said("CHATHISTORY TARGETS timestamp=2023-11-15T00:00:00.000Z 1") == [
        ":chatservice FAIL CHATHISTORY INVALID_PARAMS TARGETS :Insufficient parameters"]


# CHATHISTORY: hostile input

@pytest.mark.parametrize("limit", ["0", "-1", "abc", "+5", "1.5", "\uff11", "0x10", "00"])
def test_bad_limits(server, talk, limit):
    """A limit that is not a positive decimal number is refused."""
    alice, _, _ = talk
    assert alice.said(f"CHATHISTORY LATEST #room * {limit}") == [
        f":chatservice FAIL CHATHISTORY INVALID_PARAMS LATEST {limit} :Invalid limit"]


def test_huge_limits_clamped(server):
    """Limits above the maximum (or absurdly long) are brought down to it."""
    alice = server.register("alice", caps=FULL)
    alice.line("JOIN #room")
    user = server.hub.find_user("alice")
    for number in range(MAX_LIMIT + 5):
        server.hub.say(user, "#room", f"n{number}")
    alice.take()
    for limit in ("1001", "99999999999999999999", "9" * 400):
        inner = batch(alice.said(f"CHATHISTORY LATEST #room * {limit}"))
        assert len(inner) == MAX_LIMIT
        assert texts(inner)[-1] == f"n{MAX_LIMIT + 4}" and texts(inner)[0] == "n5"


@pytest.mark.parametrize("reference, code, context, description", [
    ("msgid=", "INVALID_PARAMS", "LATEST msgid=", "Invalid msgid"),
    ("msgid=abc", "INVALID_PARAMS", "LATEST msgid=abc", "Invalid msgid"),
    ("msgid=12.x", "INVALID_PARAMS", "LATEST msgid=12.x", "Invalid msgid"),
    ("msgid=-5", "INVALID_PARAMS", "LATEST msgid=-5", "Invalid msgid"),
    ("msgid=99999999999999999999999", "INVALID_PARAMS", "LATEST msgid=99999999999999999999999",
     "Invalid msgid"),
    ("msgid=\uff11\uff12", "INVALID_PARAMS", "LATEST msgid=\uff11\uff12", "Invalid msgid"),
    ("timestamp=", "INVALID_PARAMS", "LATEST timestamp=", "Invalid timestamp"),
    ("timestamp=garbage", "INVALID_PARAMS", "LATEST timestamp=garbage", "Invalid timestamp"),
    ("timestamp=9999-99-99T00:00:00.000Z", "INVALID_PARAMS",
     "LATEST timestamp=9999-99-99T00:00:00.000Z", "Invalid timestamp"),
    ("timestamp=2023-11-14T22:13:20.250", "INVALID_PARAMS",
     "LATEST timestamp=2023-11-14T22:13:20.250", "Invalid timestamp"),
    ("timestamp=2023-02-30T00:00:00.000Z", "INVALID_PARAMS",
     "LATEST timestamp=2023-02-30T00:00:00.000Z", "Invalid timestamp"),
    ("garbage", "INVALID_PARAMS", "LATEST garbage", "Invalid message reference"),
    ("foo=bar", "INVALID_MSGREFTYPE", "LATEST #room foo",
     "Unknown message reference type; use timestamp= or msgid="),
])
def test_bad_references(server, talk, reference, code, context, description):
    """Malformed references are refused, and unknown kinds of reference are named as such."""
    alice, _, _ = talk
    assert alice.said(f"CHATHISTORY LATEST #room {reference} 10") == [
        f":chatservice FAIL CHATHISTORY {code} {context} :{description}"]


def test_star_only_where_allowed(server, talk):
    """* stands for no reference only in LATEST (and BEFORE)."""
    alice, _, _ = talk
    for subcommand in ("AFTER", "AROUND"):
        assert alice.said(f"CHATHISTORY {subcommand} #room * 10") == [
            f":chatservice FAIL CHATHISTORY INVALID_PARAMS {subcommand} * "
            ":Invalid message reference"]


def test_bad_shapes(server, talk):
    """Unknown subcommands, missing and excess parameters are refused."""
    alice, _, _ = talk
    assert alice.said("CHATHISTORY") == [
        ":chatservice FAIL CHATHISTORY INVALID_PARAMS * :Unknown command"]
    assert alice.said("CHATHISTORY FETCH #room * 10") == [
        ":chatservice FAIL CHATHISTORY INVALID_PARAMS FETCH :Unknown command"]
    assert alice.said("CHATHISTORY LATEST #room *") == [
        ":chatservice FAIL CHATHISTORY INVALID_PARAMS LATEST :Insufficient parameters"]
    assert alice.said("CHATHISTORY BETWEEN #room * 10") == [
        ":chatservice FAIL CHATHISTORY INVALID_PARAMS BETWEEN :Insufficient parameters"]
    assert alice.said("CHATHISTORY LATEST #room * 10 more") == [
        ":chatservice FAIL CHATHISTORY INVALID_PARAMS LATEST :Too many parameters"]
    # A subcommand in any case works.
    assert len(batch(alice.said("CHATHISTORY latest #room * 2"))) == 2


def test_long_parameters_echoed_short(server, talk):
    """What a FAIL repeats of the client's line is cut short, and never breaks the line."""
    alice, _, _ = talk
    reply, = alice.said("CHATHISTORY LATEST #room timestamp=" + "x" * 400 + " 10")
    assert reply == (":chatservice FAIL CHATHISTORY INVALID_PARAMS LATEST timestamp="
                     + "x" * 54 + " :Invalid timestamp")
    reply, = alice.said("CHATHISTORY " + "Y" * 300)
    assert reply == f":chatservice FAIL CHATHISTORY INVALID_PARAMS {'Y' * 64} :Unknown command"


REFUSED = ":chatservice FAIL CHATHISTORY INVALID_TARGET LATEST {} :Messages could not be retrieved"


def test_rooms_one_may_not_read(server):
    """Rooms one is not in (secret, closed or open alike), rooms that do not exist and names that cannot be rooms are all refused with INVALID_TARGET."""
    owner = server.register("owner", caps=FULL)
    for room, modes in (("#secret", "+s"), ("#invite", "+i"), ("#keyed", "+k sesame"),
                        ("#banned", "+b eve!*@*")):
        owner.line(f"JOIN {room}")
        owner.line(f"MODE {room} {modes}")
        owner.line(f"PRIVMSG {room} :private words")
    owner.take()
    eve = server.register("eve", caps=FULL)
    for room in ("#invite", "#keyed", "#banned", "#", "#a,b", "#" + "x" * 300,
                 "#secret", "#nonexistent"):
        assert eve.said(f"CHATHISTORY LATEST {room} * 10") == [REFUSED.format(room[:64])]
    # Members read their own rooms.
    for room in ("#secret", "#invite", "#keyed", "#banned"):
        assert texts(batch(owner.said(f"CHATHISTORY LATEST {room} * 10"))) == ["private words"]


def test_open_room_readable_once_joined(server, talk):
    """An open room is read by its members only: refused before joining, all of it after (the core's rule)."""
    outsider = server.register("zoe", caps=FULL)
    assert outsider.said("CHATHISTORY LATEST #room * 5") == [REFUSED.format("#room")]
    outsider.line("JOIN #room")
    outsider.take()
    assert len(batch(outsider.said("CHATHISTORY LATEST #room * 5"))) == 5
    outsider.line("PART #room")
    outsider.take()
    assert outsider.said("CHATHISTORY LATEST #room * 5") == [REFUSED.format("#room")]


def test_since_join_visibility():
    """Under since-join visibility, a room one is not in is refused, and one sees only from one's join."""
    server = history_server(since_join=True)
    bob = server.register("bob")
    bob.line("JOIN #room")
    chat(server, bob, "#room", "early")
    alice = server.register("alice", caps=FULL)
    assert alice.said("CHATHISTORY LATEST #room * 10") == [REFUSED.format("#room")]
    alice.line("JOIN #room")
    chat(server, bob, "#room", "late")
    alice.take()
    assert texts(batch(alice.said("CHATHISTORY LATEST #room * 10"))) == ["late"]


def test_rate_limited(server, talk):
    """After the burst, history requests are refused until the bucket refills."""
    alice, _, _ = talk
    for _ in range(20):
        assert alice.said("CHATHISTORY LATEST #room * 1")[0].startswith(":chatservice BATCH +")
    assert alice.said("CHATHISTORY LATEST #room * 1") == [
        ":chatservice FAIL CHATHISTORY MESSAGE_ERROR LATEST #room "
        ":Too many history requests; try again in 1 s."]
    server.clock.advance(1)
    assert alice.said("CHATHISTORY LATEST #room * 1")[0].startswith(":chatservice BATCH +")


# Answers that come later

class SlowStore(MemoryStore):
    """A memory store whose reads answer only when told to."""

    def __init__(self, clock):
        super().__init__(clock)
        self.waiting: list[tuple[Deferred, object]] = []

    def _later(self, answer: Deferred) -> Deferred:
        later: Deferred = Deferred()
        self.waiting.append((later, answer.result))
        return later

    def query(self, room, query):
        return self._later(super().query(room, query))

    def search(self, room, words, limit, floor=0):
        return self._later(super().search(room, words, limit, floor))

    def targets(self, rooms, start, end, limit):
        return self._later(super().targets(rooms, start, end, limit))

    def answer(self) -> None:
        waiting, self.waiting = self.waiting, []
        for deferred, result in waiting:
            deferred.callback(result)


class BrokenStore(MemoryStore):
    """A memory store whose reads all fail."""

    def query(self, room, query):
        return fail(RuntimeError("disk on fire"))

    search = targets = lambda self, *arguments: fail(RuntimeError("disk on fire"))


def test_answer_after_disconnect_is_dropped():
    """History that arrives after the client hung up is not sent, and nothing breaks."""
    store = SlowStore(None)
    server = history_server(store=store)
    store.clock = server.clock
    alice = server.register("alice", caps=FULL)
    bob = server.register("bob")
    server.joined("#room", alice, bob)
    store.answer()
    chat(server, bob, "#room", "one")
    alice.take()
    alice.line("CHATHISTORY LATEST #room * 10")
    alice.line("SEARCH in=#room;text=one")
    # The SEARCH waits for the CHATHISTORY's answer: answers come in order.
    assert alice.take() == [] and len(store.waiting) == 1
    alice.lose()
    store.answer()
    assert alice.transport.value() == b""


def test_quit_waits_for_the_answer_before_it():
    """A QUIT sent while history is being read is handled after the history is sent."""
    store = SlowStore(None)
    server = history_server(store=store)
    alice = server.register("alice", caps=FULL)
    alice.line("JOIN #room")
    alice.line("CHATHISTORY LATEST #room * 10")
    alice.line("QUIT :bye")
    alice.take()
    assert not alice.closed
    store.answer()
    lines = alice.take()
    assert lines[0].endswith("BATCH +h1 chathistory #room") and "ERROR" in lines[-1]
    assert alice.closed


def test_answer_arrives_later(server):
    """History read later is sent when it arrives, live lines having gone first."""
    store = SlowStore(None)
    server = history_server(store=store)
    alice = server.register("alice", caps=FULL)
    bob = server.register("bob")
    server.joined("#room", alice, bob)
    chat(server, bob, "#room", "one")
    alice.take()
    alice.line("CHATHISTORY LATEST #room * 10")
    chat(server, bob, "#room", "two")
    assert texts(alice.take()) == ["two"]
    store.answer()
    assert texts(batch(alice.take())) == ["one"]


def test_store_failure_is_message_error():
    """A read that fails is answered MESSAGE_ERROR (CHATHISTORY) or INTERNAL_ERROR (SEARCH)."""
    server = history_server(store=BrokenStore(None))
    alice = server.register("alice", caps=FULL)
    alice.line("JOIN #room")
    alice.take()
    assert alice.said("CHATHISTORY LATEST #room * 10") == [
        ":chatservice FAIL CHATHISTORY MESSAGE_ERROR LATEST #room "
        ":Messages could not be retrieved"]
    assert alice.said("CHATHISTORY TARGETS timestamp=2023-11-14T22:00:00.000Z "
                      "timestamp=2023-11-15T00:00:00.000Z 10") == [
        ":chatservice FAIL CHATHISTORY MESSAGE_ERROR TARGETS * :Messages could not be retrieved"]
    assert alice.said("SEARCH in=#room;text=x") == [
        ":chatservice FAIL SEARCH INTERNAL_ERROR :The search could not be run"]


# Long lines

TAGGED = re.compile(rb"^(@[^ ]+ )?(.*)$", re.S)


def check_lines(data: bytes) -> None:
    """Every line ends in CR LF, its tags within 4096 bytes and the rest within 512."""
    assert data.endswith(b"\r\n")
    for line in data[:-2].split(b"\r\n"):
        tags, body = TAGGED.match(line).groups()
        assert len(tags or b"") <= 4096
        assert len(body) + 2 <= 512, line


def test_long_messages_stay_within_limits(server):
    """Long messages (from a line user), long nicks and room names come back within IRC's limits."""
    alice = server.register("alice", caps=PLAYBACK)
    room = "#" + "r" * 49
    alice.line(f"JOIN {room}")
    walt = server.sign_in_line("w" * 30)
    walt.line(f"/join {room}")
    walt.line("\u00e9" * 900)
    walt.line(f"/topic {'t' * 400}")
    walt.line(f"/me {'z' * 600}")
    alice.take()
    alice.line(f"CHATHISTORY LATEST {room} * 100")
    data = alice.raw()
    check_lines(data)
    inner = batch(alice.take(), "chathistory", room)
    said = [line for line in inner if "PRIVMSG" in line and "\x01" not in line]
    assert len(said) > 1 and "".join(texts(said)) == "\u00e9" * 900


# Played back on JOIN

def test_replay_on_join_in_a_batch(server):
    """A client without draft/chathistory gets the last messages on joining, in a batch if it takes them."""
    bob = server.register("bob")
    bob.line("JOIN #room")
    chat(server, bob, "#room", *(f"m{n}" for n in range(20)))
    bob.line("TOPIC #room :a topic")
    carol = server.register("carol", caps=("batch", "server-time"))
    lines = carol.said("JOIN #room")
    assert lines[0].endswith("JOIN #room")
    names_end = next(n for n, line in enumerate(lines) if " 366 " in line)
    assert " 332 " in lines[1]
    inner = batch(lines[names_end + 1:], "chathistory", "#room")
    assert texts(inner) == [f"m{n}" for n in range(5, 20)]
    assert inner[0] == f"@time=2023-11-14T22:13:26.250Z :{BOB} PRIVMSG #room :m5"


def test_replay_on_join_bare(server):
    """Without batch, the messages come as plain lines, with their time if server-time."""
    bob = server.register("bob")
    bob.line("JOIN #room")
    chat(server, bob, "#room", "one", "two")
    dave = server.register("dave")
    lines = dave.said("JOIN #room")
    assert lines[-2:] == [f":{BOB} PRIVMSG #room :one", f":{BOB} PRIVMSG #room :two"]
    erin = server.register("erin", caps=("server-time",))
    lines = erin.said("JOIN #room")
    assert lines[-1] == f"@time=2023-11-14T22:13:22.250Z :{BOB} PRIVMSG #room :two"


def test_no_replay_for_chathistory_clients(server):
    """A client that negotiated draft/chathistory fetches history itself: nothing is replayed."""
    bob = server.register("bob")
    bob.line("JOIN #room")
    chat(server, bob, "#room", "one")
    alice = server.register("alice", caps=("draft/chathistory",))
    lines = alice.said("JOIN #room")
    assert " 366 " in lines[-1]


def test_replay_lines_setting():
    """The number of lines replayed is the server's setting; 0 replays nothing."""
    for setting, expected in ((3, ["m2", "m3", "m4"]), (0, [])):
        server = history_server(replay_lines=setting)
        bob = server.register("bob")
        bob.line("JOIN #room")
        chat(server, bob, "#room", *(f"m{n}" for n in range(5)))
        lines = server.register("carol").said("JOIN #room")
        assert texts(lines) == expected


def test_replay_only_messages_and_not_for_new_rooms(server):
    """Only messages are replayed; a new room replays nothing."""
    bob = server.register("bob")
    lines = bob.said("JOIN #fresh")
    assert " 366 " in lines[-1]
    chat(server, bob, "#fresh", "hello")
    bob.line("TOPIC #fresh :t")
    server.register("xavier").line("JOIN #fresh")
    lines = server.register("carol").said("JOIN #fresh")
    assert texts(lines) == ["hello"] and not any(" JOIN " in line for line in lines[1:])


def test_rejoin_replays_only_what_was_missed(server):
    """A client that left by PART and comes back is not shown again what it saw live."""
    bob = server.register("bob")
    bob.line("JOIN #room")
    chat(server, bob, "#room", "before")
    carol = server.register("carol")
    assert texts(carol.said("JOIN #room")) == ["before"]
    chat(server, bob, "#room", "seen live")
    carol.line("PART #room")
    chat(server, bob, "#room", "missed")
    assert texts(carol.said("JOIN #room")) == ["missed"]
    carol.line("JOIN 0")
    assert texts(carol.said("JOIN #room")) == []
    # Kicked, the client did not say when it left: the replay is whole again.
    bob.line("KICK #room carol")
    assert texts(carol.said("JOIN #room")) == ["before", "seen live", "missed"]


def test_replay_problems_are_silent():
    """A replay that fails says nothing; under since-join visibility there is nothing before one's join."""
    server = history_server(store=BrokenStore(None))
    bob = server.register("bob")
    lines = bob.said("JOIN #room")
    assert " 366 " in lines[-1]
    server = history_server(since_join=True)
    bob = server.register("bob")
    bob.line("JOIN #room")
    chat(server, bob, "#room", "one")
    assert " 366 " in server.register("carol").said("JOIN #room")[-1]


def test_replay_after_leaving_is_dropped():
    """A replay that arrives after the client left the room (or hung up) is not sent."""
    store = SlowStore(None)
    server = history_server(store=store)
    bob = server.register("bob")
    bob.line("JOIN #room")
    store.answer()
    chat(server, bob, "#room", "one")
    carol = server.register("carol")
    carol.line("JOIN #room")
    carol.line("PART #room")
    carol.take()
    store.answer()
    assert carol.take() == []
    dave = server.register("dave")
    dave.line("JOIN #room")
    dave.lose()
    store.answer()
    assert b"PRIVMSG" not in dave.transport.value()


# SEARCH

@pytest.fixture
def searcher(server):
    alice = server.register("alice", caps=FULL + ("soju.im/search",))
    bob = server.register("bob")
    carol = server.register("carol")
    server.joined("#room", alice, bob, carol)
    chat(server, bob, "#room", "the cat sat", "a dog ran", "Cat and dog")
    chat(server, carol, "#room", "no CAT here?")
    alice.take()
    return alice


def test_search(server, searcher):
    """SEARCH finds the messages containing every word, case-insensitively, in a soju.im/search batch."""
    inner = batch(searcher.said("SEARCH in=#room;text=cat"), "soju.im/search")
    assert texts(inner) == ["the cat sat", "Cat and dog", "no CAT here?"]
    assert all(re.match(r"@time=\S+;msgid=\d+ :", line) for line in inner)
    assert texts(batch(searcher.said("SEARCH text=cat\\sdog;in=#room"),
                       "soju.im/search")) == ["Cat and dog"]
    # Spaces may also come unescaped, in a trailing parameter or not.
    assert texts(batch(searcher.said("SEARCH :in=#room;text=dog cat"),
                       "soju.im/search")) == ["Cat and dog"]
    assert texts(batch(searcher.said("SEARCH in=#room;text=dog cat"),
                       "soju.im/search")) == ["Cat and dog"]
    assert batch(searcher.said("SEARCH in=#room;text=zebra"), "soju.im/search") == []


def test_search_attributes(server, searcher):
    """from=, after=, before= and limit= narrow the search; without text, the latest messages match."""
    assert texts(batch(searcher.said("SEARCH in=#room;text=cat;from=CAROL"),
                       "soju.im/search")) == ["no CAT here?"]
    assert texts(batch(searcher.said("SEARCH in=#room;text=cat;limit=1"),
                       "soju.im/search")) == ["no CAT here?"]
    # The messages were said at :21.250, :22.250, :23.250 and :24.250.
    assert texts(batch(searcher.said(
        "SEARCH in=#room;text=cat;after=2023-11-14T22:13:22.250Z"), "soju.im/search")) == \
        ["Cat and dog", "no CAT here?"]
    assert texts(batch(searcher.said(
        "SEARCH in=#room;text=cat;before=2023-11-14T22:13:23.250Z"), "soju.im/search")) == \
        ["the cat sat", "Cat and dog"]
    assert texts(batch(searcher.said("SEARCH in=#room;from=bob;limit=2"),
                       "soju.im/search")) == ["a dog ran", "Cat and dog"]
    assert texts(batch(searcher.said(
        "SEARCH in=#room;after=2023-11-14T22:13:22.000Z;limit=2"), "soju.im/search")) == \
        ["a dog ran", "Cat and dog"]
    assert texts(batch(searcher.said(
        "SEARCH in=#room;before=2023-11-14T22:13:22.250Z"), "soju.im/search")) == \
        ["the cat sat", "a dog ran"]


def test_search_limits():
    """At most 20 results unless limit= says otherwise, and never more than 100."""
    server = history_server()
    alice = server.register("alice", caps=FULL)
    alice.line("JOIN #room")
    user = server.hub.find_user("alice")
    for number in range(150):
        server.hub.say(user, "#room", f"word {number}")
    alice.take()
    assert len(batch(alice.said("SEARCH in=#room;text=word"), "soju.im/search")) == 20
    inner = batch(alice.said("SEARCH in=#room;text=word;limit=500"), "soju.im/search")
    assert len(inner) == 100 and texts(inner)[-1] == "word 149"
    assert len(batch(alice.said(f"SEARCH in=#room;text=word;limit={'9' * 50}"),
                     "soju.im/search")) == 100


@pytest.mark.parametrize("line, reply", [
    ("SEARCH text=x", "INVALID_PARAMS in :Say where to search: in=#channel"),
    ("SEARCH", "INVALID_PARAMS in :Say where to search: in=#channel"),
    ("SEARCH in=#room;text=x;limit=0", "INVALID_PARAMS limit :Invalid limit"),
    ("SEARCH in=#room;text=x;limit=-3", "INVALID_PARAMS limit :Invalid limit"),
    ("SEARCH in=#room;text=x;limit=many", "INVALID_PARAMS limit :Invalid limit"),
    ("SEARCH in=#room;text=x;after=yesterday", "INVALID_PARAMS after :Invalid timestamp"),
    ("SEARCH in=#room;text=x;before=9999-99-99T00:00:00.000Z",
     "INVALID_PARAMS before :Invalid timestamp"),
    ("SEARCH in=a!b;text=x", "INVALID_PARAMS in :Cannot search there"),
])
def test_search_bad_input(server, searcher, line, reply):
    """Bad SEARCH attributes are refused with FAIL SEARCH."""
    assert searcher.said(line) == [f":chatservice FAIL SEARCH {reply}"]


def test_search_private_target_empty(server, searcher):
    """Private messages are not kept: searching a nick gives an empty batch."""
    assert batch(searcher.said("SEARCH in=bob;text=x"), "soju.im/search") == []


def test_search_refused_rooms(server):
    """Rooms one is not in are refused, secret or missing ones alike."""
    owner = server.register("owner")
    for room, modes in (("#secret", "+s"), ("#invite", "+i"), ("#keyed", "+k sesame")):
        owner.line(f"JOIN {room}")
        owner.line(f"MODE {room} {modes}")
        owner.line(f"PRIVMSG {room} :needle")
    eve = server.register("eve", caps=FULL)
    for room in ("#invite", "#keyed", "#secret", "#nowhere"):
        assert eve.said(f"SEARCH in={room};text=needle") == [
            ":chatservice FAIL SEARCH INVALID_PARAMS in :Cannot search there"]


def test_search_rate_limited(server, searcher):
    """SEARCH shares the history request budget."""
    for _ in range(20):
        searcher.said("SEARCH in=#room;text=cat")
    assert searcher.said("SEARCH in=#room;text=cat") == [
        ":chatservice FAIL SEARCH INTERNAL_ERROR :Too many history requests; try again in 1 s."]


def test_search_without_batch(server):
    """Without batch, results come as plain lines."""
    alice = server.register("alice", caps=("soju.im/search",))
    alice.line("JOIN #room")
    alice.line("PRIVMSG #room :findme")
    assert alice.said("SEARCH in=#room;text=findme") == [
        ":alice!~alice@1.2.3.4 PRIVMSG #room :findme"]


def test_commands_wait_for_a_pending_answer_in_order():
    """Commands sent while history is read are run after its answer, in order."""
    store = SlowStore(None)
    server = history_server(store=store)
    alice = server.register("alice", caps=FULL)
    alice.line("JOIN #room")
    alice.take()
    alice.line("CHATHISTORY LATEST #room * 10")
    alice.line("PING one")
    alice.line("PING two")
    assert alice.take() == []
    store.answer()
    lines = alice.take()
    assert lines[-2:] == [":chatservice PONG chatservice one", ":chatservice PONG chatservice two"]
    assert lines[0].endswith("BATCH +h1 chathistory #room")


def test_flood_behind_a_pending_answer_is_bounded():
    """A client that piles up more commands than the flood queue behind a pending answer is dropped."""
    store = SlowStore(None)
    server = history_server(store=store)
    alice = server.register("alice", caps=FULL)
    alice.line("JOIN #room")
    alice.line("CHATHISTORY LATEST #room * 10")
    for number in range(server.limits.flood_queue + 1):
        alice.line(f"PING {number}")
    assert alice.closed
    assert "Excess flood" in alice.take()[-1]
