"""
Tests of the core operations behind issue 10's IRCv3 extensions, without any
front end: redaction, renaming, multiline messages, read markers and
metadata.
"""

from __future__ import annotations

import pytest

from chatservice.core import errors, metadata, readmarkers
from chatservice.core.events import Kind, Message, MultilineMessage, Redacted, RoomRenamed
from chatservice.core.history import Query
from chatservice.core.rooms import RoomMode
from chatservice.store.memory import MemoryStore
from test_hub import Chat
from test_store import result


@pytest.fixture
def chat():
    chat = Chat()
    chat.store = MemoryStore(chat.clock)
    chat.hub.attach_store(chat.store)
    return chat


def _history(chat, key="#r"):
    return result(chat.store.query(key, Query(50)))


def test_redact_removes_from_history_and_tells_room(chat):
    """The sender's redaction removes the message from history and the room is told."""
    alice, bob = chat.user("alice"), chat.user("bob")
    chat.hub.join(alice, "#r")
    chat.hub.join(bob, "#r")
    said = chat.hub.say(alice, "#r", "oops")
    bob.client.events()
    event = result(chat.hub.redact(alice, "#r", said.id, "typo"))
    assert isinstance(event, Redacted) and event.target_id == said.id
    assert bob.client.events() == [event]
    assert [e for e in _history(chat) if isinstance(e, Message)] == []


def test_redact_refusals(chat):
    """Strangers get NotYours, unknown ids UnknownEvent, outsiders NotInRoom."""
    alice, bob, carol = chat.user("alice"), chat.user("bob"), chat.user("carol")
    chat.hub.join(alice, "#r")
    chat.hub.join(bob, "#r")
    said = chat.hub.say(alice, "#r", "mine")
    with pytest.raises(errors.NotYours):
        result(chat.hub.redact(bob, "#r", said.id))
    with pytest.raises(errors.UnknownEvent):
        result(chat.hub.redact(alice, "#r", said.id + 12345))
    with pytest.raises(errors.NotInRoom):
        chat.hub.redact(carol, "#r", said.id)


def test_redact_someone_else_with_same_nick_later(chat):
    """Someone who takes the sender's nick from another host cannot redact the old message."""
    alice = chat.user("alice")
    chat.hub.join(alice, "#r")
    op = chat.user("op")
    chat.hub.join(op, "#r")
    said = chat.hub.say(alice, "#r", "x")
    chat.hub.quit(alice)
    impostor = chat.user("alice", host="6.6.6.6")
    chat.hub.join(impostor, "#r")
    with pytest.raises(errors.NotYours):
        result(chat.hub.redact(impostor, "#r", said.id))


def test_rename_room_moves_everything(chat):
    """Renaming moves members, modes, history and read markers; the old name is free."""
    alice, bob = chat.user("alice"), chat.user("bob")
    room, _ = chat.hub.join(alice, "#r")
    chat.hub.join(bob, "#r")
    chat.hub.say(alice, "#r", "before")
    readmarkers.mark_read(bob, "#r", 5)
    bob.client.events()
    event = chat.hub.rename_room(alice, "#r", "#New", "why")
    assert isinstance(event, RoomRenamed) and bob.client.events() == [event]
    assert chat.hub.find_room("#new") is room and room.name == "#New"
    assert "#new" in bob.rooms and readmarkers.read_marker(bob, "#new") == 5
    assert [e.text for e in _history(chat, "#new") if isinstance(e, Message)] == ["before"]
    with pytest.raises(errors.NoSuchRoom):
        chat.hub.find_room("#r")


def test_rename_refusals(chat):
    """Only operators rename, never onto an existing room or an invalid name."""
    alice, bob = chat.user("alice"), chat.user("bob")
    chat.hub.join(alice, "#r")
    chat.hub.join(bob, "#r")
    chat.hub.join(bob, "#taken")
    with pytest.raises(errors.NotOperator):
        chat.hub.rename_room(bob, "#r", "#x")
    with pytest.raises(errors.RoomExists):
        chat.hub.rename_room(alice, "#r", "#TAKEN")
    with pytest.raises(errors.InvalidRoomName):
        chat.hub.rename_room(alice, "#r", "#a b")


def test_say_lines_cleans_and_joins(chat):
    """Multiline text is cleaned line by line; history keeps one plain line."""
    alice, bob = chat.user("alice"), chat.user("bob")
    chat.hub.join(alice, "#r")
    chat.hub.join(bob, "#r")
    event = chat.hub.say_lines(alice, "#r", (("one\x1b[2J", False), ("two", False),
                                            ("!", True)))
    assert isinstance(event, MultilineMessage)
    assert event.lines == (("one", False), ("two", False), ("!", True))
    assert event.text == "one two!"
    stored = [e for e in _history(chat) if isinstance(e, Message)]
    assert type(stored[0]) is Message and stored[0].text == "one two!"


def test_say_lines_refuses_blank(chat):
    """A multiline message of blank lines is refused."""
    alice = chat.user("alice")
    chat.hub.join(alice, "#r")
    with pytest.raises(errors.EmptyMessage):
        chat.hub.say_lines(alice, "#r", (("  ", False), ("", False)), Kind.SAY)


def test_read_markers_only_forward_and_bounded(chat):
    """A read marker never moves back, and a person keeps a bounded number of them."""
    alice = chat.user("alice")
    assert readmarkers.mark_read(alice, "#R", 10) == 10
    assert readmarkers.mark_read(alice, "#r", 5) == 10
    for number in range(readmarkers.MAX_TARGETS + 10):
        readmarkers.mark_read(alice, f"#t{number}", number)
    assert len(alice.read_markers) == readmarkers.MAX_TARGETS
    assert readmarkers.read_marker(alice, "#t0") is None


def test_metadata_reading_rules(chat):
    """A room's metadata is hidden from outsiders of secret, invite-only or keyed rooms."""
    alice, bob = chat.user("alice"), chat.user("bob")
    room, _ = chat.hub.join(alice, "#r")
    assert metadata.may_read_room(bob, room)
    room.flags.add(RoomMode.INVITE_ONLY)
    assert not metadata.may_read_room(bob, room)
    assert metadata.may_read_room(alice, room)


def test_metadata_changes_reach_neighbours_only(chat):
    """A person's change is told to those sharing a room with them, not to strangers."""
    heard = []

    alice, bob, carol = chat.user("alice"), chat.user("bob"), chat.user("carol")
    bob.client.metadata_changed = lambda *change: heard.append(("bob", change))
    carol.client.metadata_changed = lambda *change: heard.append(("carol", change))
    chat.hub.join(alice, "#r")
    chat.hub.join(bob, "#r")
    metadata.set_value(chat.hub, alice, alice, "avatar", "https://example.com/a.png")
    assert heard == [("bob", ("alice", "avatar", "https://example.com/a.png"))]
    with pytest.raises(errors.NotYours):
        metadata.set_value(chat.hub, bob, alice, "avatar", "x")
