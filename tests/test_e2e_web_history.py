"""
End to end: the chat page's history (draft/chathistory) and search
(soju.im/search) in a real browser against a real ``twistd -n chat`` that
keeps its history in a data directory.

Playwright drives Debian's chromium (``/usr/bin/chromium``, headless) as in
test_e2e_web_browser.py; line-chat users on plain sockets say things before
and while the page looks.  Every wait is bounded.

A screenshot of a room whose older history was scrolled into view is saved
to test-artifacts/web-history.png, and one of search results to
test-artifacts/web-history-search.png, for people to look at; nothing
compares them.
"""

from __future__ import annotations

import re

import pytest

from browser import RECONNECT_WAIT, expect, needs_browser, screenshot
from server import HOST

pytestmark = needs_browser

HOSTILE = "<img src=x onerror=alert(1)><script>window.pwned=1</script>"


@pytest.fixture
def history_server(start_server, tmp_path):
    """A server with a web port that keeps history in a data directory, without flood control."""
    def start():
        return start_server("--data-dir", str(tmp_path / "data"), "--no-flood-control", web=1)
    return start


def say_all(client, texts) -> None:
    """A line client says each of C{texts} in its room."""
    client.send(b"".join(text.encode("utf-8") + b"\n" for text in texts))


def round_trip(client) -> None:
    """
    Wait until the server has handled everything a line client sent: it
    answers /topic only after the lines before it.
    """
    client.send_line("/topic")
    client.read_until(re.compile(rb"\*\*\* (#lobby has no topic\.|Topic of #lobby: .*)\r\n"))


def test_opening_a_room_shows_what_was_said_before(history_server, open_page):
    """A page signing in sees, above its own join, what a line user said in #lobby before, as text, once each; what is said next follows below."""
    server = history_server()
    bob = server.user("bob")
    said = ["good morning", "anyone here?", HOSTILE]
    say_all(bob, said)
    round_trip(bob)

    alice = open_page(server.web_ports[0]).sign_in("alice")
    expect(alice.log.locator(".line.msg")).to_have_count(3)
    assert alice.texts() == said
    # The history is above the line that says she joined.
    first_join = alice.log.locator(".line.event", has_text="You joined #lobby")
    expect(first_join).to_have_count(1)
    assert alice.log.evaluate("""log => {
        const rows = [...log.querySelectorAll('.line')];
        const join = rows.findIndex((r) => r.textContent.includes('You joined #lobby'));
        const said = rows.findIndex((r) => r.textContent.includes('good morning'));
        return said >= 0 && said < join;
    }""")
    expect(alice.log.locator(".history-edge")).to_have_text("This is the start of #lobby.")
    # bob's join is replayed (draft/event-playback), once.
    expect(alice.log.locator(".line.event", has_text="bob joined #lobby")).to_have_count(1)
    assert alice.locator("#logs img, #logs script").count() == 0
    assert alice.page.evaluate("typeof window.pwned") == "undefined"

    bob.send_line("and now live")
    expect(alice.log.locator(".line.msg")).to_have_count(4)
    assert alice.texts() == said + ["and now live"]
    # Every line shown from history or live has the msgid the server gave it.
    ids = alice.log.evaluate(
        "log => [...log.querySelectorAll('.line.msg')].map((r) => r.dataset.msgid)")
    assert all(ids) and len(set(ids)) == 4, ids


def test_scrolling_up_loads_older_pages_and_keeps_the_place(history_server, open_page):
    """120 messages: the page shows the latest page of 50, and each scroll to the top loads 50 older ones above, keeping what was in view where it was, until the start of the room."""
    server = history_server()
    bob = server.user("bob")
    said = [f"message {n:03}" for n in range(1, 121)]
    say_all(bob, said)
    round_trip(bob)

    alice = open_page(server.web_ports[0]).sign_in("alice")
    messages = alice.log.locator(".line.msg")
    # The latest 50 lines of #lobby end with alice's own join, which the log
    # shows once, below them.
    expect(messages).to_have_count(49)
    assert alice.texts() == said[71:]
    expect(alice.log.locator(".history-edge")).to_be_hidden()

    for count, first in ((99, 21), (120, 0)):
        anchor = alice.log.locator(".line.msg").first
        anchor_text = anchor.locator(".text").inner_text()
        alice.scroll_to_top()
        expect(messages).to_have_count(count)
        assert alice.texts() == said[first:]
        # What was at the top is still where it was: the older page went above it.
        top = alice.log.evaluate("""(log, text) => {
            const row = [...log.querySelectorAll('.line.msg')]
                .find((r) => r.querySelector('.text').textContent === text);
            return row.getBoundingClientRect().top - log.getBoundingClientRect().top;
        }""", anchor_text)
        assert 0 <= top < 60, top

    expect(alice.log.locator(".history-edge")).to_have_text("This is the start of #lobby.")
    # Nothing more is asked for at the start.
    alice.scroll_to_top()
    alice.page.wait_for_timeout(300)
    expect(messages).to_have_count(120)
    ids = alice.log.evaluate(
        "log => [...log.querySelectorAll('.line.msg')].map((r) => r.dataset.msgid)")
    assert len(set(ids)) == 120
    screenshot(alice, "web-history.png")


def test_reconnecting_fetches_what_was_missed_once(history_server, open_page):
    """The server restarts with the same data directory; while the page is kept away, messages are said; when it reconnects it shows each of them once, in order, between what it saw before and what comes live."""
    server = history_server()
    bob = server.user("bob")
    bob.send_line("before the restart")
    alice = open_page(server.web_ports[0]).sign_in("alice")
    expect(alice.log.locator(".line.msg")).to_have_count(1)
    bob.send_line("seen live")
    expect(alice.log.locator(".line.msg")).to_have_count(2)

    # New WebSockets from the page are refused until `blocked` is cleared.
    blocked = [True]

    def websocket(ws):
        if blocked[0]:
            ws.close()
        else:
            ws.connect_to_server()

    alice.page.route_web_socket(re.compile(r"/ws$"), websocket)
    server.terminate()
    expect(alice.locator("#status")).to_be_visible()
    server.start_again()
    carol = server.user("carol")
    missed = [f"missed {n}" for n in range(1, 6)]
    say_all(carol, missed)
    round_trip(carol)

    blocked[0] = False
    # Playwright's sync API runs route handlers only inside its own calls, so
    # an attempt the page made meanwhile may be let through (and connect) by
    # the next call: press "Reconnect now" from the page itself, which does
    # nothing if a connection is under way.
    alice.page.evaluate("document.getElementById('reconnect-now').click()")
    expect(alice.locator("#status")).to_be_hidden(timeout=RECONNECT_WAIT * 1000)
    expect(alice.log.locator(".line.msg")).to_have_count(7)
    carol.send_line("live again")
    expect(alice.log.locator(".line.msg")).to_have_count(8)
    assert alice.texts() == ["before the restart", "seen live"] + missed + ["live again"]
    ids = alice.log.evaluate(
        "log => [...log.querySelectorAll('.line.msg')].map((r) => r.dataset.msgid)")
    assert len(set(ids)) == 8, ids
    # carol's join, said while the page was away, is replayed once.
    expect(alice.log.locator(".line.event", has_text="carol joined #lobby")).to_have_count(1)


def test_search_finds_messages_of_the_room(history_server, open_page):
    """The search box asks the server for the room's messages with a word; the results panel lists them, oldest first, and Escape closes it."""
    server = history_server()
    bob = server.user("bob")
    say_all(bob, ["the quick brown fox", "nothing to see", "a fox again <b>!</b>"])
    round_trip(bob)
    alice = open_page(server.web_ports[0]).sign_in("alice")
    expect(alice.log.locator(".line.msg")).to_have_count(3)

    alice.locator("#search").fill("fox")
    alice.locator("#search").press("Enter")
    panel = alice.locator("#search-panel")
    expect(panel).to_be_visible()
    results = panel.locator(".line.msg .text")
    expect(results).to_have_text(["the quick brown fox", "a fox again <b>!</b>"])
    expect(alice.locator("#search-title")).to_contain_text("2 messages in #lobby")
    expect(panel.locator(".line.msg time").first).to_have_text(re.compile(r"\d"))
    assert panel.locator("b").count() == 0
    screenshot(alice, "web-history-search.png")

    alice.page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(alice.locator("#input")).to_be_focused()

    alice.locator("#search").fill("zebra")
    alice.locator("#search").press("Enter")
    expect(alice.locator("#search-title")).to_contain_text("No messages in #lobby")
    alice.locator("#search-close").click()
    expect(panel).to_be_hidden()


def test_day_separators_follow_the_local_date(browser, start_server):
    """days.js puts a break where the local calendar day changes (in the browser's time zone), and the log shows one separator there."""
    server = start_server(web=1)
    context = browser.new_context(timezone_id="America/New_York")
    try:
        page = context.new_page()
        page.goto(f"http://{HOST}:{server.web_ports[0]}/")
        result = page.evaluate("""async () => {
            const days = await import('/static/days.js');
            const render = await import('/static/render.js');
            const times = ['2024-01-01T12:00:00Z', '2024-01-02T03:00:00Z',
                           '2024-01-02T06:00:00Z', '2024-01-02T23:00:00Z'].map((t) => new Date(t));
            const log = document.createElement('div');
            const b = { log };
            times.forEach((t, i) => log.append(render.makeRow('msg', 'line ' + i, 'bob', t, String(i))));
            render.redoDays(b);
            return {
                breaks: days.dayBreaks(times),
                keys: times.map(days.dayKey),
                children: [...log.children].map((c) => c.className),
                label: log.querySelector('.day').textContent,
            };
        }""")
        # In New York, 03:00Z on the 2nd is still the evening of the 1st.
        assert result["keys"] == ["2024-01-01", "2024-01-01", "2024-01-02", "2024-01-02"]
        assert result["breaks"] == [2]
        assert result["children"] == ["line msg", "line msg", "day", "line msg", "line msg"]
        assert "2024" in result["label"] and "January" in result["label"]
    finally:
        context.close()
