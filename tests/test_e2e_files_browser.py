"""
End to end: sharing files from the chat page in Chromium (Playwright), seen
by a second page and by an nc user; downloads; hostile HTML and SVG files
that must never run in the browser; and an expired link marked as such.
"""

from __future__ import annotations

import re
import time

from browser import expect, needs_browser, screenshot
from file_helpers import HTML_WITH_SCRIPT, SVG_WITH_SCRIPT, png, request
from server import HOST
from test_e2e_web_browser import line_user

pytestmark = needs_browser

SHARED = re.compile(rb"\[#lobby\] \* alice shared (\S+) \(([^)]+)\): (http://\S+/files/[\w-]+/\S+)\r\n")

# Records whether the progress bar was shown and how far it went.
WATCH_PROGRESS = """() => {
  window.progressSeen = { shown: false, max: 0 };
  const box = document.getElementById('upload-progress');
  const bar = document.getElementById('upload-bar');
  new MutationObserver(() => {
    if (!box.hidden) window.progressSeen.shown = true;
    window.progressSeen.max = Math.max(window.progressSeen.max, Number(bar.value));
  }).observe(box, { attributes: true, subtree: true });
}"""

DROP = """([name, text]) => {
  const dt = new DataTransfer();
  dt.items.add(new File([text], name, { type: 'text/plain' }));
  const chat = document.getElementById('chat');
  chat.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
  chat.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
}"""

PASTE = """(bytes) => {
  const dt = new DataTransfer();
  dt.items.add(new File([new Uint8Array(bytes)], 'image.png', { type: 'image/png' }));
  document.getElementById('input').dispatchEvent(
    new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
}"""


def card(page, name: str):
    return page.log.locator(".line.file .file-card").filter(
        has=page.page.locator(".file-name", has_text=name)).last


def expect_preview(page, name: str) -> None:
    image = card(page, name).locator("img.file-preview")
    expect(image).to_be_visible()
    page.page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle(),
        timeout=5000)


def test_attach_shows_progress_a_card_with_a_preview_for_everyone_and_nc(
        start_server, open_page, nc, tmp_path):
    """A file attached on one page shows a progress bar, then a card with its preview on both pages, nc sees the link, and its uploader can delete it."""
    server = start_server(web=1)
    port = server.web_ports[0]
    carol = line_user(server, nc, "carol")
    alice = open_page(port).sign_in("alice")
    bob = open_page(port).sign_in("bob")
    # Big enough for progress events, small enough for a shared machine.
    picture = tmp_path / "holiday.png"
    picture.write_bytes(png(400, 300) + b"\0" * (3 * 1024 * 1024))
    alice.page.evaluate(WATCH_PROGRESS)
    alice.locator("#file-picker").set_input_files(str(picture))
    for page in (alice, bob):
        expect(card(page, "holiday.png")).to_be_visible()
        expect(card(page, "holiday.png").locator(".file-size")).to_have_text(" (3.1 MB)")
        expect_preview(page, "holiday.png")
    seen = alice.page.evaluate("window.progressSeen")
    assert seen["shown"] and seen["max"] == 100, seen
    expect(alice.locator("#upload-progress")).to_be_hidden()
    found = SHARED.search(carol.read_until(SHARED))
    assert found.group(1) == b"holiday.png" and found.group(2) == b"3.1 MB"
    # The uploader may delete their own file; the other page may not.
    expect(card(alice, "holiday.png").locator(".file-delete")).to_be_visible()
    expect(card(bob, "holiday.png").locator(".file-delete")).to_have_count(0)
    screenshot(alice, "web-file-card.png")
    path = card(alice, "holiday.png").locator(".file-name").get_attribute("href")
    card(alice, "holiday.png").locator(".file-delete").click()
    expect(card(alice, "holiday.png").locator(".file-state")).to_have_text("deleted")
    expect(card(alice, "holiday.png").locator("img")).to_have_count(0)
    assert request(port, "GET", path).status == 410
    for page in (alice, bob):
        page.check_clean()


def test_drop_and_paste_share_files_and_a_download_gives_the_bytes(
        start_server, open_page, nc):
    """A dropped text file and a pasted image are shared; the text file downloads byte for byte."""
    server = start_server(web=1)
    port = server.web_ports[0]
    carol = line_user(server, nc, "carol")
    alice = open_page(port).sign_in("alice")
    bob = open_page(port).sign_in("bob")
    alice.page.evaluate(DROP, ["notes.txt", "line one\nline two\n"])
    expect(card(bob, "notes.txt")).to_be_visible()
    assert b"alice shared notes.txt (18 bytes)" in carol.read_until(SHARED)
    alice.page.evaluate(PASTE, list(png(8, 8)))
    pasted = bob.log.locator(".file-card .file-name", has_text=re.compile(r"^pasted-.*\.png$"))
    expect(pasted).to_be_visible()
    expect(pasted.locator("xpath=..").locator("img.file-preview")).to_be_visible()
    with bob.page.expect_download() as info:
        card(bob, "notes.txt").locator(".file-name").click()
    download = info.value
    assert download.suggested_filename == "notes.txt"
    with open(download.path(), "rb") as got:
        assert got.read() == b"line one\nline two\n"
    for page in (alice, bob):
        page.check_clean()


def test_html_and_svg_with_scripts_download_and_never_run(start_server, open_page, nc):
    """An HTML page and an SVG with scripts, shared and opened, download as files and run nothing."""
    server = start_server(web=1)
    port = server.web_ports[0]
    alice = open_page(port).sign_in("alice")
    bob = open_page(port).sign_in("bob")
    alice.page.evaluate(DROP, ["page.html", HTML_WITH_SCRIPT.decode()])
    alice.page.evaluate(DROP, ["drawing.svg", SVG_WITH_SCRIPT.decode()])
    for name in ("page.html", "drawing.svg"):
        link = card(bob, name).locator(".file-name")
        expect(link).to_be_visible()
        with bob.page.expect_download() as info:
            link.click()
        assert info.value.suggested_filename == name
        # Going to the link itself downloads too, and runs nothing.
        path = link.get_attribute("href")
        other = bob.context.new_page()
        dialogs = []
        other.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        with other.expect_download():
            try:
                other.goto(f"http://{HOST}:{port}{path}")
            except Exception as problem:  # a download aborts the navigation
                assert "Download is starting" in str(problem) or "net::ERR_ABORTED" in str(problem)
        assert not dialogs
        other.close()
    for page in (alice, bob):
        page.check_clean()


def test_an_expired_file_is_marked_expired_on_the_page(start_server, open_page):
    """After --upload-days runs out, a page opened later shows the card from history as expired."""
    server = start_server("--upload-days", str(3 / 86400), web=1)
    port = server.web_ports[0]
    alice = open_page(port).sign_in("alice")
    alice.page.evaluate(DROP, ["old.txt", "soon gone"])
    expect(card(alice, "old.txt")).to_be_visible()
    time.sleep(3.5)  # the expiry is wall-clock time in another process
    late = open_page(port).sign_in("dave")
    expect(card(late, "old.txt").locator(".file-state")).to_have_text("expired")
    expect(card(late, "old.txt").locator("a.file-name")).to_have_count(0)
    late.check_clean()


def test_a_file_shared_in_a_private_conversation_reaches_only_that_person(
        start_server, open_page, nc):
    """A file dropped in a private conversation shows in both people's conversation tabs, and not in the room."""
    server = start_server(web=1)
    port = server.web_ports[0]
    carol = line_user(server, nc, "carol")
    alice = open_page(port).sign_in("alice")
    bob = open_page(port).sign_in("bob")
    alice.member("bob").click()
    expect(alice.locator(".tab.active .tab-name")).to_have_text("bob")
    alice.page.evaluate(DROP, ["secret.txt", "for bob only"])
    expect(card(alice, "secret.txt")).to_be_visible()
    bob.locator(".tab-name", has_text=re.compile("^alice$")).click()
    expect(card(bob, "secret.txt")).to_be_visible()
    expect(bob.locator(".tab.active .tab-name")).to_have_text("alice")
    carol.send_line("/who")
    assert b"secret.txt" not in carol.read_until("*** In #lobby (3)")
    for page in (alice, bob):
        page.check_clean()
