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


def test_member_list_marks_bots_and_away_people(start_server, open_page):
    """On joining, the page asks WHOX for flags: a bot already in the room is marked bot, someone away as away."""
    server = start_server(irc=1, web=1)
    robo = server.connect("irc-robo", port=server.irc_ports[0])
    robo.send(b"NICK robo\r\nUSER robo 0 * :Robo\r\nMODE robo +B\r\nJOIN #lobby\r\n")
    robo.read_until(re.compile(rb"^:\S+ 366 robo #lobby ", re.M))
    dozy = server.connect("irc-dozy", port=server.irc_ports[0])
    dozy.send(b"NICK dozy\r\nUSER dozy 0 * :Dozy\r\nAWAY :asleep\r\nJOIN #lobby\r\n")
    dozy.read_until(re.compile(rb"^:\S+ 366 dozy #lobby ", re.M))
    alice = open_page(server.web_ports[0]).sign_in("alice")
    expect(alice.member("robo")).to_have_class(re.compile(r"\bbot\b"))
    expect(alice.member("dozy")).to_have_class(re.compile(r"\baway\b"))
    expect(alice.member("dozy")).not_to_have_class(re.compile(r"\bbot\b"))
    expect(alice.member("alice")).not_to_have_class(re.compile(r"\b(bot|away)\b"))
    # The WHO the page made is not shown as a server reply.
    expect(alice.locator(".line").filter(has_text="End of /WHO")).to_have_count(0)
