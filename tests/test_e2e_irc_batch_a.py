"""
End to end through a real twistd: MONITOR, WHOX, mutes and UTF8ONLY across
the line and IRC front ends.
"""

from __future__ import annotations

import re

import pytest


def irc(server, nick: str, *caps: str):
    """An IRC client on a real socket, registered as C{nick} with C{caps}."""
    client = server.connect(f"irc-{nick}", port=server.irc_ports[0])
    if caps:
        client.send(f"CAP LS 302\r\nCAP REQ :{' '.join(caps)}\r\n".encode())
    client.send(f"NICK {nick}\r\nUSER {nick} 0 * :{nick.title()} on IRC\r\n".encode())
    if caps:
        client.send(b"CAP END\r\n")
    client.read_until(re.compile(rb"^:\S+ (376|422) " + nick.encode() + rb" ", re.M))
    return client


@pytest.fixture
def mixed(start_server):
    return start_server(irc=1)


def test_monitor_sees_a_line_user(mixed):
    """An IRC client MONITORing a nick is told when a line user takes it and quits."""
    bob = irc(mixed, "bob")
    bob.send(b"MONITOR + carol\r\n")
    bob.read_until(re.compile(rb"^:\S+ 731 bob :?carol\r\n", re.M))
    carol = mixed.user("carol")
    bob.read_until(re.compile(rb"^:\S+ 730 bob :?carol!\S+@\S+\r\n", re.M))
    carol.send_line("/quit bye")
    bob.read_until(re.compile(rb"^:\S+ 731 bob :?carol\r\n", re.M))


def test_whox_lists_a_line_user(mixed):
    """WHOX on #lobby lists a line user in it with the fields asked for and the token."""
    mixed.user("carol")
    bob = irc(mixed, "bob")
    bob.send(b"JOIN #lobby\r\n")
    bob.read_until(re.compile(rb"^:\S+ 366 bob #lobby ", re.M))
    bob.send(b"WHO #lobby %tcnf,42\r\n")
    bob.read_until(re.compile(rb"^:\S+ 354 bob 42 #lobby carol H@\r\n", re.M))
    bob.read_until(re.compile(rb"^:\S+ 315 bob #lobby :End of /WHO list\r\n", re.M))


def test_mute_holds_for_a_line_user(mixed):
    """An IRC operator's m: mute keeps a line user quiet in the room until lifted."""
    bob = irc(mixed, "bob")
    bob.send(b"JOIN #quiet\r\n")
    bob.read_until(re.compile(rb"^:\S+ 366 bob #quiet ", re.M))
    carol = mixed.user("carol")
    carol.send_line("/join #quiet")
    bob.read_until(re.compile(rb"^:carol!\S+ JOIN #quiet\r\n", re.M))
    bob.send(b"MODE #quiet +b m:carol\r\n")
    bob.read_until(re.compile(rb"MODE #quiet \+b m:carol!\*@\*\r\n"))
    carol.send_line("can you hear me")
    carol.send_line("/msg bob marker")
    bob.read_until(re.compile(rb"PRIVMSG bob :marker\r\n"))
    assert b"can you hear me" not in bob.transcript
    bob.send(b"MODE #quiet -b m:carol!*@*\r\n")
    bob.read_until(re.compile(rb"MODE #quiet -b m:carol!\*@\*\r\n"))
    carol.send_line("now you can")
    bob.read_until(re.compile(rb"^:carol!\S+ PRIVMSG #quiet :now you can\r\n", re.M))


def test_invalid_utf8_gets_fail(mixed):
    """A line of invalid UTF-8 gets FAIL INVALID_UTF8 and reaches nobody; the connection lives on."""
    alice = irc(mixed, "alice")
    bob = irc(mixed, "bob")
    alice.send(b"PRIVMSG bob :caf\xe9\r\n")
    alice.read_until(re.compile(rb"^:\S+ FAIL PRIVMSG INVALID_UTF8 :", re.M))
    alice.send("PRIVMSG bob :café\r\n".encode())
    bob.read_until(re.compile("^:alice!\\S+ PRIVMSG bob :café\r\n".encode(), re.M))
    assert b"caf\xef\xbf\xbd" not in bob.transcript
