"""
End to end against a real C{twistd -n chat} with its SQLite history: private
conversations kept per logged-in account (also with someone not logged in),
TAGMSG kept for event-playback clients, CHATHISTORY TARGETS listing them,
across a restart, as irctest's chathistory module checks with services.
"""

from __future__ import annotations

import re

import pytest

from test_e2e_accounts import add_account, finish, irc, numeric, sasl_plain

CAPS = "batch server-time message-tags echo-message draft/chathistory draft/event-playback"
EARLY, LATE = "timestamp=2020-01-01T00:00:00.000Z", "timestamp=2262-01-01T00:00:00.000Z"


@pytest.fixture
def server(start_server):
    return start_server(irc=1)


def logged_in(server, nick: str, password: str):
    client = irc(server, nick)
    client.send_line("CAP REQ :" + CAPS)
    client.read_until(b"ACK")
    sasl_plain(client, nick, password)
    numeric(client, "903")
    finish(client, nick)
    numeric(client, "001")
    return client


def guest(server, nick: str):
    client = irc(server, nick)
    client.send_line("CAP REQ :" + CAPS)
    client.read_until(b"ACK")
    finish(client, nick)
    numeric(client, "001")
    return client


def batch(client, command: str) -> list[str]:
    """Send C{command}; return the lines of the batch that answers it."""
    client.send_line(command)
    start = client.read_until(re.compile(rb"BATCH \+(\S+)[^\r\n]*\r\n"))
    ref = re.findall(rb"BATCH \+(\S+)", start)[-1]
    body = client.read_until(b"BATCH -" + ref + b"\r\n")
    return [line for line in body.decode().split("\r\n")[:-2] if line]


def test_private_history_tagmsg_and_targets_in_sqlite(server):
    """A conversation with someone not logged in and a reaction are kept in SQLite for the account only, listed by TARGETS, and still there after a restart."""
    add_account(server, "alice", "correct horse")
    alice = logged_in(server, "alice", "correct horse")
    dave = guest(server, "dave")
    alice.send_line("PRIVMSG dave :hello dave")
    dave.read_until(b"PRIVMSG dave :hello dave")
    dave.send_line("PRIVMSG alice :hello alice")
    alice.read_until(b"PRIVMSG alice :hello alice")
    alice.send_line("@+draft/react=\\:)\\sok TAGMSG dave")
    dave.read_until(b"TAGMSG dave")

    lines = batch(alice, "CHATHISTORY LATEST dave * 10")
    assert [line.split(" ", 2)[2] for line in lines] == [
        "PRIVMSG dave :hello dave", "PRIVMSG alice :hello alice", "TAGMSG dave"]
    assert "+draft/react=\\:)\\sok" in lines[2]
    assert not [line for line in batch(dave, "CHATHISTORY LATEST alice * 10") if "PRIVMSG" in line]
    targets = batch(alice, f"CHATHISTORY TARGETS {EARLY} {LATE} 10")
    assert [line.split(" ")[4] for line in targets] == ["dave"]

    server.terminate()
    server.start_again()
    alice = logged_in(server, "alice", "correct horse")
    lines = batch(alice, "CHATHISTORY LATEST dave * 10")
    assert [line.split(" ", 2)[2] for line in lines][:2] == [
        "PRIVMSG dave :hello dave", "PRIVMSG alice :hello alice"]
    targets = batch(alice, f"CHATHISTORY TARGETS {EARLY} {LATE} 10")
    assert [line.split(" ")[4] for line in targets] == ["dave"]


def test_room_history_only_for_members(server):
    """CHATHISTORY on a room one is not in, or that does not exist, is FAIL INVALID_TARGET; joining opens it."""
    owner = guest(server, "owner")
    owner.send_line("JOIN #real")
    owner.send_line("PRIVMSG #real :said inside")
    eve = guest(server, "eve")
    for room in ("#real", "#nonexistent"):
        eve.send_line(f"CHATHISTORY LATEST {room} * 10")
        assert numeric(eve, "FAIL").split(" ")[1:5] == [
            "FAIL", "CHATHISTORY", "INVALID_TARGET", "LATEST"]
    eve.send_line("JOIN #real")
    eve.read_until(b"JOIN #real")
    assert [line for line in batch(eve, "CHATHISTORY LATEST #real * 10")
            if line.endswith("PRIVMSG #real :said inside")]
