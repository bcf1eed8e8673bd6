"""
Room operators by account through a plain MODE, without sockets: the
founder's ``MODE +o`` on a logged-in member is kept in the account store and
``-o`` forgets it; anyone else's, or on a guest, or on the founder, is not;
the default room keeps none.
"""

from __future__ import annotations

import pytest

from chatservice.core.accounts import FOUNDER, OPERATOR, Accounts
from chatservice.store.accounts import MemoryAccounts
from irc_helpers import MixedServer
from test_irc_tokens import sasl


@pytest.fixture
def chat():
    server = MixedServer()
    server.hub.use_accounts(Accounts(MemoryAccounts(), server.clock))
    for name, password in (("alice", "correct horse"), ("bob", "battery staple"),
                           ("dave", "hunter2222")):
        server.hub.accounts.register(name, password)
    return server


def roles(chat, room="#club"):
    box = []
    chat.hub.accounts.store.room_roles(room).addCallback(box.append)
    return box[0]


def in_room(chat, nick, password, room="#club"):
    client, _ = sasl(chat, nick, password)
    client.line(f"JOIN {room}")
    chat.clock.advance(0)
    client.take()
    return client


def test_founder_mode_is_kept_and_forgotten(chat):
    """MODE +o by the founder keeps the member's account as operator; MODE -o forgets it; the founder stays founder."""
    alice = in_room(chat, "alice", "correct horse")
    in_room(chat, "bob", "battery staple")
    guest = chat.register("guest")
    guest.line("JOIN #club")
    assert "MODE #club +o bob" in alice.said("MODE #club +o bob")[-1]
    assert "MODE #club +o guest" in alice.said("MODE #club +o guest")[-1]
    assert roles(chat) == {"alice": FOUNDER, "bob": OPERATOR}
    alice.line("MODE #club -o+o bob guest")
    alice.line("MODE #club -o alice")
    assert roles(chat) == {"alice": FOUNDER}


def test_other_operators_mode_is_not_kept(chat):
    """MODE +o by an operator who is not the founder changes only the present."""
    alice = in_room(chat, "alice", "correct horse")
    bob = in_room(chat, "bob", "battery staple")
    alice.line("MODE #club +o bob")
    dave = in_room(chat, "dave", "hunter2222")
    bob.line("MODE #club +o dave")
    assert "MODE #club +o dave" in dave.take()[-1]
    bob.line("MODE #club -o alice")
    assert roles(chat) == {"alice": FOUNDER, "bob": OPERATOR}


def test_default_room_keeps_no_operators(chat):
    """In the default room (no founder) a server-given op's MODE +o is not kept."""
    alice = in_room(chat, "alice", "correct horse", "#lobby")
    in_room(chat, "bob", "battery staple", "#lobby")
    assert "MODE #lobby +o bob" in alice.said("MODE #lobby +o bob")[-1]
    assert roles(chat, "#lobby") == {}
