"""
End to end: a bot (IRC user mode +B) is marked as one on the chat page.
"""

from __future__ import annotations

import re

from browser import expect, needs_browser

pytestmark = needs_browser


def test_bot_messages_carry_a_badge_on_the_page(start_server, open_page):
    """A message from an IRC client in bot mode shows a "bot" badge beside its nick; others do not."""
    server = start_server(irc=1, web=1)
    alice = open_page(server.web_ports[0]).sign_in("alice")
    robo = server.connect("irc-robo", port=server.irc_ports[0])
    robo.send(b"NICK robo\r\nUSER robo 0 * :Robo\r\nMODE robo +B\r\nJOIN #lobby\r\n")
    robo.read_until(re.compile(rb"^:\S+ 366 robo #lobby ", re.M))
    robo.send(b"PRIVMSG #lobby :beep boop\r\n")
    line = alice.expect_message("robo", "beep boop")
    expect(line.locator(".bot")).to_have_text(re.compile("bot", re.I))
    robo.send(b"MODE robo -B\r\nPRIVMSG #lobby :just me\r\n")
    line = alice.expect_message("robo", "just me")
    expect(line.locator(".bot")).to_have_count(0)
