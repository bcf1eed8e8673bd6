"""
End to end: login tokens through a real twistd and the real operators'
command.  A token made over IRC logs in with SASL PLAIN; the operators'
``passwd`` revokes every token of the account and ``drop`` removes them from
the database; a flood of wrong tokens meets the login limits; no token
reaches the log.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest

from server import REPO
from test_e2e_accounts import add_account, finish, irc, numeric, sasl_plain


def operators(server, *args: str, password: str = "") -> str:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-m", "chatservice.accounts", "--data-dir",
                           str(server.directory / "chatservice-data"), *args],
                          input=password + "\n", capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def new_token(server, label: str, password: str = "correct horse") -> str:
    client = irc(server, "maker")
    sasl_plain(client, "alice", password)
    numeric(client, "903")
    finish(client, "alice")
    numeric(client, "001")
    client.send_line(f"TOKEN NEW :{label}")
    line = numeric(client, "TOKEN")
    client.send_line("QUIT")
    client.read_until_closed()
    return line.rsplit(" ", 1)[1]


def token_login(server, secret: str) -> str:
    """The verdict (903 or 904 line) of a SASL PLAIN login as alice with C{secret}."""
    client = irc(server, "tokenuser")
    sasl_plain(client, "alice", secret)
    line = _verdict(client)
    client.close()
    return line


def _verdict(client) -> str:
    got = client.read_until(b":SASL authentication ").decode()
    return got.rsplit("\n", 1)[-1] + client.read_until(b"\n").decode().rstrip("\r\n")


@pytest.fixture
def server(start_server):
    server = start_server(irc=1)
    add_account(server, "alice", "correct horse")
    return server


def database(server) -> sqlite3.Connection:
    return sqlite3.connect(server.directory / "chatservice-data" / "chatservice.sqlite3")


def test_operators_passwd_revokes_and_drop_removes(server):
    """The operators' passwd revokes the account's tokens at once; drop leaves none in the database."""
    first = new_token(server, "phone")
    assert "successful" in token_login(server, first)
    out = operators(server, "passwd", "alice", password="a new password")
    assert "login tokens are revoked" in out
    assert "failed" in token_login(server, first)
    add_account(server, "bob", "battery staple")
    second = new_token(server, "laptop", "a new password")
    with database(server) as db:
        rows = db.execute("SELECT account, label FROM account_tokens").fetchall()
        dump = repr(db.execute("SELECT * FROM account_tokens").fetchall())
    assert rows == [("alice", "laptop")] and second.split(":", 1)[1] not in dump
    assert "with its login tokens" in operators(server, "drop", "alice")
    with database(server) as db:
        assert db.execute("SELECT count(*) FROM account_tokens").fetchone() == (0,)
    assert "failed" in token_login(server, second)
    assert first not in server.log() and second not in server.log()


def test_wrong_tokens_meet_the_limits(server):
    """Five wrong tokens for an account, and the right one is refused with the wait, unchecked."""
    secret = new_token(server, "phone")
    for n in range(5):
        assert "failed: That login token is unknown" in token_login(
            server, f"chatservice-token:{'A' * 43}{n}")
    assert "Too many failed logins; try again in" in token_login(server, secret)
    assert "AAAA" not in server.log()
