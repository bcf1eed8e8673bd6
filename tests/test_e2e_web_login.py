"""
End to end: logging in to an account, and registering one, from the chat
page in a real browser (SASL PLAIN and draft/account-registration over the
page's WebSocket), against a real ``twistd -n chat``; an IRC client on a
plain socket checks what the server believes (the account in WHOX).
"""

from __future__ import annotations

import re

from browser import RECONNECT_WAIT, expect, needs_browser
from server import HOST
from test_e2e_accounts import add_account, irc

pytestmark = needs_browser


def log_in(page, nick: str, password: str, mode: str = "login") -> None:
    page.locator(f"#login-mode input[value={mode}]").check()
    page.locator("#login-nick").fill(nick)
    page.locator("#login-password").fill(password)
    page.locator("#login-button").click()


def forget_error(page) -> None:
    """Empty the form's error, so that the next one is seen coming."""
    page.page.evaluate("(e => { e.hidden = true; e.textContent = ''; })"
                       "(document.getElementById('login-error'))")


def account_of(server, nick: str) -> str:
    """The account C{nick} is logged in to, as WHOX tells an IRC client ("0": none)."""
    client = irc(server, "watcher")
    client.send_line("NICK watcher")
    client.send_line("USER watcher 0 * :watcher")
    client.read_until(b" 001 ")
    client.send_line(f"WHO {nick} %na")
    line = client.read_until(re.compile(rb" 354 watcher \S+ \S+\r?\n")).decode()
    client.close()
    return line.rsplit(" ", 1)[-1].strip()


def test_log_in_with_an_account_made_by_the_command(start_server, open_page):
    """An account made with python -m chatservice.accounts add logs in from the page and is seen by others."""
    server = start_server(irc=1, web=1)
    add_account(server, "alice", "correct horse")
    page = open_page(server.web_ports[0])
    log_in(page, "alice", "correct horse")
    expect(page.locator("#chat")).to_be_visible()
    expect(page.locator("#my-nick")).to_have_text("alice")
    expect(page.locator(".line.info", has_text="You are logged in as alice.")).to_have_count(1)
    expect(page.member("alice")).to_be_visible()
    assert account_of(server, "alice") == "alice"
    # The password is nowhere on the page, nor in what it stores.
    assert page.locator("#login-password").input_value() == ""
    stored = page.page.evaluate("JSON.stringify(Object.assign({}, localStorage))")
    assert "correct horse" not in stored
    assert "alice" in stored


def test_wrong_password_then_the_limit_are_shown_in_the_form(start_server, open_page):
    """A wrong password shows the server's refusal in the form; past the limit, its wait is shown."""
    server = start_server(irc=1, web=1)
    add_account(server, "alice", "correct horse")
    page = open_page(server.web_ports[0])
    error = page.locator("#login-error")
    for attempt in range(5):
        log_in(page, "alice", f"wrong {attempt}")
        expect(error).to_have_text("Could not log in: Wrong account name or password.")
        expect(page.locator("#chat")).to_be_hidden()
        forget_error(page)
    log_in(page, "alice", "correct horse")
    expect(error).to_have_text(re.compile(r"^Could not log in: Too many failed logins; try again in \d+ s\.$"))
    expect(page.locator("#chat")).to_be_hidden()
    assert "wrong 0" not in server.log() and "correct horse" not in server.log()


def test_register_from_the_page_then_log_in_again(start_server, open_page):
    """Registering from the page makes an account that a second page then logs in to."""
    server = start_server(irc=1, web=1)
    port = server.web_ports[0]
    page = open_page(port)
    log_in(page, "newbie", "abc", mode="register")
    expect(page.locator("#login-error")).to_have_text(re.compile(r"^Could not register: .*password"))
    log_in(page, "newbie", "a good long password", mode="register")
    expect(page.locator("#chat")).to_be_visible()
    expect(page.locator(".line.info", has_text="You are logged in as newbie.")).to_have_count(1)
    assert account_of(server, "newbie") == "newbie"
    page.say("/quit")
    other = open_page(port)
    log_in(other, "newbie", "a good long password", mode="register")
    expect(other.locator("#login-error")).to_have_text(re.compile(r"^Could not register: "))
    log_in(other, "newbie", "a good long password")
    expect(other.locator("#chat")).to_be_visible()
    expect(other.locator("#my-nick")).to_have_text("newbie")


def test_closed_registration_is_said_in_the_form(start_server, open_page):
    """On a server whose registration is closed, choosing Register says so before any password is sent."""
    server = start_server("--registration", "closed", irc=1, web=1)
    page = open_page(server.web_ports[0])
    log_in(page, "newbie", "a good long password", mode="register")
    expect(page.locator("#login-error")).to_have_text(
        "This server does not let you register an account here.")


def test_hostile_names_and_passwords(start_server, open_page):
    """Control characters, spaces, a leading colon and a 1000-character password neither break the page nor log in."""
    server = start_server(irc=1, web=1)
    add_account(server, "alice", "correct horse")
    page = open_page(server.web_ports[0])
    for password in (":correct horse", "correct\r\nQUIT :x", "\u00e9\u0000" * 3, "x" * 1000):
        log_in(page, "alice", password)
        expect(page.locator("#login-error")).to_have_text(re.compile(r"^Could not log in: "))
        forget_error(page)
    expect(page.locator("#chat")).to_be_hidden()


def test_plain_http_warning(start_server, open_page):
    """Over http the form warns that the password is unprotected when an account is chosen; over https it does not."""
    server = start_server(web=1, web_tls=1)
    page = open_page(server.web_ports[0])
    warning = page.locator("#login-insecure")
    expect(page.locator("#login-password")).to_be_hidden()
    expect(warning).to_be_hidden()
    page.locator("#login-mode input[value=login]").check()
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("unprotected")
    page.locator("#login-mode input[value=register]").check()
    expect(warning).to_be_visible()
    page.locator("#login-mode input[value=guest]").check()
    expect(warning).to_be_hidden()
    secure = open_page(server.web_ports[0], ignore_https_errors=True)
    secure.page.goto(f"https://{HOST}:{server.web_tls_ports[0]}/")
    secure.locator("#login-mode input[value=login]").check()
    expect(secure.locator("#login-password")).to_be_visible()
    expect(secure.locator("#login-insecure")).to_be_hidden()


def test_logged_in_again_after_a_server_restart(start_server, open_page):
    """After the server restarts, the page reconnects logged in to the same account with the password it kept in memory."""
    server = start_server(irc=1, web=1)
    add_account(server, "alice", "correct horse")
    page = open_page(server.web_ports[0])
    log_in(page, "alice", "correct horse")
    expect(page.locator("#my-nick")).to_have_text("alice")
    server.terminate()
    expect(page.locator("#status")).to_be_visible()
    server.start_again()
    expect(page.locator("#status")).to_be_hidden(timeout=RECONNECT_WAIT * 1000)
    expect(page.locator(".line.info", has_text="You are logged in as alice.")).to_have_count(2)
    assert account_of(server, "alice") == "alice"
    expect(page.member("alice")).to_be_visible()
