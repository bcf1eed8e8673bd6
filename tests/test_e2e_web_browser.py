"""
End to end: the chat page (``/`` of a ``--web`` listener) in a real browser.

Playwright drives Debian's chromium (``/usr/bin/chromium``, headless; its own
browser downloads are never used) against a real ``twistd -n chat``, beside
line-chat users on ``nc`` or a plain socket.  Every wait is bounded: Playwright
gives up after L{WAIT} seconds unless a test says otherwise.

A screenshot of the chat view is saved to test-artifacts/web-chat.png (and
the phone-sized one to test-artifacts/web-chat-phone.png) for people to look
at; nothing compares them.
"""

from __future__ import annotations

import re

from browser import RECONNECT_WAIT, expect, needs_browser, screenshot
from server import HOST, join_announcement

pytestmark = needs_browser

HOSTILE = "<img src=x onerror=alert(1)><script>window.pwned=1</script>"


def line_user(server, nc, nick: str):
    """Sign C{nick} in to the line front end with nc; it lands in #lobby."""
    client = server.spawn([nc, HOST, str(server.port)], nick)
    client.read_prompt()
    client.send_line(nick)
    client.read_until(f"*** Hello {nick}! Type /help for the commands.")
    client.read_until(re.compile(rb"\*\*\* (#lobby has no topic\.|Topic of #lobby: .*)\r?\n"))
    return client


def test_two_pages_and_a_netcat_user_chat_in_one_room(start_server, open_page, nc):
    """Two browser pages and an nc user in #lobby each see the others' messages, actions and joins."""
    server = start_server(web=1)
    port = server.web_ports[0]
    carol = line_user(server, nc, "carol")
    alice = open_page(port).sign_in("alice")
    carol.read_until(join_announcement("alice"))
    bob = open_page(port).sign_in("bob")
    carol.read_until(join_announcement("bob"))
    alice.expect_event("bob joined #lobby")
    for page in (alice, bob):
        for nick in ("alice", "bob", "@carol"):
            expect(page.member(nick)).to_be_visible()
    # carol made #lobby, so she is its operator and may set its topic.
    carol.send_line("/topic Say hello <here>")
    for page in (alice, bob):
        expect(page.locator("#topic")).to_have_text("Say hello <here>")
        page.expect_event("carol changed the topic to: Say hello <here>")

    alice.say("hello from alice")
    alice.expect_message("alice", "hello from alice")
    bob.expect_message("alice", "hello from alice")
    carol.read_until("[#lobby] <alice> hello from alice")

    bob.say("hi alice, hi carol")
    alice.expect_message("bob", "hi alice, hi carol")
    carol.read_until("[#lobby] <bob> hi alice, hi carol")

    carol.send_line("hello browsers")
    alice.expect_message("carol", "hello browsers")
    bob.expect_message("carol", "hello browsers")

    # /me is a CTCP ACTION both ways.
    alice.say("/me waves")
    bob.expect_message("alice", "waves", kind="action")
    carol.read_until("[#lobby] * alice waves")
    carol.send_line("/me waves back")
    alice.expect_message("carol", "waves back", kind="action")

    # A private message opens a tab of its own.
    carol.send_line("/msg alice psst")
    tab = alice.locator(".tab").filter(has_text="carol")
    expect(tab).to_have_class(re.compile(r"\bmention\b"))
    tab.locator(".tab-name").click()
    alice.expect_message("carol", "psst")
    alice.say("hi there")
    carol.read_until("[private] <alice> hi there")
    alice.locator(".tab-name", has_text="#lobby").click()
    screenshot(alice, "web-chat.png")

    carol.send_line("/quit bye")
    alice.expect_event("carol quit")
    expect(alice.member("carol")).to_have_count(0)


def test_taken_and_invalid_nicknames_can_be_chosen_again(start_server, open_page, nc):
    """A taken nick (433) and an invalid one (432) get a clear message on the login form, and another nick can then be chosen."""
    server = start_server(web=1)
    line_user(server, nc, "alice")
    page = open_page(server.web_ports[0])
    page.choose_nick("alice")
    error = page.locator("#login-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text('The nickname "alice" is already taken')
    expect(page.locator("#login-nick")).to_be_visible()
    expect(page.locator("#chat")).to_be_hidden()

    page.choose_nick("9lives")
    expect(error).to_contain_text('"9lives" is not a valid nickname')
    expect(page.locator("#chat")).to_be_hidden()

    page.sign_in("alice2")
    expect(error).to_be_hidden()
    expect(page.member("alice")).to_be_visible()


def test_html_in_messages_is_shown_as_text_and_never_runs(start_server, open_page, nc):
    """HTML and a <script> sent by a line user and by another page arrive as literal text; no script runs and no dialog opens."""
    server = start_server(web=1)
    port = server.web_ports[0]
    mallory = line_user(server, nc, "mallory")
    alice = open_page(port).sign_in("alice")
    bob = open_page(port).sign_in("bob")

    mallory.send_line(HOSTILE)
    alice.expect_message("mallory", HOSTILE)
    bob.say("also " + HOSTILE)
    alice.expect_message("bob", "also " + HOSTILE)
    mallory.read_until(f"[#lobby] <bob> also {HOSTILE}")
    mallory.send_line("/me <b>bold</b> & <i>friends</i>")
    alice.expect_message("mallory", "<b>bold</b> & <i>friends</i>", kind="action")

    for page in (alice, bob):
        page.page.wait_for_timeout(300)  # give an onerror handler its chance
        assert page.page.evaluate("typeof window.pwned") == "undefined"
        assert page.locator("#logs img, #logs script, #logs b, #logs i").count() == 0
        assert page.dialogs == []


def test_page_reconnects_after_the_server_restarts(start_server, open_page, nc):
    """When twistd stops the page shows it is reconnecting; when it is started again on the same port, the page signs in with the same nick, rejoins its rooms and chats."""
    server = start_server(web=1)
    page = open_page(server.web_ports[0]).sign_in("alice")
    page.locator("#join-room").fill("#side")
    page.locator("#join-room").press("Enter")
    expect(page.locator(".tab.active .tab-name")).to_have_text("#side")
    expect(page.member("@alice")).to_be_visible()  # she made #side
    page.say("/topic quiet corner")
    expect(page.locator("#topic")).to_have_text("quiet corner")
    page.locator(".tab-name", has_text="#lobby").click()

    server.terminate()
    status = page.locator("#status")
    expect(status).to_be_visible()
    expect(status).to_contain_text("Reconnecting")
    expect(page.lines("error").last).to_contain_text("Disconnected from the server")
    expect(page.member("alice")).to_have_count(0)

    server.start_again()
    expect(status).to_be_hidden(timeout=RECONNECT_WAIT * 1000)
    expect(page.locator("#my-nick")).to_have_text("alice")
    expect(page.member("alice")).to_be_visible()
    expect(page.locator(".tab-name")).to_have_text(["server", "#lobby", "#side"])

    carol = line_user(server, nc, "carol")
    page.say("back again")
    carol.read_until("[#lobby] <alice> back again")
    carol.send_line("/join #side")
    carol.read_until("You joined #side")
    carol.send_line("welcome back")
    expect(page.locator(".tab", has_text="#side")).to_have_class(re.compile(r"\bunread\b"))
    page.locator(".tab-name", has_text="#side").click()
    page.expect_message("carol", "welcome back")


def test_phone_sized_screen_shows_the_input_and_the_messages(start_server, open_page, nc):
    """At 375x667 the input and the messages are on screen; the member list folds behind the People button."""
    server = start_server(web=1)
    carol = line_user(server, nc, "carol")
    page = open_page(server.web_ports[0], viewport={"width": 375, "height": 667},
                     is_mobile=True, has_touch=True)
    page.choose_nick("alice")
    expect(page.locator("#my-nick")).to_have_text("alice")
    carol.send_line("hello small screen")
    line = page.expect_message("carol", "hello small screen")

    box = page.locator("#input").bounding_box()
    assert box["width"] >= 200 and 0 <= box["y"] and box["y"] + box["height"] <= 667, box
    log = page.locator(".log:not([hidden])").bounding_box()
    assert log["width"] >= 300 and log["height"] >= 300, log
    line_box = line.bounding_box()
    assert line_box["y"] + line_box["height"] <= 667, line_box
    assert page.page.evaluate("document.documentElement.scrollWidth") <= 375

    members = page.locator("#members")
    expect(members).to_be_hidden()
    page.locator("#members-toggle").click()
    expect(members).to_be_visible()
    expect(page.member("carol")).to_be_visible()
    page.locator("#members-toggle").click()
    expect(members).to_be_hidden()

    page.say("hi from a phone")
    carol.read_until("[#lobby] <alice> hi from a phone")
    screenshot(page, "web-chat-phone.png")
