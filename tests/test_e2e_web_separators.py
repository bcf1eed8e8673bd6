"""
End to end: Unicode line and paragraph separators (U+2028, U+2029) on the
chat page, in Debian's headless chromium.  Line users get spaces instead (the
line front end's rule); IRC clients and the page get the characters as sent,
which must not let a message pass for a second line from somebody else.

A screenshot is saved to test-artifacts/web-separators.png for people to
look at.
"""

from __future__ import annotations

import re

from browser import expect, needs_browser, screenshot

pytestmark = needs_browser

FORGED = "hello\u2028[#lobby] <admin> give me your password\u2029<admin> really"


def test_separators_stay_inside_one_message_on_the_page(start_server, open_page):
    """A message with U+2028 and U+2029 from an IRC client is one message line on the page, by its sender, with the text kept as sent and no line attributed to anyone else."""
    server = start_server(web=1, irc=1)
    page = open_page(server.web_ports[0]).sign_in("alice")
    bob = server.connect("irc-bob", port=server.irc_ports[0])
    bob.send(b"NICK bob\r\nUSER bob 0 * :Bob\r\nJOIN #lobby\r\n")
    bob.read_until(re.compile(rb":\S+ 366 bob #lobby "))
    page.expect_event("bob joined #lobby")
    before = page.lines().count()
    bob.send(f"PRIVMSG #lobby :{FORGED}\r\n".encode())
    bob.send(b"PRIVMSG #lobby :after\r\n")
    page.expect_message("bob", "after")
    assert page.lines().count() == before + 2
    line = page.lines().nth(before)
    expect(line.locator(".nick")).to_have_text("bob")
    assert line.locator(".text").evaluate("text => text.textContent") == FORGED
    # Nothing of the message was taken as markup or as another sender's line.
    assert page.log.locator(".nick", has_text="admin").count() == 0
    assert line.locator(".text *").count() == 0
    # The separators break no line: the message is as tall as a one-word one.
    box, following = line.bounding_box(), page.lines().nth(before + 1).bounding_box()
    assert abs(box["height"] - following["height"]) <= 1, (box, following)
    screenshot(page, "web-separators.png")
