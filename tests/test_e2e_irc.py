"""
End to end across front ends: a line user and an IRC client, in the same
twistd, share the room.
"""

from __future__ import annotations

import re

import pytest

from server import assert_terminal_safe, join_announcement


@pytest.fixture
def both(start_server):
    """A server with a line port and an IRC port, alice on the line port and bob on IRC, both in #lobby."""
    server = start_server(irc=1)
    alice = server.user("alice")
    bob = server.connect("irc-bob", port=server.irc_ports[0])
    bob.send(b"NICK bob\r\nUSER bob 0 * :Bob on IRC\r\n")
    bob.read_until(re.compile(rb"^:\S+ 001 bob ", re.M))
    bob.send(b"JOIN #lobby\r\n")
    bob.read_until(re.compile(rb"^:\S+ 366 bob #lobby ", re.M))
    alice.read_until(join_announcement("bob"))
    return server, alice, bob


def test_line_and_irc_users_chat(both):
    """A line user and an IRC user in #lobby see each other's messages, actions, nick changes and quits."""
    server, alice, bob = both
    bob.send(b"PRIVMSG #lobby :hello from IRC\r\n")
    alice.read_until("[#lobby] <bob> hello from IRC\r\n")
    bob.send(b"PRIVMSG #lobby :\x01ACTION waves\x01\r\n")
    alice.read_until("[#lobby] * bob waves\r\n")
    alice.send_line("hello from nc")
    bob.read_until(re.compile(rb"^:alice!\S+ PRIVMSG #lobby :hello from nc\r\n", re.M))
    alice.send_line("/msg bob just for you")
    bob.read_until(re.compile(rb"^:alice!\S+ PRIVMSG bob :just for you\r\n", re.M))
    bob.send(b"NICK robert\r\n")
    alice.read_until("*** bob is now known as robert\r\n")
    bob.send(b"QUIT :off to bed\r\n")
    alice.read_until(re.compile(rb"\*\*\* robert quit \([^\n]*off to bed\)\r\n"))
    server.user("bob")  # the nickname is free for a line user


def test_irc_user_cannot_reach_a_terminal(both):
    """Escape, bell and bidi characters and IRC formatting from an IRC client never reach a line user's terminal."""
    server, alice, bob = both
    bob.send("PRIVMSG #lobby :\x1b[2J\x07\x02bold\x02 \x0304red\x03 \u202eevil\r\n"
             .encode())
    alice.read_until("[#lobby] <bob> bold red evil\r\n")  # the escape sequence and BEL gone
    bob.send("TOPIC #lobby :\x1b]0;pwned\x07topic\r\n".encode())
    bob.send(b"PRIVMSG #lobby :marker\r\n")
    alice.read_until("[#lobby] <bob> marker\r\n")
    assert_terminal_safe(alice.transcript)


def test_invisible_marks_and_separators_reach_terminals_harmlessly(both):
    """Direction marks and zero-width spaces from an IRC client are dropped for a line user and U+2028/U+2029 become spaces, while IRC users get the text as sent (with the emoji joiner kept for both)."""
    server, alice, bob = both
    carol = server.connect("irc-carol", port=server.irc_ports[0])
    carol.send(b"NICK carol\r\nUSER carol 0 * :Carol\r\nJOIN #lobby\r\n")
    carol.read_until(re.compile(rb"^:\S+ 366 carol #lobby ", re.M))
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    sent = ("pay\u200epal\u200f \u061cx\u200by\ufeffz "
            "first\u2028[#lobby] <admin> forged\u2029end " + family)
    bob.send(f"PRIVMSG #lobby :{sent}\r\n".encode())
    alice.read_until(f"[#lobby] <bob> paypal xyz first [#lobby] <admin> forged end {family}\r\n")
    carol.read_until(f"PRIVMSG #lobby :{sent}\r\n")
    assert_terminal_safe(alice.transcript)
