"""
The chat page in a real browser, for the end-to-end tests: Debian's chromium
(``/usr/bin/chromium``, headless; Playwright's own browser downloads are never
used) driven by Playwright.  The C{browser} and C{open_page} fixtures in
conftest.py use this; every wait is bounded by L{WAIT} unless a test says
otherwise.
"""

from __future__ import annotations

import os
import re

import pytest

from server import HOST, REPO

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = REPO / "test-artifacts"
# Seconds any one thing may take to appear in the page.
WAIT = 5.0
# Seconds the page may take to come back after the server is started again:
# its reconnection delays grow 0.5, 1, 2, 4 s (with 20% jitter).
RECONNECT_WAIT = 12.0
# Without the background-networking flags, Chromium tries hosts this closed
# network refuses.
ARGUMENTS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--disable-background-networking", "--disable-component-update",
             "--no-first-run", "--disable-sync"]

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    expect = sync_playwright = None

# For modules whose every test needs the browser.
needs_browser = [
    pytest.mark.skipif(sync_playwright is None,
                       reason="playwright is not installed (pip install '.[test]')"),
    pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK),
                       reason=f"{CHROMIUM} is not installed (apt-get install chromium)"),
]


def launch(playwright):
    """Start headless Chromium, with Playwright's waits bounded by L{WAIT}."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         timeout=20_000, args=ARGUMENTS)
    expect.set_options(timeout=WAIT * 1000)
    return browser


class ChatPage:
    """One browser tab with the chat page, and what went wrong in it."""

    def __init__(self, browser, port: int, **context_options) -> None:
        self.context = browser.new_context(**context_options)
        self.context.set_default_timeout(WAIT * 1000)
        self.page = page = self.context.new_page()
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.csp: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("dialog", self._dialog)
        page.on("console", self._console)
        page.goto(f"http://{HOST}:{port}/")

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _console(self, message) -> None:
        if "Content Security Policy" in message.text:
            self.csp.append(message.text)

    def locator(self, selector: str, **options):
        return self.page.locator(selector, **options)

    def sign_in(self, nick: str, room: str = "#lobby") -> "ChatPage":
        self.choose_nick(nick)
        expect(self.locator("#chat")).to_be_visible()
        expect(self.locator("#my-nick")).to_have_text(nick)
        expect(self.locator(".tab.active .tab-name")).to_have_text(room)
        expect(self.member(nick)).to_be_visible()
        return self

    def choose_nick(self, nick: str) -> None:
        self.locator("#login-nick").fill(nick)
        self.locator("#login-button").click()

    def say(self, text: str) -> None:
        self.locator("#input").fill(text)
        self.locator("#input").press("Enter")

    def member(self, nick: str):
        """C{nick}'s entry in the member list; "@nick" must have the @ prefix."""
        pattern = re.escape(nick) if nick[0] in "@+" else "[@+]?" + re.escape(nick)
        return self.locator("#member-list .member").filter(
            has_text=re.compile(rf"^{pattern}$"))

    def lines(self, kind: str = "msg"):
        """The lines of one kind (msg, action, event, ...) in the visible log."""
        return self.locator(f".log:not([hidden]) .line.{kind}")

    def expect_message(self, nick: str, text: str, kind: str = "msg"):
        """Wait until the visible log shows C{text} said by C{nick}; return the line."""
        shown = f"* {nick}" if kind == "action" else nick
        line = self.lines(kind).filter(
            has=self.page.locator(".nick", has_text=re.compile(rf"^{re.escape(shown)}$"))
        ).filter(has=self.page.locator(".text", has_text=text)).last
        expect(line).to_be_visible()
        expect(line.locator(".text")).to_have_text(text)
        expect(line.locator("time")).to_have_text(re.compile(r"^\d\d:\d\d"))
        return line

    def expect_event(self, text: str):
        expect(self.lines("event").filter(has_text=text).last).to_be_visible()

    @property
    def log(self):
        """The visible log."""
        return self.locator(".log:not([hidden])")

    def texts(self) -> list[str]:
        """The text of every message line in the visible log, top to bottom."""
        return self.log.locator(".line.msg .text").all_inner_texts()

    def scroll_to_top(self) -> None:
        self.log.evaluate("log => { log.scrollTop = 0; }")

    def check_clean(self) -> None:
        assert not self.errors, f"JavaScript errors in the page: {self.errors}"
        assert not self.csp, f"Content-Security-Policy violations: {self.csp}"
        assert not self.dialogs, f"dialogs opened: {self.dialogs}"


def screenshot(page: ChatPage, name: str) -> None:
    """Save what C{page} shows to test-artifacts/C{name}, for people to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.page.screenshot(path=str(ARTIFACTS / name))
