"""
End to end, in Chromium against a real ``twistd -n chat``: the chat page's
private tabs show the conversation's history (CHATHISTORY LATEST with the
nick as target) when opened, for the two accounts in it and nobody else.
"""

from __future__ import annotations

from browser import expect, needs_browser
from test_e2e_accounts import add_account, finish, irc, numeric, sasl_plain
from test_e2e_web_login import log_in

pytestmark = needs_browser

HOSTILE = "<img src=x onerror=alert(1)> \u00e9t\u00e9"


def bob_on_irc(server):
    bob = irc(server, "bob")
    sasl_plain(bob, "bob", "battery staple")
    numeric(bob, "903")
    finish(bob, "bob")
    numeric(bob, "001")
    return bob


def logged_in_page(open_page, server, nick: str, password: str):
    page = open_page(server.web_ports[0])
    log_in(page, nick, password)
    expect(page.locator("#my-nick")).to_have_text(nick)
    expect(page.locator(".tab.active .tab-name")).to_have_text("#lobby")
    return page


def open_tab(page, nick: str) -> None:
    page.say(f"/query {nick}")
    expect(page.locator(".tab.active .tab-name")).to_have_text(nick)


def test_private_tab_shows_the_conversation_when_opened(start_server, open_page):
    """Opening a private tab with /query shows both sides of what the two accounts said before, in order, as text."""
    server = start_server(irc=1, web=1)
    add_account(server, "alice", "correct horse")
    add_account(server, "bob", "battery staple")
    bob = bob_on_irc(server)
    page = logged_in_page(open_page, server, "alice", "correct horse")
    bob.send_line("PRIVMSG alice :hello from bob")
    page.locator(".tab-name", has_text="bob").click()
    page.expect_message("bob", "hello from bob")
    page.say("reply in the tab")
    bob.read_until(b"PRIVMSG bob :reply in the tab")
    bob.send_line(f"PRIVMSG alice :{HOSTILE}")
    page.expect_message("bob", HOSTILE)
    page.say("/quit")
    expect(page.locator("#status")).to_be_visible()

    again = logged_in_page(open_page, server, "alice", "correct horse")
    open_tab(again, "bob")
    again.expect_message("bob", "hello from bob")
    again.expect_message("alice", "reply in the tab")
    again.expect_message("bob", HOSTILE)
    assert again.texts() == ["hello from bob", "reply in the tab", HOSTILE]
    expect(again.log.locator(".history-edge")).to_have_text("This is the start of bob.")
    # What comes next follows, once.
    bob.send_line("PRIVMSG alice :and now live")
    again.expect_message("bob", "and now live")
    assert again.texts() == ["hello from bob", "reply in the tab", HOSTILE, "and now live"]
    assert again.page.evaluate("window.pwned === undefined")


def test_a_message_opening_the_tab_comes_below_the_history(start_server, open_page):
    """A private message that opens the tab is shown once, below what was said before."""
    server = start_server(irc=1, web=1)
    add_account(server, "alice", "correct horse")
    add_account(server, "bob", "battery staple")
    bob = bob_on_irc(server)
    page = logged_in_page(open_page, server, "alice", "correct horse")
    bob.send_line("PRIVMSG alice :first")
    page.locator(".tab-name", has_text="bob").click()
    page.expect_message("bob", "first")
    page.say("/quit")
    expect(page.locator("#status")).to_be_visible()
    again = logged_in_page(open_page, server, "alice", "correct horse")
    bob.send_line("PRIVMSG alice :second")
    again.locator(".tab-name", has_text="bob").click()
    again.expect_message("bob", "second")
    again.expect_message("bob", "first")
    assert again.texts() == ["first", "second"]


def test_others_see_none_of_it(start_server, open_page):
    """Another account, or a guest, opening a private tab with bob sees nothing of alice's conversation."""
    server = start_server(irc=1, web=1)
    add_account(server, "alice", "correct horse")
    add_account(server, "bob", "battery staple")
    add_account(server, "eve", "eavesdrop")
    bob = bob_on_irc(server)
    alice = logged_in_page(open_page, server, "alice", "correct horse")
    bob.send_line("PRIVMSG alice :for alice only")
    alice.locator(".tab-name", has_text="bob").click()
    alice.expect_message("bob", "for alice only")
    eve = logged_in_page(open_page, server, "eve", "eavesdrop")
    open_tab(eve, "bob")
    guest = open_page(server.web_ports[0]).sign_in("carol")
    open_tab(guest, "bob")
    for page in (eve, guest):
        expect(page.log.locator(".history-edge")).to_have_text("This is the start of bob.")
        assert page.texts() == []
