"""
The operators' account command::

    python -m chatservice.accounts --data-dir DIR add NAME [--email ADDRESS]
    python -m chatservice.accounts --data-dir DIR passwd NAME
    python -m chatservice.accounts --data-dir DIR drop NAME
    python -m chatservice.accounts --data-dir DIR list

It works on the server's database (C{chatservice.sqlite3} in the data
directory) whether the server runs or not: SQLite's WAL mode lets it write
while the server reads, and the server reads accounts afresh on each login.
C{add} creates accounts even when the server's registration is closed.
The password is asked for without echo on a terminal, or read as one line
from standard input otherwise (for scripts); it is never an argument, which
any user of the machine could read in the process list.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sqlite3
import sys
import time
from typing import Any

from twisted.internet.defer import Deferred

from .core import errors
from .core.accounts import AccountError, Accounts
from .core.names import fold
from .store import StoreError, schema
from .store.accounts import DirectRunner, SQLiteAccounts
from .store.sqlite import DATA_FILE


class _WallClock:
    def seconds(self) -> float:
        return time.time()


def _result(deferred: Deferred) -> Any:
    """The result of a Deferred that has fired (every call here is synchronous)."""
    box: list = []
    deferred.addBoth(box.append)
    outcome = box[0]
    if hasattr(outcome, "raiseException"):
        outcome.raiseException()
    return outcome


def _password(prompt: str) -> str:
    if sys.stdin.isatty():
        first = getpass.getpass(prompt)
        if getpass.getpass("Again: ") != first:
            raise AccountError("The two passwords differ.")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def open_accounts(data_dir: str) -> SQLiteAccounts:
    """The accounts in C{data_dir}'s database, created and migrated if needed."""
    os.makedirs(data_dir, mode=0o700, exist_ok=True)
    path = os.path.join(data_dir, DATA_FILE)
    db = sqlite3.connect(path, timeout=10, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode = WAL")
        schema.migrate(db)
    except schema.NewerSchema:
        raise StoreError(f"{path} was written by a newer chatservice") from None
    except schema.NotOurs:
        raise StoreError(f"{path} is an SQLite database, but not chatservice's") from None
    finally:
        db.close()
    return SQLiteAccounts(DirectRunner(path))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chatservice.accounts",
                                     description="Manage chatservice accounts.")
    parser.add_argument("--data-dir", default="chatservice-data",
                        help="the server's data directory [default: chatservice-data]")
    parser.add_argument("command", choices=["add", "passwd", "drop", "list"])
    parser.add_argument("name", nargs="?")
    parser.add_argument("--email", default="", help="the account's e-mail address (add)")
    options = parser.parse_args(argv)
    if options.command != "list" and not options.name:
        parser.error(f"{options.command} needs an account NAME")
    try:
        store = open_accounts(options.data_dir)
    except (OSError, sqlite3.Error, StoreError) as problem:
        print(f"chatservice.accounts: {problem}", file=sys.stderr)
        return 1
    accounts = Accounts(store, _WallClock())
    try:
        return _run(accounts, store, options)
    except (errors.ChatError, sqlite3.Error) as problem:
        print(f"chatservice.accounts: {problem}", file=sys.stderr)
        return 1
    finally:
        store.close()


def _run(accounts: Accounts, store: SQLiteAccounts, options: argparse.Namespace) -> int:
    name = options.name
    if options.command == "add":
        account = _result(accounts.register(name, _password(f"Password for {name}: "),
                                            options.email, by_operator=True))
        print(f"Account {account.name} created.")
    elif options.command == "passwd":
        account = _result(store.find(name))
        if account is None or account.key != fold(name):
            raise AccountError(f"There is no account {name}.")
        _result(accounts.change_password(account, _password(f"New password for {name}: "),
                                            by_operator=True))
        print(f"Password of {account.name} changed; its login tokens are revoked.")
    elif options.command == "drop":
        if not _result(store.drop(name)):
            raise AccountError(f"There is no account {name}.")
        print(f"Account {name} dropped, with its login tokens.")
    else:
        for account in _result(store.accounts()):
            created = time.strftime("%Y-%m-%d %H:%M", time.gmtime(account.created))
            grouped = f" (also {', '.join(account.nicks)})" if account.nicks else ""
            print(f"{account.name}\tcreated {created} UTC{grouped}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
