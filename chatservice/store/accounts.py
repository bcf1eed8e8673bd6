"""
Accounts and room roles: an in-memory store, and one in the SQLite database
that holds history (same file, same migrations, WAL mode).

The SQLite store reads and writes through one connection of its own in one
thread (an L{adbapi.ConnectionPool} of one), never through the history
writer's queue: account changes are rare, small, and must be visible to the
next read at once.  Every read goes to the database, so an account that
C{python -m chatservice.accounts add} creates while the server runs is seen
by the next login.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import replace
from typing import Any, Callable

from twisted.enterprise import adbapi
from twisted.internet.defer import Deferred, fail, succeed

from ..core import names
from ..core.accounts import Account, AccountExists
from ..core.passwords import Credentials
from .schema import immediate_transaction
from .sqlite import DirectReads
from .tokens import MemoryTokens, SQLiteTokens

ACCOUNT_COLUMNS = ("key, name, created, email, hash, scram_salt, scram_stored_key, "
                   "scram_server_key, scram_iterations")


class MemoryAccounts(MemoryTokens):
    """Accounts kept in the process: for tests and C{--no-persistence}."""

    def __init__(self) -> None:
        super().__init__()
        self._accounts: dict[str, Account] = {}
        self._owners: dict[str, str] = {}  # folded nick -> account key
        self._roles: dict[str, dict[str, str]] = {}
        self._certfps: dict[str, str] = {}  # fingerprint -> account key

    def find(self, nick: str) -> Deferred[Account | None]:
        owner = self._owners.get(names.fold(nick))
        return succeed(None if owner is None else self._accounts[owner])

    def create(self, account: Account) -> Deferred[None]:
        if account.key in self._owners:
            return fail(AccountExists(f"The name {account.name} is already registered.",
                                      account.name))
        self._accounts[account.key] = account
        self._owners[account.key] = account.key
        return succeed(None)

    def set_credentials(self, name: str, credentials: Credentials) -> Deferred[bool]:
        key = names.fold(name)
        account = self._accounts.get(key)
        if account is None:
            return succeed(False)
        self._accounts[key] = _with(account, credentials=credentials)
        return succeed(True)

    def add_nick(self, name: str, nick: str) -> Deferred[None]:
        key, nick_key = names.fold(name), names.fold(nick)
        if nick_key in self._owners:
            return fail(AccountExists(f"The nickname {nick} is already registered.", nick))
        account = self._accounts[key]
        self._accounts[key] = _with(account, nicks=account.nicks + (nick,))
        self._owners[nick_key] = key
        return succeed(None)

    def drop(self, name: str) -> Deferred[bool]:
        key = names.fold(name)
        if self._accounts.pop(key, None) is None:
            return succeed(False)
        for nick, owner in list(self._owners.items()):
            if owner == key:
                del self._owners[nick]
        for roles in self._roles.values():
            roles.pop(key, None)
        for fp, owner in list(self._certfps.items()):
            if owner == key:
                del self._certfps[fp]
        self._forget_tokens(key)
        return succeed(True)

    def certfps(self, name: str) -> Deferred[list[str]]:
        key = names.fold(name)
        return succeed([fp for fp, owner in self._certfps.items() if owner == key])

    def add_certfp(self, name: str, fp: str) -> Deferred[None]:
        if fp in self._certfps:
            return fail(AccountExists("That certificate is already registered.", fp))
        self._certfps[fp] = names.fold(name)
        return succeed(None)

    def del_certfp(self, name: str, fp: str) -> Deferred[bool]:
        if self._certfps.get(fp) != names.fold(name):
            return succeed(False)
        del self._certfps[fp]
        return succeed(True)

    def find_certfp(self, fp: str) -> Deferred[Account | None]:
        owner = self._certfps.get(fp)
        return succeed(None if owner is None else self._accounts.get(owner))

    def accounts(self) -> Deferred[list[Account]]:
        return succeed(sorted(self._accounts.values(), key=lambda a: a.key))

    def room_roles(self, room: str) -> Deferred[dict[str, str]]:
        return succeed(dict(self._roles.get(room, {})))

    def set_room_role(self, room: str, account: str, role: str | None) -> Deferred[None]:
        roles = self._roles.setdefault(room, {})
        if role is None:
            roles.pop(names.fold(account), None)
        else:
            roles[names.fold(account)] = role
        return succeed(None)


def _with(account: Account, **changes: Any) -> Account:
    return replace(account, **changes)


# SQLite: each function runs in the store's thread with its connection.

def _decode(db: sqlite3.Connection, row: tuple) -> Account:
    key, name, created, email, hashed, salt, stored, server, iterations = row
    nicks = tuple(nick for (nick,) in db.execute(
        "SELECT nick FROM account_nicks WHERE account = ? AND key != ? ORDER BY rowid",
        (key, key)))
    return Account(name, created, Credentials(hashed, bytes(salt), bytes(stored),
                                              bytes(server), iterations), email, nicks)


def _find(db: sqlite3.Connection, nick_key: str) -> Account | None:
    row = db.execute(f"SELECT {', '.join('a.' + c.strip() for c in ACCOUNT_COLUMNS.split(','))} "
                     "FROM account_nicks n JOIN accounts a ON a.key = n.account "
                     "WHERE n.key = ?", (nick_key,)).fetchone()
    return None if row is None else _decode(db, row)


def _create(db: sqlite3.Connection, account: Account) -> None:
    c = account.credentials
    with immediate_transaction(db):
        if db.execute("SELECT 1 FROM account_nicks WHERE key = ?", (account.key,)).fetchone():
            raise AccountExists(f"The name {account.name} is already registered.",
                                account.name)
        db.execute(f"INSERT INTO accounts ({ACCOUNT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (account.key, account.name, account.created, account.email, c.hash,
                    c.salt, c.stored_key, c.server_key, c.iterations))
        db.execute("INSERT INTO account_nicks (key, nick, account) VALUES (?, ?, ?)",
                   (account.key, account.name, account.key))


def _set_credentials(db: sqlite3.Connection, key: str, c: Credentials) -> bool:
    return db.execute(
        "UPDATE accounts SET hash = ?, scram_salt = ?, scram_stored_key = ?, "
        "scram_server_key = ?, scram_iterations = ? WHERE key = ?",
        (c.hash, c.salt, c.stored_key, c.server_key, c.iterations, key)).rowcount > 0


def _add_nick(db: sqlite3.Connection, key: str, nick: str) -> None:
    try:
        db.execute("INSERT INTO account_nicks (key, nick, account) "
                   "SELECT ?, ?, key FROM accounts WHERE key = ?", (names.fold(nick), nick, key))
    except sqlite3.IntegrityError:
        raise AccountExists(f"The nickname {nick} is already registered.", nick) from None


def _drop(db: sqlite3.Connection, key: str) -> bool:
    with immediate_transaction(db):
        found = db.execute("DELETE FROM accounts WHERE key = ?", (key,)).rowcount > 0
        db.execute("DELETE FROM account_nicks WHERE account = ?", (key,))
        db.execute("DELETE FROM room_roles WHERE account = ?", (key,))
        db.execute("DELETE FROM account_certfps WHERE account = ?", (key,))
        db.execute("DELETE FROM account_tokens WHERE account = ?", (key,))
    return found


def _certfps(db: sqlite3.Connection, key: str) -> list[str]:
    return [fp for (fp,) in db.execute(
        "SELECT fp FROM account_certfps WHERE account = ? ORDER BY added", (key,))]


def _add_certfp(db: sqlite3.Connection, key: str, fp: str, now: float) -> None:
    try:
        db.execute("INSERT INTO account_certfps (fp, account, added) VALUES (?, ?, ?)",
                   (fp, key, now))
    except sqlite3.IntegrityError:
        raise AccountExists("That certificate is already registered.", fp) from None


def _del_certfp(db: sqlite3.Connection, key: str, fp: str) -> bool:
    return db.execute("DELETE FROM account_certfps WHERE fp = ? AND account = ?",
                      (fp, key)).rowcount > 0


def _find_certfp(db: sqlite3.Connection, fp: str) -> Account | None:
    row = db.execute("SELECT account FROM account_certfps WHERE fp = ?", (fp,)).fetchone()
    return None if row is None else _find(db, row[0])


def _accounts(db: sqlite3.Connection) -> list[Account]:
    rows = db.execute(f"SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY key").fetchall()
    return [_decode(db, row) for row in rows]


def _room_roles(db: sqlite3.Connection, room: str) -> dict[str, str]:
    return dict(db.execute("SELECT account, role FROM room_roles WHERE room = ?", (room,)))


def _set_room_role(db: sqlite3.Connection, room: str, account: str, role: str | None) -> None:
    if role is None:
        db.execute("DELETE FROM room_roles WHERE room = ? AND account = ?", (room, account))
    else:
        db.execute("INSERT INTO room_roles (room, account, role) VALUES (?, ?, ?) "
                   "ON CONFLICT (room, account) DO UPDATE SET role = excluded.role",
                   (room, account, role))


def open_connection(path: str) -> sqlite3.Connection:
    """A connection to the database at C{path} for account reads and writes."""
    db = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA busy_timeout = 10000")
    return db


class ThreadRunner:
    """Runs C{function(connection, *args)} in one thread, on one connection."""

    def __init__(self, path: str, reactor: Any = None):
        self.pool = adbapi.ConnectionPool(
            "sqlite3", path, timeout=10, check_same_thread=False, isolation_level=None,
            cp_min=1, cp_max=1, cp_noisy=False, cp_reactor=reactor)

    def __call__(self, function: Callable[..., Any], *args: Any) -> Deferred:
        return self.pool.runWithConnection(function, *args)

    def close(self) -> None:
        self.pool.close()


class DirectRunner(DirectReads):
    """
    Runs at once in the caller's thread (the operators' command, and
    tests), as the history's direct reads do, on a connection that may write.
    """

    def __init__(self, path: str):
        self.db = open_connection(path)


class SQLiteAccounts(SQLiteTokens):
    """
    Accounts in the SQLite database at C{path}, which the history store (or
    L{schema.migrate}) has already brought up to date.
    """

    def __init__(self, runner: ThreadRunner | DirectRunner):
        self._run = runner

    def find(self, nick: str) -> Deferred[Account | None]:
        return self._run(_find, names.fold(nick))

    def create(self, account: Account) -> Deferred[None]:
        return self._run(_create, account)

    def set_credentials(self, name: str, credentials: Credentials) -> Deferred[bool]:
        return self._run(_set_credentials, names.fold(name), credentials)

    def add_nick(self, name: str, nick: str) -> Deferred[None]:
        return self._run(_add_nick, names.fold(name), nick)

    def drop(self, name: str) -> Deferred[bool]:
        return self._run(_drop, names.fold(name))

    def accounts(self) -> Deferred[list[Account]]:
        return self._run(_accounts)

    def certfps(self, name: str) -> Deferred[list[str]]:
        return self._run(_certfps, names.fold(name))

    def add_certfp(self, name: str, fp: str) -> Deferred[None]:
        return self._run(_add_certfp, names.fold(name), fp, time.time())

    def del_certfp(self, name: str, fp: str) -> Deferred[bool]:
        return self._run(_del_certfp, names.fold(name), fp)

    def find_certfp(self, fp: str) -> Deferred[Account | None]:
        return self._run(_find_certfp, fp)

    def room_roles(self, room: str) -> Deferred[dict[str, str]]:
        return self._run(_room_roles, room)

    def set_room_role(self, room: str, account: str, role: str | None) -> Deferred[None]:
        return self._run(_set_room_role, room, names.fold(account), role)

    def close(self) -> None:
        self._run.close()
