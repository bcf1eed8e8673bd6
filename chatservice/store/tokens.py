"""
Login tokens (L{chatservice.core.tokens}) as the account stores keep them:
by the SHA-256 of the secret, never the secret.  Mixed into the in-memory
and the SQLite account stores, whose C{drop} forgets an account's tokens
with the rest of it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace

from twisted.internet.defer import Deferred, succeed

from ..core import names
from ..core.tokens import ID_LENGTH, Token
from .schema import immediate_transaction

TOKEN_COLUMNS = "digest, account, label, created, used"


class MemoryTokens:
    """Tokens kept in the process."""

    def __init__(self) -> None:
        self._tokens: dict[str, Token] = {}

    def add_token(self, token: Token, keep: int) -> Deferred[None]:
        self._tokens[token.digest] = token
        mine = sorted((t for t in self._tokens.values() if t.account == token.account),
                      key=lambda t: t.used)
        for old in mine[:max(0, len(mine) - keep)]:
            del self._tokens[old.digest]
        return succeed(None)

    def find_token(self, digest: str) -> Deferred[Token | None]:
        return succeed(self._tokens.get(digest))

    def touch_token(self, digest: str, when: float) -> Deferred[None]:
        token = self._tokens.get(digest)
        if token is not None:
            self._tokens[digest] = replace(token, used=when)
        return succeed(None)

    def tokens(self, account: str) -> Deferred[list[Token]]:
        key = names.fold(account)
        return succeed(sorted((t for t in self._tokens.values() if t.account == key),
                              key=lambda t: t.created))

    def revoke_tokens(self, account: str, id_: str | None = None) -> Deferred[int]:
        key = names.fold(account)
        gone = [t.digest for t in self._tokens.values()
                if t.account == key and (id_ is None or t.id == id_)]
        for digest in gone:
            del self._tokens[digest]
        return succeed(len(gone))

    def _forget_tokens(self, key: str) -> None:
        self.revoke_tokens(key)


# SQLite: each function runs in the store's thread with its connection.

def _add_token(db: sqlite3.Connection, token: Token, keep: int) -> None:
    with immediate_transaction(db):
        db.execute(f"INSERT INTO account_tokens ({TOKEN_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                   (token.digest, token.account, token.label, token.created, token.used))
        db.execute("DELETE FROM account_tokens WHERE account = ? AND digest NOT IN "
                   "(SELECT digest FROM account_tokens WHERE account = ? "
                   "ORDER BY used DESC LIMIT ?)", (token.account, token.account, keep))


def _find_token(db: sqlite3.Connection, digest: str) -> Token | None:
    row = db.execute(f"SELECT {TOKEN_COLUMNS} FROM account_tokens WHERE digest = ?",
                     (digest,)).fetchone()
    return None if row is None else Token(*row)


def _touch_token(db: sqlite3.Connection, digest: str, when: float) -> None:
    db.execute("UPDATE account_tokens SET used = ? WHERE digest = ?", (when, digest))


def _tokens(db: sqlite3.Connection, key: str) -> list[Token]:
    return [Token(*row) for row in db.execute(
        f"SELECT {TOKEN_COLUMNS} FROM account_tokens WHERE account = ? ORDER BY created",
        (key,))]


def _revoke_tokens(db: sqlite3.Connection, key: str, id_: str | None) -> int:
    if id_ is None:
        return db.execute("DELETE FROM account_tokens WHERE account = ?", (key,)).rowcount
    if len(id_) != ID_LENGTH:
        return 0
    return db.execute("DELETE FROM account_tokens WHERE account = ? AND substr(digest, 1, ?) = ?",
                      (key, ID_LENGTH, id_.lower())).rowcount


class SQLiteTokens:
    """Tokens in the table C{account_tokens}, through the store's runner C{_run}."""

    _run: object

    def add_token(self, token: Token, keep: int) -> Deferred[None]:
        return self._run(_add_token, token, keep)

    def find_token(self, digest: str) -> Deferred[Token | None]:
        return self._run(_find_token, digest)

    def touch_token(self, digest: str, when: float) -> Deferred[None]:
        return self._run(_touch_token, digest, when)

    def tokens(self, account: str) -> Deferred[list[Token]]:
        return self._run(_tokens, names.fold(account))

    def revoke_tokens(self, account: str, id_: str | None = None) -> Deferred[int]:
        return self._run(_revoke_tokens, names.fold(account), id_)
