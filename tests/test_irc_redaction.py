"""
Tests for message redaction (IRCv3 draft/message-redaction) and channel
renaming (draft/channel-rename): the hub operations, IRC's REDACT and
RENAME, and what line users see.
"""

from __future__ import annotations

import re

import pytest

from chatservice.core import errors
from chatservice.store.memory import MemoryStore
from chatservice.core.operators import Operators
from irc_helpers import MixedServer, cheap_hash

REDACT = ("message-tags", "echo-message", "batch", "draft/message-redaction",
          "draft/chathistory", "labeled-response")
START = 1700000000.25


@pytest.fixture
def server():
    server = MixedServer()
    server.clock.advance(START)
    server.hub.attach_store(MemoryStore(server.clock))
    return server


def _msgid(line: str) -> str:
    return re.search(r"msgid=([0-9.]+)", line).group(1)


def _history(client, room: str) -> list[str]:
    return [line for line in client.said(f"CHATHISTORY LATEST {room} * 10")
            if " PRIVMSG " in line]


def test_capabilities_offered_with_history(server):
    """CAP LS offers draft/message-redaction (with history) and draft/channel-rename."""
    client = server.connect()
    client.line("CAP LS 302")
    offered = client.take()[0].split(":", 2)[2].split()
    assert "draft/message-redaction" in offered and "draft/channel-rename" in offered


def test_redaction_not_offered_without_history():
    """Without history, neither the capability nor the command exists."""
    server = MixedServer()
    alice = server.register("alice")
    client = server.connect()
    client.line("CAP LS 302")
    assert "draft/message-redaction" not in client.take()[0]
    assert " 421 " in alice.said("REDACT #x 1")[0]


def test_sender_redacts_own_message(server):
    """The sender redacts their message: everyone with the capability gets REDACT, and history loses it."""
    alice, bob = server.room("#r", "alice", "bob", caps=REDACT)
    msgid = _msgid(alice.said("PRIVMSG #r :oops")[0])
    bob.take()
    echo = alice.said(f"REDACT #r {msgid} :typo")
    assert len(echo) == 1 and echo[0].endswith(f"REDACT #r {msgid} typo")
    assert bob.take()[0].endswith(f"REDACT #r {msgid} typo")
    assert _history(bob, "#r") == []


def test_operator_redacts_others(server):
    """A room operator may redact someone else's message."""
    alice, bob = server.room("#r", "alice", "bob", caps=REDACT)
    msgid = _msgid(bob.said("PRIVMSG #r :spam")[0])
    alice.take()
    assert alice.said(f"REDACT #r {msgid}")[0].endswith(f"REDACT #r {msgid}")


def test_server_operator_redacts_others():
    """A server operator may redact any message in a room they are in."""
    server = MixedServer(operators=Operators({"op": cheap_hash("secret")}))
    server.hub.attach_store(MemoryStore(server.clock))
    alice, bob, carol = server.room("#r", "alice", "bob", "carol", caps=REDACT)
    carol.said("OPER op secret")
    msgid = _msgid(bob.said("PRIVMSG #r :spam")[0])
    assert carol.said(f"REDACT #r {msgid}")[-1].endswith(f"REDACT #r {msgid}")


def test_others_cannot_redact(server):
    """Someone who is neither the sender nor an operator gets REDACT_FORBIDDEN and nobody is told."""
    alice, bob = server.room("#r", "alice", "bob", caps=REDACT)
    msgid = _msgid(alice.said("PRIVMSG #r :mine")[0])
    bob.take()
    assert bob.said(f"REDACT #r {msgid}") == [
        f":chatservice FAIL REDACT REDACT_FORBIDDEN #r {msgid} "
        ":You are not allowed to redact that message"]
    assert alice.take() == []
    assert len(_history(bob, "#r")) == 1


def test_unknown_and_garbage_msgids(server):
    """An unknown, non-numeric, negative or huge msgid gets UNKNOWN_MSGID."""
    alice, = server.room("#r", "alice", caps=REDACT)
    for msgid in ("12345", "nonsense", "-5", "9" * 40, "\u0663\u0664"):
        answer = alice.said(f"REDACT #r {msgid}")
        assert answer[0].startswith(":chatservice FAIL REDACT UNKNOWN_MSGID #r "), answer


def test_invalid_target(server):
    """A room one is not in, or a nick, gets INVALID_TARGET."""
    alice = server.register("alice", REDACT)
    server.room("#other", "bob")
    for target in ("#nowhere", "#other", "bob"):
        assert alice.said(f"REDACT {target} 1")[0].startswith(
            f":chatservice FAIL REDACT INVALID_TARGET {target} ")


def test_clients_without_capability_not_told(server):
    """A member without the capability gets no REDACT line."""
    alice, = server.room("#r", "alice", caps=REDACT)
    bob = server.register("bob", ("message-tags",))
    server.joined("#r", bob)
    msgid = _msgid(alice.said("PRIVMSG #r :x")[0])
    bob.take()
    alice.said(f"REDACT #r {msgid}")
    assert bob.take() == []


def test_line_user_is_told(server):
    """A line user in the room is told that a message was removed, with the reason."""
    alice, = server.room("#lobby", "alice", caps=REDACT)
    carol = server.sign_in_line("carol")
    msgid = _msgid(alice.said("PRIVMSG #lobby :x")[0])
    carol.take()
    alice.said(f"REDACT #lobby {msgid} :wrong room")
    assert carol.take() == ["*** alice removed a message from #lobby (wrong room)"]


def test_line_users_message_can_be_redacted(server):
    """A line user's message is redacted by a room operator on IRC like any other."""
    alice, = server.room("#lobby", "alice", caps=REDACT)
    carol = server.sign_in_line("carol")
    carol.line("hello from the terminal")
    msgid = _msgid(alice.take()[-1])
    assert alice.said(f"REDACT #lobby {msgid}")[0].endswith(f"REDACT #lobby {msgid}")
    assert _history(alice, "#lobby") == []


def test_piece_msgid_redacts_whole_message(server):
    """A long message's piece id (id.1) redacts the whole message."""
    alice, = server.room("#r", "alice", caps=REDACT)
    msgid = _msgid(alice.said("PRIVMSG #r :x")[0])
    assert alice.said(f"REDACT #r {msgid}.1")[0].endswith(f"REDACT #r {int(msgid)}")


def test_hub_redact_needs_membership(server):
    """The hub refuses at once to redact in a room one is not in."""
    server.register("alice")
    server.room("#r", "bob")
    with pytest.raises(errors.NotInRoom):
        server.hub.redact(server.hub.find_user("alice"), "#r", 1)


# Renaming

def test_rename_with_capability(server):
    """An operator renames a room: a client with draft/channel-rename gets RENAME."""
    alice, bob = server.room("#old", "alice", "bob", caps=("draft/channel-rename",))
    assert alice.said("RENAME #old #new :better") == [f":{alice.mask} RENAME #old #new better"]
    assert bob.take() == [f":{alice.mask} RENAME #old #new better"]
    assert server.hub.find_room("#new").is_member(server.hub.find_user("bob"))


def test_rename_fallback_part_and_join(server):
    """A client without the capability sees itself leave the old name and join the new one, with names."""
    alice, = server.room("#old", "alice", caps=("draft/channel-rename",))
    bob = server.register("bob")
    server.joined("#old", bob)
    alice.said("RENAME #old #new")
    lines = bob.take()
    assert lines[0] == f":{bob.mask} PART #old :Channel renamed to #new"
    assert lines[1] == f":{bob.mask} JOIN #new"
    assert any(" 353 bob = #new :" in line for line in lines)


def test_old_name_is_free_after_rename(server):
    """After a rename the old name is free: whoever joins it creates a new room and runs it."""
    alice, bob = server.room("#old", "alice", "bob")
    alice.said("RENAME #old #new")
    bob.take()
    bob.said("JOIN #old")
    assert not any(" 482 " in line for line in bob.said("MODE #old +k beer"))


def test_history_moves_with_rename(server):
    """The room's history is read under its new name."""
    alice, = server.room("#old", "alice", caps=REDACT + ("draft/channel-rename",))
    alice.said("PRIVMSG #old :before")
    alice.said("RENAME #old #new")
    assert [line.split(" ", 2)[-1] for line in _history(alice, "#new")] == [
        "PRIVMSG #new :before"]


def test_rename_refusals(server):
    """Non-operators get 482, a taken name CHANNEL_NAME_IN_USE, a bad name CANNOT_RENAME."""
    alice, bob = server.room("#old", "alice", "bob")
    server.room("#taken", "carol")
    assert " 482 " in bob.said("RENAME #old #new")[0]
    assert alice.said("RENAME #old #taken")[0].startswith(
        ":chatservice FAIL RENAME CHANNEL_NAME_IN_USE #old #taken ")
    for bad in ("nochannel", "#bad,name", "#" + "x" * 300):
        assert alice.said(f"RENAME #old {bad}")[0].startswith(
            ":chatservice FAIL RENAME CANNOT_RENAME #old "), bad
    assert " 403 " in alice.said("RENAME #missing #x")[0]


def test_rename_case_only(server):
    """Changing only the case of a room's name is a rename too."""
    alice, = server.room("#old", "alice", caps=("draft/channel-rename",))
    assert alice.said("RENAME #old #OLD")[0].endswith("RENAME #old #OLD")
    assert server.hub.find_room("#old").name == "#OLD"


def test_line_user_told_of_rename(server):
    """A line user in a renamed room gets a notice and is in the new room."""
    alice, = server.room("#lobby", "alice")
    carol = server.sign_in_line("carol")
    alice.said("RENAME #lobby #hall :moving")
    assert carol.take() == ["*** alice renamed #lobby to #hall (moving)"]
    carol.line("still here")
    assert alice.take()[-1].endswith("PRIVMSG #hall :still here")
