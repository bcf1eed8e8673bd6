"""
Tests for draft/metadata: METADATA on users and channels, its limits, who
may read and write, and subscriptions.
"""

from __future__ import annotations

import pytest

from chatservice.core import metadata as core
from irc_helpers import MixedServer

MD = ("draft/metadata-3", "batch")


@pytest.fixture
def server():
    return MixedServer()


def body(lines: list[str]) -> list[str]:
    """The lines of a reply without batch markers and tags."""
    out = []
    for line in lines:
        if line.startswith("@"):
            line = line.split(" ", 1)[1]
        if " BATCH " not in line:
            out.append(line)
    return out


def test_capability_value_and_isupport(server):
    """CAP LS 302 gives the limits; ISUPPORT has METADATA."""
    client = server.connect()
    client.line("CAP LS 302")
    assert "draft/metadata-3=before-connect,max-subs=50,max-keys=20,max-value-bytes=300" in client.take()[0]
    alice = server.connect()
    alice.line("NICK alice")
    alice.line("USER alice 0 * :A")
    assert any(" METADATA=20 " in line for line in alice.take())


def test_set_get_list_unset(server):
    """A user sets, reads, lists and removes a key of their own."""
    alice = server.register("alice", MD)
    assert alice.said("METADATA * SET display-name :Alice A.") == [
        ":chatservice 761 alice alice display-name * :Alice A."]
    got = alice.said("METADATA alice GET display-name avatar")
    assert got[0].startswith(":chatservice BATCH +") and got[0].endswith(" metadata alice")
    assert body(got) == [":chatservice 761 alice alice display-name * :Alice A.",
                         ":chatservice 766 alice alice avatar :Key not set"]
    assert body(alice.said("METADATA * LIST")) == [
        ":chatservice 761 alice alice display-name * :Alice A."]
    assert alice.said("METADATA * SET display-name") == [
        ":chatservice 766 alice alice display-name :Key not set"]
    assert body(alice.said("METADATA * LIST")) == []


def test_others_cannot_write(server):
    """Nobody may set or clear another user's keys, nor a channel's unless its operator."""
    alice, bob = server.room("#c", "alice", "bob", caps=MD)
    bob.said("METADATA * SET color :red")
    assert alice.said("METADATA bob SET color :blue")[0].startswith(
        ":chatservice FAIL METADATA KEY_NO_PERMISSION bob color ")
    assert alice.said("METADATA bob CLEAR")[0].startswith(
        ":chatservice FAIL METADATA KEY_NO_PERMISSION bob * ")
    assert bob.said("METADATA #c SET topic-ish :x")[0].startswith(
        ":chatservice FAIL METADATA KEY_NO_PERMISSION #c topic-ish ")
    assert body(bob.said("METADATA * LIST")) == [":chatservice 761 bob bob color * red"]


def test_channel_keys_and_clear(server):
    """A channel operator sets channel keys; members read them; CLEAR removes them all."""
    alice, bob = server.room("#c", "alice", "bob", caps=MD)
    alice.said("METADATA #c SET display-name :Hash")
    alice.said("METADATA #c SET avatar :https://example.com/a.png")
    assert len(body(bob.said("METADATA #c LIST"))) == 2
    cleared = body(alice.said("METADATA #c CLEAR"))
    assert sorted(line.split()[4] for line in cleared) == ["avatar", "display-name"]


@pytest.mark.parametrize("value, code", [
    ("x" * 301, "INVALID_VALUE"),
    ("\U0001f49c" * 76, "INVALID_VALUE"),
    ("bad \ufffd utf-8", "INVALID_UTF8"),
])
def test_hostile_values_refused(server, value, code):
    """Over-long values and invalid UTF-8 are refused, and subscribers hear nothing."""
    alice, bob = server.room("#c", "alice", "bob", caps=MD)
    bob.said("METADATA * SUB display-name")
    answer = alice.said(f"METADATA * SET display-name :{value}")
    assert len(answer) == 1 and answer[0].startswith(f":chatservice FAIL METADATA {code} ")
    assert bob.take() == []


def test_invalid_utf8_bytes_refused(server):
    """Raw invalid UTF-8 on the wire never becomes a value."""
    alice = server.register("alice", MD)
    alice.take()
    alice.send(b"METADATA * SET display-name :bad \xc3 bytes\r\n")
    assert alice.take()[0].startswith(":chatservice FAIL METADATA INVALID_UTF8 ")


@pytest.mark.parametrize("key", ["UPPER", "-dash", "a:b", "k" * 65, "\u00e9t\u00e9"])
def test_invalid_keys(server, key):
    """Keys outside a-z 0-9 _ . / - (or too long) are refused."""
    alice = server.register("alice", MD)
    assert "KEY_INVALID" in alice.said(f"METADATA * SET {key} :v")[0]


def test_key_limit(server):
    """A target holds at most 20 keys."""
    alice = server.register("alice", MD)
    for number in range(core.MAX_KEYS):
        alice.said(f"METADATA * SET k{number} :v")
    assert alice.said("METADATA * SET one-more :v")[0].startswith(
        ":chatservice FAIL METADATA LIMIT_REACHED alice ")


def test_subscriptions(server):
    """A subscriber sharing a channel hears of sets and removals; a stranger hears nothing."""
    alice, bob = server.room("#c", "alice", "bob", caps=MD)
    carol = server.register("carol", MD)
    assert bob.said("METADATA * SUB display-name avatar") == [
        ":chatservice 770 bob display-name avatar"]
    carol.said("METADATA * SUB display-name")
    alice.said("METADATA * SET display-name :A")
    assert bob.take() == [":chatservice 761 bob alice display-name * A"]
    alice.said("METADATA * SET display-name")
    assert bob.take() == [":chatservice 766 bob alice display-name :Key not set"]
    assert carol.take() == []
    assert bob.said("METADATA * UNSUB avatar") == [":chatservice 771 bob avatar"]
    assert body(bob.said("METADATA * SUBS")) == [":chatservice 772 bob display-name"]


def test_subscription_limit(server):
    """At most 50 keys may be subscribed to."""
    alice = server.register("alice", MD)
    for start in range(0, core.MAX_SUBSCRIPTIONS, 10):
        alice.said("METADATA * SUB " + " ".join(f"k{n}" for n in range(start, start + 10)))
    answer = alice.said("METADATA * SUB k50")
    assert answer[0].startswith(":chatservice FAIL METADATA TOO_MANY_SUBS k50 ")


def test_join_sends_subscribed_keys(server):
    """Joining a channel brings the subscribed keys of the channel and its members."""
    alice, = server.room("#c", "alice", caps=MD)
    alice.said("METADATA * SET display-name :A")
    alice.said("METADATA #c SET display-name :Chan")
    bob = server.register("bob", MD)
    bob.said("METADATA * SUB display-name")
    values = [line for line in body(bob.said("JOIN #c")) if " 761 " in line]
    assert values == [":chatservice 761 bob #c display-name * Chan",
                      ":chatservice 761 bob alice display-name * A"]


def test_invite_only_channel_not_leaked(server):
    """Outsiders cannot read an invite-only channel's keys by GET, LIST or SYNC."""
    alice, = server.room("#c", "alice", caps=MD)
    alice.said("METADATA #c SET display-name :Secret Name")
    alice.said("MODE #c +i")
    bob = server.register("bob", MD)
    for sub in ("GET display-name", "LIST", "SYNC"):
        answer = bob.said(f"METADATA #c {sub}")
        assert answer and not any("Secret Name" in line for line in answer)


def test_whois_shows_keys(server):
    """WHOIS lists a user's keys as 760 for clients with the capability."""
    alice, bob = server.room("#c", "alice", "bob", caps=MD)
    alice.said("METADATA * SET display-name :A")
    assert ":chatservice 760 bob alice display-name * A" in bob.said("WHOIS alice")


def test_invalid_target_and_subcommand(server):
    """Unknown targets and subcommands get standard replies."""
    alice = server.register("alice", MD)
    assert alice.said("METADATA nobody LIST")[0].startswith(
        ":chatservice FAIL METADATA INVALID_TARGET nobody ")
    assert alice.said("METADATA * FROB")[0].startswith(
        ":chatservice FAIL METADATA SUBCOMMAND_INVALID FROB ")


def test_metadata_gone_with_connection(server):
    """A user's keys go when they disconnect: the next holder of the nick starts empty."""
    alice = server.register("alice", MD)
    alice.said("METADATA * SET display-name :A")
    alice.line("QUIT")
    again = server.register("alice", MD)
    assert body(again.said("METADATA * LIST")) == []


def test_before_connect(server):
    """Keys set before registering are the user's once registered, and shown in the burst."""
    client = server.connect()
    client.line("CAP LS 302")
    client.line("CAP REQ :draft/metadata-3 batch")
    client.take()
    assert client.said("METADATA * SET display-name :Early") == [
        ":chatservice 761 * * display-name * Early"]
    assert client.said("METADATA bob GET x")[0].startswith(
        ":chatservice FAIL METADATA INVALID_TARGET bob ")
    client.line("NICK early")
    client.line("USER early 0 * :E")
    burst = body(client.said("CAP END"))
    assert ":chatservice 761 early early display-name * Early" in burst
    assert body(client.said("METADATA * LIST")) == [
        ":chatservice 761 early early display-name * Early"]


def test_before_connect_needs_capability(server):
    """Without the capability, METADATA before registering sets nothing."""
    client = server.connect()
    assert "INVALID_TARGET" in client.said("METADATA * SET a :b")[0]
