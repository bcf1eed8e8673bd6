"""
SASL mechanisms (PLAIN, RFC 4616; SCRAM-SHA-256, RFC 7677; EXTERNAL, RFC
4422 appendix A, with the TLS client certificate's fingerprint) over
L{Accounts}, whatever carries them: a front end decodes the client's
messages to bytes, feeds them to L{Exchange.step}, and sends back the
challenge it gets, until the exchange ends in an account or a failure.

Both mechanisms go through the brute-force limits before any hashing, and
count their failures.  A SCRAM exchange for an unknown account runs to the
end with keys nobody has, so that it fails exactly like a wrong password.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from scramp import ScramException, ScramMechanism
from twisted.internet.defer import Deferred, maybeDeferred

from . import names
from .accounts import Account, Accounts, LoginFailed
from .passwords import SCRAM_ITERATIONS, SCRAM_MECHANISM

MECHANISMS = ("PLAIN", SCRAM_MECHANISM)
EXTERNAL = "EXTERNAL"


def mechanisms(external: bool) -> tuple[str, ...]:
    """The mechanisms a connection is offered: EXTERNAL where its listener asks for certificates."""
    return MECHANISMS + (EXTERNAL,) if external else MECHANISMS


class SaslFailed(Exception):
    """The exchange failed; C{str()} says why, for the client (no secrets)."""


@dataclass(frozen=True, slots=True)
class Step:
    """
    What an exchange answers a client message with: a challenge to send
    (C{b""} for an empty one), or the account it logged in to.
    """

    challenge: bytes | None = None
    account: Account | None = None


def _scram_name(client_first: bytes) -> str:
    """The user name in a SCRAM client-first message (C{n=...}), decoded."""
    try:
        text = client_first.decode("utf-8")
    except UnicodeDecodeError:
        raise SaslFailed("The SCRAM message is not UTF-8.") from None
    parts = text.split(",")
    if len(parts) < 4 or parts[0] not in ("n", "y") or not parts[2].startswith("n="):
        raise SaslFailed("That is not a SCRAM client-first message.")
    return parts[2][2:].replace("=2C", ",").replace("=3D", "=")


class Exchange:
    """One SASL exchange of one mechanism for one connection."""

    def __init__(self, accounts: Accounts, mechanism: str, address: str,
                 certfp: str | None = None, external: bool = False):
        """
        @param certfp: the SHA-256 fingerprint of the client's TLS
            certificate, if it showed one.
        @param external: whether EXTERNAL is offered on this connection.
        """
        if mechanism not in mechanisms(external):
            raise SaslFailed(f"{mechanism} is not a mechanism this server offers.")
        self.accounts = accounts
        self.mechanism = mechanism
        self.address = address
        self.certfp = certfp
        self._stage = 0
        self._server = None
        self._name = ""
        self._account: Account | None = None

    def step(self, data: bytes) -> Deferred[Step]:
        """Take the client's next message; fails with L{SaslFailed} or L{LoginLimited}."""
        self._stage += 1
        if self.mechanism == "PLAIN":
            return maybeDeferred(self._plain, data)
        if self.mechanism == EXTERNAL:
            return maybeDeferred(self._external, data)
        return maybeDeferred(self._scram, data)

    # EXTERNAL: the message is the account wanted (authzid), or empty for
    # whichever account has the certificate.

    def _external(self, data: bytes) -> Deferred[Step]:
        if self._stage != 1:
            raise SaslFailed("EXTERNAL takes one message.")
        if self.certfp is None:
            raise SaslFailed("You have no TLS client certificate on this connection.")
        try:
            name = data.decode("utf-8")
        except UnicodeDecodeError:
            raise SaslFailed("That is not an EXTERNAL message.") from None
        if "\0" in name or len(name) > 200:
            raise SaslFailed("That is not an EXTERNAL message.")
        self.accounts.check_limits(name or self.certfp[:16], self.address)
        return self.accounts.login_certfp(self.certfp, name, self.address).addCallbacks(
            lambda account: Step(account=account), self._refused)

    # PLAIN

    def _plain(self, data: bytes) -> Deferred[Step]:
        if self._stage != 1:
            raise SaslFailed("PLAIN takes one message.")
        try:
            authzid, authcid, password = data.decode("utf-8").split("\0")
        except (UnicodeDecodeError, ValueError):
            raise SaslFailed("That is not a PLAIN message.") from None
        if not authcid or not password:
            raise SaslFailed("An account name and a password are needed.")
        if authzid and names.fold(authzid) != names.fold(authcid):
            raise SaslFailed("You may only log in as yourself.")
        return self.accounts.login(authcid, password, self.address).addCallbacks(
            lambda account: Step(account=account), self._refused)

    @staticmethod
    def _refused(failure):
        failure.trap(LoginFailed)
        raise SaslFailed(str(failure.value))

    # SCRAM-SHA-256

    def _scram(self, data: bytes) -> Deferred[Step] | Step:
        if self._stage == 1:
            self._name = _scram_name(data)
            self.accounts.check_limits(self._name, self.address)
            return self.accounts.find(self._name).addCallback(self._scram_first, data)
        if self._stage == 2:
            return self._scram_final(data)
        if self._stage == 3 and not data and self._account is not None:
            return Step(account=self._account)
        raise SaslFailed("The SCRAM exchange is over.")

    def _scram_first(self, account: Account | None, data: bytes) -> Step:
        if account is not None and account.key == names.fold(self._name):
            c = account.credentials
            keys = (c.salt, c.stored_key, c.server_key, c.iterations)
            self._account = account
        else:
            # Keys nobody has: the exchange fails at the proof, like a
            # wrong password.
            keys = (os.urandom(16), os.urandom(32), os.urandom(32), SCRAM_ITERATIONS)
        server = ScramMechanism(SCRAM_MECHANISM).make_server(lambda _name: keys)
        try:
            server.set_client_first(data.decode("utf-8"))
        except (ScramException, UnicodeDecodeError) as problem:
            raise SaslFailed(_scram_reason(problem)) from None
        self._server = server
        return Step(challenge=server.get_server_first().encode("utf-8"))

    def _scram_final(self, data: bytes) -> Step:
        try:
            self._server.set_client_final(data.decode("utf-8"))
        except (ScramException, UnicodeDecodeError, AttributeError) as problem:
            self._account = None
            self.accounts.failed(self._name, self.address, "SCRAM")
            raise SaslFailed(_scram_reason(problem)) from None
        if self._account is None:
            self.accounts.failed(self._name, self.address, "SCRAM")
            raise SaslFailed("Wrong account name or password.")
        return Step(challenge=self._server.get_server_final().encode("utf-8"))


def _scram_reason(problem: Exception) -> str:
    if isinstance(problem, ScramException):
        return "Wrong account name or password."
    return "That is not a SCRAM message."


def start(accounts: Accounts, mechanism: str, address: str, certfp: str | None = None,
          external: bool = False) -> Exchange:
    """A new exchange; L{SaslFailed} for a mechanism this server lacks."""
    return Exchange(accounts, mechanism.upper(), address, certfp, external)

