"""
End to end, in Chromium against a real ``twistd -n chat``: the chat page's
"remember me".  Ticked, the page keeps a login token (never the password) in
localStorage and logs in with it when reopened; unticked it keeps only the
nickname; a token revoked (NickServ TOKENS REVOKE, "Log out", a new
password) makes the page ask for the password again.
"""

from __future__ import annotations

import json
import re

from browser import RECONNECT_WAIT, expect, needs_browser
from test_e2e_accounts import add_account, finish, irc, numeric, sasl_plain
from test_e2e_web_login import account_of, log_in

pytestmark = needs_browser

PASSWORD = "correct horse"


def storage(page) -> dict:
    return page.page.evaluate("Object.assign({}, localStorage)")


def remembered(page, server) -> dict:
    """Log in with "remember me" ticked; the login the page keeps."""
    page.locator("#login-mode input[value=login]").check()
    page.locator("#login-remember").check()
    log_in(page, "alice", PASSWORD)
    expect(page.locator("#my-nick")).to_have_text("alice")
    page.page.wait_for_function("localStorage.getItem('chat.login') !== null")
    return json.loads(storage(page)["chat.login"])


def nickserv(server, *commands: str) -> list[str]:
    """Log in as alice over IRC with the password, run NickServ commands, return its notices."""
    client = irc(server, "alice-irc")
    sasl_plain(client, "alice", PASSWORD)
    numeric(client, "903")
    finish(client, "alice_irc")
    numeric(client, "001")
    notices = []
    for command in commands:
        client.send_line(f"NS {command}")
        client.send_line("PING :done")
        got = client.read_until(b"PONG").decode()
        notices += [line.split(" :", 1)[1] for line in got.splitlines()
                    if line.startswith(":NickServ!")]
    client.close()
    return notices


def reopened_asks_for_the_password(page) -> None:
    page.page.reload()
    expect(page.locator("#login-error")).to_contain_text(
        "Your remembered login has expired or was revoked; log in with your password.")
    expect(page.locator("#chat")).to_be_hidden()
    assert set(storage(page)) == {"chat.nick"}
    expect(page.locator("#login-nick")).to_have_value("alice")


def test_remember_me_logs_in_on_reload_until_revoked(start_server, open_page):
    """Ticked, a reload logs in without typing with a token (not the password); NS TOKENS REVOKE ALL makes the next reload ask for the password."""
    server = start_server(irc=1, web=1)
    add_account(server, "alice", PASSWORD)
    page = open_page(server.web_ports[0])
    kept = remembered(page, server)
    assert kept["account"] == "alice"
    assert re.fullmatch(r"chatservice-token:[A-Za-z0-9_-]{43}", kept["token"])
    assert PASSWORD not in json.dumps(storage(page))
    page.page.reload()
    expect(page.locator("#chat")).to_be_visible()
    expect(page.locator("#my-nick")).to_have_text("alice")
    expect(page.locator(".line.info", has_text="You are logged in as alice.")).to_have_count(1)
    assert json.loads(storage(page)["chat.login"]) == kept
    assert account_of(server, "alice") == "alice"
    listed = nickserv(server, "TOKENS LIST")
    assert listed[0] == "Login tokens of alice (id, made, last used, label):"
    assert len(listed) == 2 and "HeadlessChrome" in listed[1]
    assert kept["token"] not in server.log() and PASSWORD not in server.log()
    assert nickserv(server, "TOKENS REVOKE ALL") == ["Revoked 1 login token of alice."]
    reopened_asks_for_the_password(page)
    log_in(page, "alice", PASSWORD)
    expect(page.locator("#my-nick")).to_have_text("alice")


def test_unticked_keeps_only_the_name(start_server, open_page):
    """Unticked, only the nickname is stored, no token is made, and a reload shows the form."""
    server = start_server(irc=1, web=1)
    add_account(server, "alice", PASSWORD)
    page = open_page(server.web_ports[0])
    log_in(page, "alice", PASSWORD)
    expect(page.locator("#my-nick")).to_have_text("alice")
    expect(page.locator(".line.info", has_text="You are logged in as alice.")).to_have_count(1)
    assert storage(page) == {"chat.nick": "alice"}
    assert nickserv(server, "TOKENS") == ["alice has no login tokens."]
    page.page.reload()
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#login-error")).to_be_hidden()
    expect(page.locator("#chat")).to_be_hidden()
    assert storage(page) == {"chat.nick": "alice"}


def test_log_out_revokes_the_token(start_server, open_page):
    """The Log out button revokes the page's token on the server (not the account's others), forgets it, and shows the form."""
    server = start_server(irc=1, web=1)
    add_account(server, "alice", PASSWORD)
    made = nickserv(server, "TOKENS NEW my bot")
    assert made[0].startswith("New login token ") and len(made) == 2
    bot_token = made[0].rsplit(" ", 1)[1]
    page = open_page(server.web_ports[0])
    kept = remembered(page, server)
    expect(page.locator("#logout")).to_be_visible()
    page.locator("#logout").click()
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#chat")).to_be_hidden()
    expect(page.locator("#login-error")).to_be_hidden()
    assert set(storage(page)) == {"chat.nick"}
    listed = nickserv(server, "TOKENS LIST")
    assert len(listed) == 2 and listed[1].endswith("  my bot"), listed
    # The page's token logs in no more; the bot's still does.
    client = irc(server, "stolen")
    sasl_plain(client, "alice", kept["token"])
    assert "token is unknown, revoked or expired" in numeric(client, "904")
    client = irc(server, "bot")
    sasl_plain(client, "alice", bot_token)
    numeric(client, "903")
    page.page.reload()
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#chat")).to_be_hidden()


def test_new_password_revokes_remembered_logins(start_server, open_page):
    """After NS SET PASSWORD, a reload asks for the (new) password."""
    server = start_server(irc=1, web=1)
    add_account(server, "alice", PASSWORD)
    page = open_page(server.web_ports[0])
    remembered(page, server)
    page.say("/quit")
    assert nickserv(server, "SET PASSWORD a brand new one") == ["Your password is changed."]
    reopened_asks_for_the_password(page)


def test_remembered_login_survives_a_server_restart(start_server, open_page):
    """After a server restart the page reconnects logged in with its token, the password gone from its memory."""
    server = start_server(irc=1, web=1)
    add_account(server, "alice", PASSWORD)
    page = open_page(server.web_ports[0])
    remembered(page, server)
    server.terminate()
    expect(page.locator("#status")).to_be_visible()
    server.start_again()
    expect(page.locator("#status")).to_be_hidden(timeout=RECONNECT_WAIT * 1000)
    expect(page.locator(".line.info", has_text="You are logged in as alice.")).to_have_count(2)
    assert account_of(server, "alice") == "alice"
    assert len(nickserv(server, "TOKENS LIST")) == 2  # no second token was made


def test_tampered_storage(start_server, open_page):
    """Garbage or a forged token in localStorage neither breaks the page nor logs in; it is forgotten."""
    server = start_server(irc=1, web=1)
    add_account(server, "alice", PASSWORD)
    page = open_page(server.web_ports[0])
    page.page.evaluate("localStorage.setItem('chat.login', '{{{not json')")
    page.page.reload()
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#login-error")).to_be_hidden()
    assert storage(page) == {}
    forged = json.dumps({"account": "alice", "token": "chatservice-token:forged\r\nQUIT :x"})
    page.page.evaluate(f"localStorage.setItem('chat.login', {json.dumps(forged)})")
    page.page.reload()
    expect(page.locator("#login-error")).to_contain_text("Your remembered login has expired")
    expect(page.locator("#chat")).to_be_hidden()
    assert "chat.login" not in storage(page)
