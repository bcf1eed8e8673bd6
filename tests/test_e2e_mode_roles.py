"""
End to end: a plain IRC ``MODE +o`` by a room's founder on a member logged
in to an account is remembered across a restart of the real twistd, and
``MODE -o`` by the founder forgets it; the same mode from anyone else lasts
only while the person stays.
"""

from __future__ import annotations

import re
import time

import pytest

from test_e2e_accounts import add_account, finish, irc, numeric, sasl_plain


def logged_in(server, nick: str, password: str):
    client = irc(server, nick)
    sasl_plain(client, nick, password)
    numeric(client, "903")
    finish(client, nick)
    numeric(client, "001")
    return client


def guest(server, nick: str):
    client = irc(server, nick)
    finish(client, nick)
    numeric(client, "001")
    return client


def joined(client, room: str):
    client.send_line(f"JOIN {room}")
    numeric(client, "366")
    return client


def roles_kept(client, room: str, operators: str) -> None:
    """
    Ask ChanServ until C{room}'s operators kept by account read C{operators}
    (C{"bob"}, C{"none"}): the store writes them in its own thread, so a
    restart before then could come too early.  At most 5 s.
    """
    deadline = time.monotonic() + 5
    while True:
        client.send_line(f"PRIVMSG ChanServ :INFO {room}")
        said = client.read_until(re.compile(rb"operators: ([^\r\n]*)\.\r\n"))
        if said.rstrip(b".\r\n").endswith(f"operators: {operators}".encode()):
            return
        assert time.monotonic() < deadline, said
        time.sleep(0.05)


@pytest.fixture
def server(start_server):
    return start_server(irc=1)


def test_founder_mode_op_comes_back_after_a_restart(server):
    """MODE +o by the founder on a logged-in member gives that account operator status again after a restart."""
    add_account(server, "alice", "correct horse")
    add_account(server, "bob", "battery staple")
    alice = joined(logged_in(server, "alice", "correct horse"), "#club")
    bob = joined(logged_in(server, "bob", "battery staple"), "#club")
    alice.send_line("MODE #club +o bob")
    bob.read_until(b"MODE #club +o bob")
    # A guest opped by the founder is not remembered (nothing to remember it by).
    carol = joined(guest(server, "carol"), "#club")
    alice.send_line("MODE #club +o carol")
    carol.read_until(b"MODE #club +o carol")
    roles_kept(alice, "#club", "bob")
    server.terminate()
    server.start_again()
    watcher = joined(guest(server, "watcher"), "#club")
    bob = logged_in(server, "bob", "battery staple")
    bob.send_line("JOIN #club")
    watcher.read_until(b":chatservice MODE #club +o bob")
    carol = joined(guest(server, "carol"), "#club")
    carol.send_line("NAMES #club")
    names = numeric(carol, "353")
    assert names.endswith(":watcher @bob carol")


def test_founder_mode_deop_forgets(server):
    """MODE -o by the founder forgets the account's operator status, so that after a restart it is not given back."""
    add_account(server, "alice", "correct horse")
    add_account(server, "bob", "battery staple")
    alice = joined(logged_in(server, "alice", "correct horse"), "#club")
    bob = joined(logged_in(server, "bob", "battery staple"), "#club")
    alice.send_line("MODE #club +o bob")
    bob.read_until(b"MODE #club +o bob")
    alice.send_line("MODE #club -o bob")
    bob.read_until(b"MODE #club -o bob")
    roles_kept(alice, "#club", "none")
    server.terminate()
    server.start_again()
    watcher = joined(guest(server, "watcher"), "#club")
    bob = joined(logged_in(server, "bob", "battery staple"), "#club")
    bob.send_line("PRIVMSG #club :am I op?")
    watcher.read_until(b"am I op?")
    watcher.send_line("NAMES #club")
    names = numeric(watcher, "353")
    assert names.endswith(":watcher bob")


def test_mode_op_by_a_non_founder_is_not_remembered(server):
    """MODE +o given by an operator who is not the founder lasts only until the person leaves."""
    add_account(server, "alice", "correct horse")
    add_account(server, "bob", "battery staple")
    add_account(server, "dave", "hunter22")
    alice = joined(logged_in(server, "alice", "correct horse"), "#club")
    bob = joined(logged_in(server, "bob", "battery staple"), "#club")
    alice.send_line("MODE #club +o bob")
    bob.read_until(b"MODE #club +o bob")
    dave = joined(logged_in(server, "dave", "hunter22"), "#club")
    bob.send_line("MODE #club +o dave")
    dave.read_until(b"MODE #club +o dave")
    dave.send_line("PART #club")
    dave.read_until(b"PART #club")
    bob.send_line("PING :kept")
    bob.read_until(b"PONG")
    dave.send_line("JOIN #club")
    numeric(dave, "366")
    dave.send_line("PRIVMSG #club :back")
    alice.read_until(b"back")
    alice.send_line("NAMES #club")
    names = numeric(alice, "353")
    assert names.endswith(":@alice @bob dave")
