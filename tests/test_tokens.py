"""
Login tokens in the core and in both stores: made, used as a password
(SASL PLAIN too), renewed on use, expired, limited in number, revoked one by
one, all at once, by a new password and with the account; the brute-force
limits count wrong tokens; only hashes are stored.
"""

from __future__ import annotations

import sqlite3

import pytest
from twisted.internet.testing import MemoryReactorClock
from twisted.python import usage

from chatservice.core import errors, sasl, tokens
from chatservice.core.accounts import (
    PER_ACCOUNT, Accounts, BadPassword, LoginFailed, LoginLimited)
from chatservice.store.accounts import DirectRunner, MemoryAccounts, SQLiteAccounts
from chatservice.store.sqlite import DATA_FILE, DirectReads, SQLiteStore
from chatservice.tap import Options
from unit_helpers import result

ADDRESS = "192.0.2.7"


@pytest.fixture(params=["memory", "sqlite"])
def store(request, tmp_path):
    if request.param == "memory":
        yield MemoryAccounts()
        return
    history = SQLiteStore(str(tmp_path / DATA_FILE), MemoryReactorClock(), reads=DirectReads)
    accounts = SQLiteAccounts(DirectRunner(history.path))
    accounts.path = history.path
    yield accounts
    accounts.close()
    history.close()


@pytest.fixture
def clock():
    clock = MemoryReactorClock()
    clock.advance(1_700_000_000)
    return clock


@pytest.fixture
def accounts(store, clock):
    accounts = Accounts(store, clock)
    result(accounts.register("alice", "correct horse"))
    result(accounts.register("bob", "battery staple"))
    return accounts


def new(accounts, name="alice", label="Firefox on Linux"):
    return result(accounts.issue_token(name, label))


def test_a_token_logs_in_as_its_account(accounts):
    """A new token is a password for its own account, and only for that one."""
    secret, token = new(accounts)
    assert secret.startswith(tokens.PREFIX) and len(secret) == len(tokens.PREFIX) + 43
    assert result(accounts.login("ALICE", secret, ADDRESS)).name == "alice"
    with pytest.raises(LoginFailed, match="token is unknown, revoked or expired"):
        result(accounts.login("bob", secret, ADDRESS))
    assert token.id == token.digest[:8] and token.label == "Firefox on Linux"


def test_only_the_hash_is_stored(accounts, store):
    """The store keeps the token's SHA-256, never the secret."""
    secret, token = new(accounts)
    assert token.digest == tokens.digest(secret) != secret
    if isinstance(store, SQLiteAccounts):
        with sqlite3.connect(store.path) as db:
            rows = db.execute("SELECT * FROM account_tokens").fetchall()
        assert len(rows) == 1 and secret not in repr(rows)
        assert secret.split(":", 1)[1] not in repr(rows)


def test_expires_unless_used(accounts, clock):
    """A token expires LIFETIME after its last use; each use renews it."""
    secret, _ = new(accounts)
    for _ in range(3):
        clock.advance(tokens.LIFETIME - 60)
        assert result(accounts.login("alice", secret, ADDRESS)).name == "alice"
    assert len(result(accounts.list_tokens("alice"))) == 1
    clock.advance(tokens.LIFETIME)
    assert result(accounts.list_tokens("alice")) == []
    with pytest.raises(LoginFailed):
        result(accounts.login("alice", secret, ADDRESS))
    assert result(accounts.store.tokens("alice")) == []


def test_revoke_one_all_and_by_secret(accounts):
    """Revoking by id, by the secret (logging out) and all at once each stop the tokens logging in."""
    first, a = new(accounts, label="one")
    second, b = new(accounts, label="two")
    third, _ = new(accounts, label="three")
    other, _ = new(accounts, "bob")
    assert [t.label for t in result(accounts.list_tokens("alice"))] == ["one", "two", "three"]
    assert result(accounts.revoke_token("alice", a.id)) == 1
    assert result(accounts.revoke_token("bob", b.id)) == 0
    assert result(accounts.revoke_secret(second)).id == b.id
    assert result(accounts.revoke_secret(second)) is None
    assert result(accounts.revoke_secret("correct horse")) is None
    for secret in (first, second):
        with pytest.raises(LoginFailed):
            result(accounts.login("alice", secret, ADDRESS))
    assert result(accounts.login("alice", third, ADDRESS)).name == "alice"
    assert result(accounts.revoke_token("alice", None)) == 1
    with pytest.raises(LoginFailed):
        result(accounts.login("alice", third, ADDRESS))
    assert result(accounts.login("bob", other, ADDRESS)).name == "bob"


def test_new_password_and_drop_revoke_every_token(accounts, store):
    """Changing the password revokes all the account's tokens; dropping the account removes them."""
    secret, _ = new(accounts)
    kept, _ = new(accounts, "bob")
    alice = result(store.find("alice"))
    result(accounts.change_password(alice, "a new password"))
    with pytest.raises(LoginFailed):
        result(accounts.login("alice", secret, ADDRESS))
    assert result(accounts.login("bob", kept, ADDRESS)).name == "bob"
    assert result(store.drop("bob"))
    assert result(store.tokens("bob")) == []
    assert result(store.find_token(tokens.digest(kept))) is None


def test_at_most_so_many_per_account(accounts, clock):
    """Past MAX_PER_ACCOUNT tokens, making one forgets the one used longest ago."""
    made = []
    for n in range(tokens.MAX_PER_ACCOUNT):
        made.append(new(accounts, label=f"t{n}")[0])
        clock.advance(1)
    result(accounts.login("alice", made[0], ADDRESS))  # t0 is now the newest used
    new(accounts, label="newest")
    labels = [t.label for t in result(accounts.list_tokens("alice"))]
    assert len(labels) == tokens.MAX_PER_ACCOUNT
    assert "t1" not in labels and "t0" in labels and "newest" in labels


def test_wrong_tokens_meet_the_login_limits(accounts):
    """Wrong tokens count as failed logins: past the limit even the right token is refused unchecked."""
    secret, _ = new(accounts)
    for n in range(PER_ACCOUNT):
        with pytest.raises(LoginFailed):
            result(accounts.login("alice", tokens.PREFIX + "x" * n, ADDRESS))
    with pytest.raises(LoginLimited):
        result(accounts.login("alice", secret, ADDRESS))


def test_tokens_are_not_passwords(accounts):
    """A password may not look like a token, and a token never stands for the password where the password itself is asked."""
    secret, _ = new(accounts)
    with pytest.raises(BadPassword, match="may not start with"):
        result(accounts.register("carol", tokens.PREFIX + "something long"))
    with pytest.raises(LoginFailed, match="password itself"):
        result(accounts.login("alice", secret, ADDRESS, token_ok=False))


def test_hostile_labels_and_secrets(accounts):
    """Control characters and overlong labels are cleaned; junk after the prefix (invalid UTF-8 surrogates, 10 kB) logs nobody in."""
    _, token = new(accounts, label="evil\r\nQUIT :x\x00" + "y" * 500)
    assert token.label.startswith("evil QUIT :x ") and len(token.label) == tokens.LABEL_MAX
    assert new(accounts, label="\x01\x02")[1].label == "unnamed"
    for junk in ("\udcff" * 10, "z" * 10_000, ""):
        with pytest.raises(LoginFailed):
            result(accounts.login("bob", tokens.PREFIX + junk, ADDRESS))


def test_sasl_plain_takes_a_token(accounts):
    """SASL PLAIN with a token as the password logs in to its account."""
    secret, _ = new(accounts)
    exchange = sasl.start(accounts, "PLAIN", ADDRESS)
    step = result(exchange.step(f"\0alice\0{secret}".encode()))
    assert step.account.name == "alice"


def test_the_tokens_command(accounts):
    """TOKENS NEW, LIST and REVOKE answer in lines; nobody logged in, or a bad verb, is refused."""
    lines = result(tokens.command(accounts, "alice", ["NEW", "my", "bot"]))
    secret = lines[0].rsplit(" ", 1)[1]
    assert result(accounts.login("alice", secret, ADDRESS)).name == "alice"
    listed = result(tokens.command(accounts, "alice", []))
    assert listed[0].startswith("Login tokens of alice") and listed[1].endswith("  my bot")
    assert secret not in "".join(listed)
    token_id = listed[1].split()[0]
    with pytest.raises(errors.ChatError, match="no token"):
        result(tokens.command(accounts, "alice", ["REVOKE", "deadbeef"]))
    assert result(tokens.command(accounts, "alice", ["revoke", token_id])) == [
        "Revoked 1 login token of alice."]
    assert result(tokens.command(accounts, "alice", ["LIST"])) == ["alice has no login tokens."]
    with pytest.raises(errors.ChatError, match="Log in"):
        result(tokens.command(accounts, None, ["LIST"]))
    with pytest.raises(errors.ChatError, match="Usage"):
        result(tokens.command(accounts, "alice", ["FROB"]))


def test_lifetime_comes_from_the_option(store, clock):
    """--login-token-days reaches the accounts: a token lasts that long unused, and the option refuses nonsense."""
    options = Options()
    options.parseOptions(["--login-token-days", "0.5"])
    assert options["config"].accounts.token_days == 0.5
    for bad in ("0", "-3", "soon"):
        with pytest.raises(usage.UsageError):
            Options().parseOptions(["--login-token-days", bad])
    accounts = Accounts(store, clock, token_lifetime=0.5 * 86400)
    result(accounts.register("alice", "correct horse"))
    secret, _ = result(accounts.issue_token("alice", "short"))
    clock.advance(0.5 * 86400 - 1)
    assert result(accounts.login("alice", secret, ADDRESS)).name == "alice"
    assert "unused for 0.5 days" in result(tokens.command(accounts, "alice", ["NEW"]))[1]
    clock.advance(0.5 * 86400)
    with pytest.raises(LoginFailed):
        result(accounts.login("alice", secret, ADDRESS))
