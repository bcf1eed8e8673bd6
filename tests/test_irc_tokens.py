"""
Login tokens over IRC and line chat without sockets: TOKEN NEW and REVOKE,
NickServ TOKENS, line chat's /tokens, logging in with a token (SASL PLAIN,
PASS, /login), and hostile input, on a hub with in-memory accounts.
"""

from __future__ import annotations

import base64

import pytest

from chatservice.core.accounts import Accounts
from chatservice.core.tokens import PREFIX
from chatservice.store.accounts import MemoryAccounts
from irc_helpers import MixedServer

NS = ":NickServ!NickServ@services NOTICE {} :"


def b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


@pytest.fixture
def chat():
    server = MixedServer()
    server.hub.use_accounts(Accounts(MemoryAccounts(), server.clock))
    server.hub.accounts.register("alice", "correct horse")
    return server


def sasl(chat, nick, secret):
    client = chat.connect()
    client.line("CAP REQ :sasl")
    client.line("AUTHENTICATE PLAIN")
    client.take()
    lines = client.said("AUTHENTICATE " + b64(f"\0{nick}\0{secret}"))
    client.line("CAP END")
    client.line(f"NICK {nick}")
    client.line(f"USER {nick} 0 * :{nick}")
    client.nick = nick
    client.take()
    return client, lines


def test_token_new_then_log_in_and_revoke(chat):
    """TOKEN NEW gives a token that logs in with SASL PLAIN; TOKEN REVOKE ends it."""
    alice, lines = sasl(chat, "alice", "correct horse")
    assert " 903 " in lines[-1]
    [line] = alice.said("TOKEN NEW :Mozilla/5.0 (X11) HeadlessChrome")
    prefix, token_id, secret = line.rsplit(" ", 2)
    assert prefix == ":chatservice TOKEN NEW" and secret.startswith(PREFIX)
    alice.line("QUIT")
    again, lines = sasl(chat, "alice", secret)
    assert lines[-1] == ":chatservice 903 * :SASL authentication successful"
    listed = again.said("NS TOKENS")
    assert listed[1].startswith(NS.format("alice") + f"  {token_id}  ")
    assert listed[1].endswith("  Mozilla/5.0 (X11) HeadlessChrome")
    assert again.said(f"TOKEN REVOKE {secret}") == [f":chatservice TOKEN REVOKED {token_id}"]
    assert again.said(f"TOKEN REVOKE {secret}") == [
        ":chatservice FAIL TOKEN INVALID_TOKEN * :No such login token (revoked or expired "
        "already)"]
    again.line("QUIT")
    _, lines = sasl(chat, "alice", secret)
    assert lines[-1] == (":chatservice 904 * :SASL authentication failed: That login token is "
                         "unknown, revoked or expired")


def test_token_refusals(chat):
    """TOKEN NEW needs an account; other subcommands and hostile labels are handled."""
    guest = chat.register("guest")
    assert guest.said("TOKEN NEW") == [
        ":chatservice FAIL TOKEN ACCOUNT_REQUIRED * :Log in to an account first"]
    assert guest.said("TOKEN FROB x")[0].startswith(
        ":chatservice FAIL TOKEN INVALID_PARAMS * :Usage")
    assert guest.said("TOKEN")[0].startswith(":chatservice 461 ")
    assert guest.said("TOKEN REVOKE :not a token") == [
        ":chatservice FAIL TOKEN INVALID_TOKEN * :No such login token (revoked or expired "
        "already)"]
    alice, _ = sasl(chat, "alice", "correct horse")
    assert alice.said("TOKEN NEW :" + "\x01\x02evil\x7f" + "x" * 400)[0].startswith(
        ":chatservice TOKEN NEW ")
    listed = alice.said("NS TOKENS LIST")
    # The wire drops the control characters; the label is cut to 100 characters.
    assert listed[1].endswith("  evil" + "x" * 96)


def test_pass_and_nickserv_identify_take_a_token_but_drop_does_not(chat):
    """PASS account:token and NickServ IDENTIFY log in with a token; DROP wants the password."""
    alice, _ = sasl(chat, "alice", "correct horse")
    secret = alice.said("TOKEN NEW :bot")[0].rsplit(" ", 1)[1]
    client = chat.connect()
    client.line(f"PASS alice:{secret}")
    client.line("NICK alice_")
    lines = client.said("USER a 0 * :a")
    assert any(" 900 " in line and " alice :" in line for line in lines)
    other = chat.register("other")
    assert other.said(f"NS IDENTIFY alice {secret}")[0].endswith(
        ":You are now identified for alice.")
    assert other.said(f"NS DROP {secret}")[0].endswith(
        ":Give the password itself, not a login token.")
    assert other.said("NS TOKENS REVOKE ALL")[0].endswith(":Revoked 1 login token of alice.")
    assert other.said("NS TOKENS")[0].endswith(":alice has no login tokens.")


def test_line_tokens_command(chat):
    """Line chat's /tokens makes, lists and revokes tokens, and /login takes one."""
    client = chat.sign_in_line("frank")
    client.line("/tokens")
    assert client.take() == ["*** Log in to your account first."]
    client.line("/login alice correct horse")
    client.take()
    client.line("/tokens new my script")
    lines = client.take()
    assert lines[0].startswith("*** New login token ") and PREFIX in lines[0]
    secret = lines[0].rsplit(" ", 1)[1]
    client.line("/logout")
    client.take()
    client.line(f"/login alice {secret}")
    assert client.take() == ["*** You are logged in as alice."]
    client.line(f"/passwd {secret} another password")
    assert client.take() == ["*** Give the password itself, not a login token."]
    client.line("/tokens list")
    assert client.take()[1].endswith("  my script")
    client.line("/tokens revoke all")
    assert client.take() == ["*** Revoked 1 login token of alice."]
