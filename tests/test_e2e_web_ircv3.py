"""
End to end: the web page (in headless Chromium) follows the IRCv3
extensions of issue 10, batch B, that other front ends cause: a redacted
message disappears, a renamed room's tab is renamed, and a read marker shows
where the reader left off.
"""

from __future__ import annotations

from browser import expect, needs_browser
from test_e2e_irc_ircv3 import irc, msgid_of

pytestmark = needs_browser


def test_web_page_follows_redaction_rename_and_read_marker(start_server, open_page):
    """The web page removes a redacted line, renames the tab, and shows where its reader left off."""
    server = start_server(irc=1, web=1)
    opal = irc(server, "opal")
    carol = server.user("carol")
    alice = open_page(server.web_ports[0]).sign_in("alice")
    carol.send_line("this will vanish")
    alice.expect_message("carol", "this will vanish")
    msgid = msgid_of(opal.read_until(b"this will vanish\r\n"))
    opal.send(f"REDACT #lobby {msgid} :oops\r\n".encode())
    expect(alice.lines().filter(has_text="this will vanish")).to_have_count(0)
    expect(alice.lines("info").filter(has_text="opal removed a message (oops)")).to_be_visible()

    opal.send(b"RENAME #lobby #hall\r\n")
    expect(alice.locator(".tab.active .tab-name")).to_have_text("#hall")
    carol.send_line("after the rename")
    alice.expect_message("carol", "after the rename")

    # Reading another room while #hall goes on: back in #hall, the divider
    # sits before the first line not yet read.
    alice.say("/join #other")
    expect(alice.locator(".tab.active .tab-name")).to_have_text("#other")
    carol.send_line("unseen one")
    carol.send_line("unseen two")
    opal.read_until(b"unseen two\r\n")
    alice.locator(".tab .tab-name", has_text="#hall").click()
    divider = alice.log.locator(".unread-marker")
    expect(divider).to_be_visible()
    following = divider.locator("xpath=following-sibling::div[contains(@class,'line')][1]")
    expect(following.locator(".text")).to_have_text("unseen one")
