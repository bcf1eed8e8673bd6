"""
Accounts in the core and in both stores: registration rules, logins, the
brute-force limits (with a fake clock), rehashing, room roles, and the
operators' command (a real process on a real database).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import argon2
import pytest
from scramp import ScramMechanism
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import globalLogPublisher

from chatservice.core import errors
from chatservice.core.accounts import (
    FOUNDER, OPERATOR, PER_ACCOUNT, PER_ADDRESS, Account, AccountExists, Accounts, BadPassword,
    FailureLimiter, LoginFailed, LoginLimited, RegistrationClosed)
from chatservice.core.passwords import make_credentials
from chatservice.store import schema
from chatservice.store.accounts import DirectRunner, MemoryAccounts, SQLiteAccounts
from chatservice.store.sqlite import DATA_FILE, DirectReads, SQLiteStore
from unit_helpers import result

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(params=["memory", "sqlite"])
def store(request, tmp_path):
    if request.param == "memory":
        yield MemoryAccounts()
        return
    clock = MemoryReactorClock()
    history = SQLiteStore(str(tmp_path / DATA_FILE), clock, reads=DirectReads)
    accounts = SQLiteAccounts(DirectRunner(history.path))
    yield accounts
    accounts.close()
    history.close()


@pytest.fixture
def clock():
    return MemoryReactorClock()


@pytest.fixture
def accounts(store, clock):
    return Accounts(store, clock)


class TestStores:
    """Both stores behave alike."""

    def test_register_and_find(self, accounts, store):
        """A registered account is found by its name in any case."""
        made = result(accounts.register("Alice", "correct horse", "a@example.org"))
        found = result(store.find("ALICE"))
        assert (found.name, found.email, found.created) == ("Alice", "a@example.org", made.created)
        assert result(store.find("bob")) is None

    def test_same_name_twice(self, accounts):
        """A name registered once cannot be registered again, in another case either."""
        result(accounts.register("alice", "correct horse"))
        with pytest.raises(AccountExists):
            result(accounts.register("ALICE", "another one"))

    def test_grouped_nick_is_found_and_owned(self, accounts, store):
        """A grouped nick leads to its account, and cannot be registered or grouped again."""
        result(accounts.register("alice", "correct horse"))
        result(accounts.register("bob", "correct horse"))
        result(store.add_nick("alice", "Ally"))
        assert result(store.find("ally")).name == "alice"
        assert result(store.find("ally")).nicks == ("Ally",)
        with pytest.raises(AccountExists):
            result(accounts.register("ally", "correct horse"))
        with pytest.raises(AccountExists):
            result(store.add_nick("bob", "ALLY"))

    def test_drop(self, accounts, store):
        """Dropping an account frees its name, its nicks and its room roles."""
        result(accounts.register("alice", "correct horse"))
        result(store.add_nick("alice", "ally"))
        result(store.set_room_role("#room", "alice", FOUNDER))
        assert result(store.drop("Alice")) is True
        assert result(store.find("alice")) is None
        assert result(store.find("ally")) is None
        assert result(store.room_roles("#room")) == {}
        assert result(store.drop("alice")) is False

    def test_room_roles(self, store):
        """Room roles are kept per room and account, and can be changed and taken away."""
        result(store.set_room_role("#room", "Alice", FOUNDER))
        result(store.set_room_role("#room", "bob", OPERATOR))
        result(store.set_room_role("#other", "bob", FOUNDER))
        assert result(store.room_roles("#room")) == {"alice": FOUNDER, "bob": OPERATOR}
        result(store.set_room_role("#room", "bob", None))
        assert result(store.room_roles("#room")) == {"alice": FOUNDER}

    def test_list(self, accounts, store):
        """Every account is listed, by name."""
        for name in ("carol", "alice", "bob"):
            result(accounts.register(name, "correct horse"))
        assert [a.name for a in result(store.accounts())] == ["alice", "bob", "carol"]


class TestRules:
    def test_name_follows_the_nick_rules(self, accounts):
        """An account name that is no valid nickname is refused with the nickname rule."""
        for name in ("#room", "a b", "", "x" * 100, "bad\x01"):
            with pytest.raises(errors.ErroneousNick):
                result(accounts.register(name, "correct horse"))

    def test_password_rules(self, accounts):
        """Too short, too long and control-character passwords are refused, saying why."""
        for password, words in (("short", "at least"), ("x" * 1001, "at most"), ("", "empty"),
                                ("pass\x00word", "control")):
            with pytest.raises(BadPassword, match=words):
                result(accounts.register("alice", password))

    def test_bad_email(self, accounts):
        """An e-mail address, when given, must look like one."""
        with pytest.raises(BadPassword, match="e-mail"):
            result(accounts.register("alice", "correct horse", "not an address"))

    def test_closed_registration(self, store, clock):
        """With registration closed, only the operators' path creates accounts."""
        closed = Accounts(store, clock, registration_open=False)
        with pytest.raises(RegistrationClosed):
            result(closed.register("alice", "correct horse"))
        assert result(closed.register("alice", "correct horse", by_operator=True)).name == "alice"


class TestLogin:
    def test_right_password(self, accounts):
        """The right password logs in to the account, whatever the name's case."""
        result(accounts.register("Alice", "correct horse"))
        assert result(accounts.login("alice", "correct horse", "192.0.2.1")).name == "Alice"

    def test_wrong_password_and_unknown_name_alike(self, accounts):
        """A wrong password and an unknown name fail with the same words."""
        result(accounts.register("alice", "correct horse"))
        with pytest.raises(LoginFailed) as wrong:
            result(accounts.login("alice", "wrong horse", "192.0.2.1"))
        with pytest.raises(LoginFailed) as unknown:
            result(accounts.login("nobody", "wrong horse", "192.0.2.1"))
        assert str(wrong.value) == str(unknown.value) == "Wrong account name or password."

    def test_failures_are_counted_for_monitoring(self, accounts, clock):
        """Each failed login counts in the stats of the hub that uses the accounts."""
        from chatservice.core.hub import Hub

        hub = Hub(clock)
        hub.use_accounts(accounts)
        result(accounts.register("alice", "correct horse"))
        for password in ("wrong", "correct horse", "worse"):
            try:
                result(accounts.login("alice", password, "192.0.2.1"))
            except LoginFailed:
                pass
        assert hub.stats.logins_failed == 2

    def test_grouped_nick_is_not_a_login_name(self, accounts, store):
        """Logging in takes the account's name, not a grouped nick."""
        result(accounts.register("alice", "correct horse"))
        result(store.add_nick("alice", "ally"))
        with pytest.raises(LoginFailed):
            result(accounts.login("ally", "correct horse", "192.0.2.1"))

    def test_rehash_when_parameters_change(self, store, clock):
        """A hash made with other argon2 parameters is replaced on the next good login."""
        weak = argon2.PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        old = make_credentials("correct horse", weak)
        result(store.create(Account("alice", 0.0, old)))
        accounts = Accounts(store, clock)
        account = result(accounts.login("alice", "correct horse", "192.0.2.1"))
        assert account.credentials.hash != old.hash
        kept = result(store.find("alice")).credentials
        assert kept.hash == account.credentials.hash
        assert not argon2.PasswordHasher().check_needs_rehash(kept.hash)
        assert result(accounts.login("alice", "correct horse", "192.0.2.1")).name == "alice"

    def test_change_password(self, accounts, store):
        """After a password change only the new password logs in, SCRAM keys included."""
        account = result(accounts.register("alice", "correct horse"))
        result(accounts.change_password(account, "battery staple"))
        assert result(accounts.login("alice", "battery staple", "192.0.2.1"))
        with pytest.raises(LoginFailed):
            result(accounts.login("alice", "correct horse", "192.0.2.1"))
        keys = result(store.find("alice")).credentials
        mechanism = ScramMechanism("SCRAM-SHA-256")
        server = mechanism.make_server(lambda name: (keys.salt, keys.stored_key,
                                                     keys.server_key, keys.iterations))
        from scramp import ScramClient
        client = ScramClient(["SCRAM-SHA-256"], "alice", "battery staple")
        server.set_client_first(client.get_client_first())
        client.set_server_first(server.get_server_first())
        server.set_client_final(client.get_client_final())
        client.set_server_final(server.get_server_final())

    def test_password_never_logged(self, accounts):
        """Failed logins are logged with the address, never with the password."""
        seen = []
        globalLogPublisher.addObserver(seen.append)
        try:
            with pytest.raises(LoginFailed):
                result(accounts.login("alice", "hunter2-secret", "192.0.2.7"))
        finally:
            globalLogPublisher.removeObserver(seen.append)
        from twisted.logger import formatEvent
        text = "\n".join(formatEvent(event) for event in seen)
        assert "192.0.2.7" in text and "alice" in text
        assert "hunter2" not in text and "hunter2" not in repr(seen)


class TestLimits:
    def test_per_account(self, accounts, clock):
        """After 5 failures an account is refused from any address, before hashing, until a minute passes."""
        result(accounts.register("alice", "correct horse"))
        for number in range(PER_ACCOUNT):
            with pytest.raises(LoginFailed):
                result(accounts.login("alice", "wrong", f"192.0.2.{number}"))
        hashed = []
        accounts.run = lambda function, *args: hashed.append(function)
        with pytest.raises(LoginLimited, match=r"try again in 60 s") as limited:
            result(accounts.login("alice", "correct horse", "198.51.100.1"))
        assert limited.value.wait == 60 and hashed == []
        clock.advance(30)
        with pytest.raises(LoginLimited, match=r"try again in 30 s"):
            result(accounts.login("alice", "correct horse", "198.51.100.1"))
        clock.advance(30)
        accounts.run = Accounts(accounts.store, clock).run
        assert result(accounts.login("alice", "correct horse", "198.51.100.1")).name == "alice"

    def test_per_address(self, accounts, clock):
        """After 20 failures from one address (an IPv6 /64 counts as one), it is refused for any account."""
        for number in range(PER_ADDRESS):
            with pytest.raises(LoginFailed):
                result(accounts.login(f"user{number}", "wrong", f"2001:db8::{number}"))
        with pytest.raises(LoginLimited):
            result(accounts.login("someone", "wrong", "2001:db8::ffff"))
        with pytest.raises(LoginFailed):
            result(accounts.login("someone", "wrong", "2001:db8:1::1"))

    def test_memory_is_bounded(self, clock):
        """Made-up names cannot grow the failure table past its bound."""
        limiter = FailureLimiter(clock, tracked=100)
        for number in range(1000):
            limiter.failed(f"name{number}", "192.0.2.1")
        assert len(limiter._failures) <= 100


def run_command(data_dir, *args, password=None):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "chatservice.accounts", "--data-dir",
                           str(data_dir), *args], input=password, capture_output=True,
                          text=True, env=env, timeout=60)


class TestCommand:
    def test_add_list_passwd_drop(self, tmp_path):
        """The command adds, lists, re-passwords and drops accounts, saying what it did."""
        data = tmp_path / "data"
        done = run_command(data, "add", "alice", password="correct horse\n")
        assert done.returncode == 0 and "Account alice created." in done.stdout
        assert "correct horse" not in done.stdout + done.stderr
        done = run_command(data, "list")
        assert done.stdout.startswith("alice\tcreated ")
        done = run_command(data, "passwd", "alice", password="battery staple\n")
        assert done.returncode == 0
        db = SQLiteAccounts(DirectRunner(str(data / DATA_FILE)))
        accounts = Accounts(db, MemoryReactorClock())
        assert result(accounts.login("alice", "battery staple", "192.0.2.1"))
        db.close()
        done = run_command(data, "drop", "alice")
        assert done.returncode == 0
        assert run_command(data, "list").stdout == ""

    def test_refusals(self, tmp_path):
        """Refusals exit 1 with one line saying why, and never echo the password."""
        data = tmp_path / "data"
        run_command(data, "add", "alice", password="correct horse\n")
        for args, password, words in (
                (("add", "alice"), "correct horse\n", "already registered"),
                (("add", "bob"), "\n", "cannot be empty"),
                (("add", "#bob"), "correct horse\n", ""),
                (("passwd", "nobody"), "correct horse\n", "no account nobody"),
                (("drop", "nobody"), None, "no account nobody")):
            done = run_command(data, *args, password=password)
            assert done.returncode == 1, args
            assert done.stderr.startswith("chatservice.accounts: ") and words in done.stderr
            assert "Traceback" not in done.stderr
            if password and password.strip():
                assert password.strip() not in done.stderr

    def test_not_our_database(self, tmp_path):
        """A database of something else is refused, not changed."""
        import sqlite3
        data = tmp_path / "data"
        data.mkdir()
        db = sqlite3.connect(data / DATA_FILE)
        db.execute("CREATE TABLE other (x)")
        db.commit()
        db.close()
        done = run_command(data, "list")
        assert done.returncode == 1 and "not chatservice's" in done.stderr

    def test_migrates_an_old_database(self, tmp_path):
        """A database from before accounts gains the account tables."""
        import sqlite3
        data = tmp_path / "data"
        data.mkdir()
        db = sqlite3.connect(data / DATA_FILE, isolation_level=None)
        schema.migrate(db, schema.MIGRATIONS[:2])
        db.close()
        assert run_command(data, "add", "alice", password="correct horse\n").returncode == 0
        db = sqlite3.connect(data / DATA_FILE)
        assert db.execute("SELECT max(version) FROM schema_version").fetchone()[0] == schema.VERSION
        db.close()


class TestSasl:
    def scram(self, accounts, name, password):
        from scramp import ScramClient
        from chatservice.core import sasl
        exchange = sasl.start(accounts, "scram-sha-256", "192.0.2.9")
        client = ScramClient(["SCRAM-SHA-256"], name, password)
        step = result(exchange.step(client.get_client_first().encode()))
        client.set_server_first(step.challenge.decode())
        step = result(exchange.step(client.get_client_final().encode()))
        client.set_server_final(step.challenge.decode())
        return result(exchange.step(b"")).account

    def test_scram_logs_in(self, accounts):
        """A SCRAM-SHA-256 exchange with the right password ends in the account."""
        result(accounts.register("alice", "correct horse"))
        assert self.scram(accounts, "alice", "correct horse").name == "alice"

    def test_scram_unknown_account_fails_like_a_wrong_password(self, accounts):
        """An unknown name gets a challenge and fails at the proof, with the words of a wrong password."""
        from chatservice.core.sasl import SaslFailed
        result(accounts.register("alice", "correct horse"))
        for name, password in (("alice", "wrong horse"), ("nobody", "correct horse")):
            with pytest.raises(SaslFailed, match="Wrong account name or password"):
                self.scram(accounts, name, password)

    def test_scram_limited_before_any_work(self, accounts):
        """After 5 SCRAM failures the next exchange is refused at its first message."""
        from chatservice.core import sasl
        from chatservice.core.sasl import SaslFailed
        result(accounts.register("alice", "correct horse"))
        for _ in range(PER_ACCOUNT):
            with pytest.raises(SaslFailed):
                self.scram(accounts, "alice", "wrong horse")
        exchange = sasl.start(accounts, "SCRAM-SHA-256", "192.0.2.9")
        with pytest.raises(LoginLimited):
            result(exchange.step(b"n,,n=alice,r=abcdefghijkl"))

    def test_plain_rules(self, accounts):
        """PLAIN refuses another authzid, empty parts, too many NULs and bad UTF-8."""
        from chatservice.core import sasl
        from chatservice.core.sasl import SaslFailed
        result(accounts.register("alice", "correct horse"))
        for data in (b"bob\0alice\0correct horse", b"\0\0correct horse", b"\0alice\0",
                     b"\0alice\0correct\0horse", b"\xff\0alice\0correct horse", b"junk"):
            with pytest.raises(SaslFailed):
                result(sasl.start(accounts, "PLAIN", "192.0.2.9").step(data))
        account = result(sasl.start(accounts, "PLAIN", "192.0.2.9").step(
            b"ALICE\0alice\0correct horse")).account
        assert account.name == "alice"
