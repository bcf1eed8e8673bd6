"""
The certificate command, the same on every front end (line chat's
``/certfp``, NickServ's ``CERT``): an account's TLS client certificates,
by SHA-256 fingerprint, that log in to it with SASL EXTERNAL.

``ADD [fp]`` adds C{fp}, or the certificate of the current connection when
none is given; ``DEL [fp]`` removes it (the same default); ``LIST`` lists
them.  Each answer is a list of lines for the front end to show.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred, fail

from .accounts import AccountError, Accounts

USAGE = "Usage: CERT ADD [fingerprint] | CERT DEL [fingerprint] | CERT LIST"


def command(accounts: Accounts, account: str | None, words: list[str],
            current: str | None) -> Deferred[list[str]]:
    """
    Run one certificate command for whoever is logged in to C{account}
    (C{None}: nobody), whose connection shows the certificate C{current}.
    """
    if account is None:
        return fail(AccountError("Log in to your account first."))
    verb = words[0].upper() if words else "LIST"
    if verb == "LIST" and len(words) <= 1:
        return accounts.certfps(account).addCallback(_listed, account, current)
    if verb not in ("ADD", "DEL") or len(words) > 2:
        return fail(AccountError(USAGE))
    fp = words[1] if len(words) == 2 else current
    if fp is None:
        return fail(AccountError(
            "This connection shows no TLS client certificate: give its fingerprint."))
    if verb == "ADD":
        return accounts.add_certfp(account, fp).addCallback(
            lambda added: [f"Certificate {added} now logs in to {account} (SASL EXTERNAL)."])

    def deleted(found: bool) -> list[str]:
        if not found:
            raise AccountError(f"{account} has no such certificate.")
        return [f"Certificate {fp.replace(':', '').lower()} no longer logs in to {account}."]
    return accounts.del_certfp(account, fp).addCallback(deleted)


def _listed(fps: list[str], account: str, current: str | None) -> list[str]:
    if not fps:
        return [f"{account} has no certificates."]
    return [f"Certificates of {account}:"] + [
        f"  {fp}{' (this connection)' if fp == current else ''}" for fp in fps]
