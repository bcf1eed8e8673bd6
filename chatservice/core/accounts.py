"""
Accounts: a name that owns nicknames and rooms, proved by a password, the
same whichever front end a person comes by.

An account's name follows the nickname rules (it is a nickname the account
owns); it may group up to L{MAX_GROUPED} more nicknames.  Nobody else may use
an owned nickname.  Rooms remember their founder and the operators their
founder named, by account, so that operator status comes back on every join.

L{AccountStore} is what a store implements (every call returns a Deferred:
reads go to the store each time, so that an account added by the operators'
command while the server runs is seen at once).  L{Accounts} is what front
ends call: registering, logging in, changing passwords, with the rules and
the brute-force limits applied here, once.  Password hashing (L{passwords})
runs through the C{run} callable the service gives (a thread); failures are
counted before any hashing, so a flood of wrong passwords costs no CPU once
the limits engage.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from dataclasses import dataclass, replace
from typing import Any, Callable, Protocol

from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from . import errors, names, tokens
from .limits import address_key
from .passwords import Credentials, make_credentials, verify, waste_time
from .tokens import Token, TokenStore

MAX_GROUPED = 5
# TLS client certificates an account may log in with (SASL EXTERNAL).
MAX_CERTFPS = 5
PASSWORD_MIN = 6
PASSWORD_MAX = 1000
EMAIL_MAX = 254

# Brute-force limits: failed logins within WINDOW seconds.
WINDOW = 60.0
PER_ACCOUNT = 5
PER_ADDRESS = 20
# Accounts and addresses whose failures are remembered at once (the oldest
# are forgotten first), so that a flood of made-up names cannot fill memory.
TRACKED = 10_000

# Nicknames nobody may take: the services' names.
RESERVED = frozenset({"nickserv", "chanserv"})

FOUNDER = "founder"
OPERATOR = "op"


class AccountError(errors.ChatError):
    """An account request was refused; the message says why."""


class AccountExists(AccountError):
    """The account name, or a nickname to group, is already owned."""


class LoginFailed(AccountError):
    """Wrong name or password (which of the two is not said)."""


class LoginLimited(AccountError):
    """Too many failed logins; C{wait} says for how many seconds more."""

    def __init__(self, message: str, wait: int):
        super().__init__(message)
        self.wait = wait


class RegistrationClosed(AccountError):
    """Only the operators' command creates accounts on this server."""


class BadPassword(AccountError):
    """The new password breaks the password rules."""


@dataclass(frozen=True, slots=True)
class Account:
    """
    One account.

    @ivar name: as the owner wrote it; folded, it is the account's key.
    @ivar nicks: grouped nicknames, besides the name.
    """

    name: str
    created: float
    credentials: Credentials
    email: str = ""
    nicks: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return names.fold(self.name)

    def owns(self, nick: str) -> bool:
        key = names.fold(nick)
        return key == self.key or any(names.fold(n) == key for n in self.nicks)


class AccountStore(TokenStore, Protocol):
    """Accounts, their login tokens and room roles, that outlive restarts."""

    def find(self, nick: str) -> Deferred[Account | None]:
        """The account named C{nick} or that grouped C{nick}, if any."""

    def create(self, account: Account) -> Deferred[None]:
        """Keep a new account; fails with L{AccountExists} if its name is owned."""

    def set_credentials(self, name: str, credentials: Credentials) -> Deferred[bool]:
        """Replace an account's password; whether the account exists."""

    def add_nick(self, name: str, nick: str) -> Deferred[None]:
        """Group C{nick} to an account; L{AccountExists} if it is owned."""

    def drop(self, name: str) -> Deferred[bool]:
        """Delete an account, its nicks and its room roles; whether it existed."""

    def accounts(self) -> Deferred[list[Account]]:
        """Every account, by name."""

    def room_roles(self, room: str) -> Deferred[dict[str, str]]:
        """Account keys and their role (L{FOUNDER}, L{OPERATOR}) in room C{room} (folded)."""

    def set_room_role(self, room: str, account: str, role: str | None) -> Deferred[None]:
        """Give (or with C{None}, take away) an account's role in a room."""

    def certfps(self, name: str) -> Deferred[list[str]]:
        """The certificate fingerprints of an account, oldest first."""

    def add_certfp(self, name: str, fp: str) -> Deferred[None]:
        """Let C{fp} log in to an account; L{AccountExists} if any account has it."""

    def del_certfp(self, name: str, fp: str) -> Deferred[bool]:
        """Forget one of an account's fingerprints; whether it had it."""

    def find_certfp(self, fp: str) -> Deferred[Account | None]:
        """The account that fingerprint C{fp} logs in to, if any."""


def password_problem(password: str, minimum: int = PASSWORD_MIN) -> str | None:
    """
    Why C{password} cannot be an account's password, or C{None}.  Operators
    may set shorter ones (C{minimum} 1) than people choose for themselves.
    """
    if not password:
        return "A password cannot be empty."
    if len(password) < minimum:
        return f"A password has at least {PASSWORD_MIN} characters."
    if len(password) > PASSWORD_MAX:
        return f"A password has at most {PASSWORD_MAX} characters."
    if not password.isprintable():
        return "A password may not hold control characters."
    if tokens.is_token(password):
        return f"A password may not start with {tokens.PREFIX} (login tokens do)."
    return None


def normal_certfp(text: str) -> str:
    """
    A certificate fingerprint as stored: 64 lower-case hex digits (colons,
    as C{openssl x509 -fingerprint} prints them, are dropped); L{AccountError}
    for anything else.
    """
    fp = text.replace(":", "").strip().lower()
    if len(fp) != 64 or any(c not in "0123456789abcdef" for c in fp):
        raise AccountError("A certificate fingerprint is the 64 hex digits of its SHA-256.")
    return fp


def email_problem(email: str) -> str | None:
    """Why C{email} is not an address we accept, or C{None} (empty is fine)."""
    if not email or email == "*":
        return None
    local, at, domain = email.rpartition("@")
    if (not at or not local or "." not in domain or len(email) > EMAIL_MAX
            or not email.isprintable() or any(c.isspace() for c in email)):
        return "That is not an e-mail address."
    return None


class FailureLimiter:
    """
    Failed logins per account and per address within a sliding window;
    asked before a password is checked, told after one failed.
    """

    def __init__(self, clock: IReactorTime, window: float = WINDOW,
                 per_account: int = PER_ACCOUNT, per_address: int = PER_ADDRESS,
                 tracked: int = TRACKED):
        self.clock = clock
        self.window = window
        self.limits = {"account": per_account, "address": per_address}
        self.tracked = tracked
        self._failures: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()

    def _recent(self, key: tuple[str, str]) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        cutoff = self.clock.seconds() - self.window
        while times and times[0] <= cutoff:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def wait(self, account: str, address: str) -> int:
        """Whole seconds until C{account} may be tried from C{address}; 0: now."""
        longest = 0.0
        for kind, value in (("account", names.fold(account)), ("address", address_key(address))):
            times = self._recent((kind, value))
            if times is not None and len(times) >= self.limits[kind]:
                longest = max(longest, times[0] + self.window - self.clock.seconds())
        return math.ceil(longest) if longest > 0 else 0

    def failed(self, account: str, address: str) -> None:
        now = self.clock.seconds()
        for kind, value in (("account", names.fold(account)), ("address", address_key(address))):
            key = (kind, value)
            times = self._failures.pop(key, None) or deque(maxlen=max(self.limits.values()))
            times.append(now)
            self._failures[key] = times
        while len(self._failures) > self.tracked:
            self._failures.popitem(last=False)


def _synchronously(function: Callable[..., Any], *args: Any) -> Deferred:
    return maybeDeferred(function, *args)


class Accounts:
    """
    Registering and logging in, whatever the front end.

    @ivar registration_open: whether people may create accounts themselves
        (otherwise only the operators' command does).
    @ivar require_account: whether signing in needs a login.
    @ivar stats: the server's counts (failed logins among them), once a hub
        uses these accounts.
    """

    log = Logger()
    stats = None

    def __init__(self, store: AccountStore, clock: IReactorTime, *,
                 run: Callable[..., Deferred] = _synchronously,
                 registration_open: bool = True, require_account: bool = False,
                 limiter: FailureLimiter | None = None,
                 token_lifetime: float = tokens.LIFETIME):
        """
        @param run: runs a slow function (password hashing) and returns a
            Deferred of its result; the service gives one using threads.
        @param token_lifetime: seconds a login token lasts unused.
        """
        self.store = store
        self.clock = clock
        self.run = run
        self.registration_open = registration_open
        self.require_account = require_account
        self.limiter = limiter or FailureLimiter(clock)
        self.token_lifetime = token_lifetime

    # Reading

    def find(self, nick: str) -> Deferred[Account | None]:
        """The account that owns C{nick}, if any."""
        return self.store.find(nick)

    def nick_refusal(self, nick: str, account: str | None) -> Deferred[str | None]:
        """
        Why whoever is logged in to C{account} (C{None}: nobody) may not use
        C{nick}, or C{None} if they may.
        """
        if names.fold(nick) in RESERVED:
            return succeed(f"The nickname {nick} is reserved for the server's services.")

        def check(owner: Account | None) -> str | None:
            if owner is None or (account is not None and owner.key == names.fold(account)):
                return None
            return (f"The nickname {nick} is registered; log in to the account "
                    f"{owner.name} to use it.")
        return self.store.find(nick).addCallback(check)

    # Registering

    def register(self, name: str, password: str, email: str = "",
                 by_operator: bool = False) -> Deferred[Account]:
        """
        Create the account C{name}; refusals (L{AccountError}, or
        L{errors.ErroneousNick} for the name) come as failures of the
        Deferred, as do clashes found by the store.
        """
        return maybeDeferred(self._check_new, name, password, email, by_operator).addCallback(
            lambda _: self.store.find(name)).addCallback(
            self._create, name, password, email)

    def _check_new(self, name: str, password: str, email: str, by_operator: bool) -> None:
        if not by_operator and not self.registration_open:
            raise RegistrationClosed(
                "Accounts are created only by this server's operators.")
        problem = names.nick_problem(name)
        if problem:
            raise errors.ErroneousNick(problem, name)
        problem = (password_problem(password, 1 if by_operator else PASSWORD_MIN)
                   or email_problem(email))
        if problem:
            raise BadPassword(problem)

    def _create(self, existing: Account | None, name: str, password: str,
                email: str) -> Deferred[Account]:
        if existing is not None:
            raise AccountExists(f"The name {name} is already registered.", name)
        made = self.run(make_credentials, password)

        def keep(credentials: Credentials) -> Deferred[Account]:
            account = Account(name, self.clock.seconds(), credentials,
                              "" if email == "*" else email)
            return self.store.create(account).addCallback(lambda _: account)
        made.addCallback(keep)
        made.addCallback(self._registered)
        return made

    def _registered(self, account: Account) -> Account:
        self.log.info("Account {name} registered", name=account.name)
        return account

    # Logging in

    def check_limits(self, name: str, address: str) -> None:
        """
        Refuse (L{LoginLimited}) a login that the brute-force limits forbid
        now; called before any hashing.
        """
        wait = self.limiter.wait(name, address)
        if wait:
            raise LoginLimited(f"Too many failed logins; try again in {wait} s.", wait)

    def failed(self, name: str, address: str, mechanism: str = "password") -> None:
        """Count a failed login (and log it, with the address, never the password)."""
        self.limiter.failed(name, address)
        if self.stats is not None:
            self.stats.logins_failed += 1
        self.log.warn("Failed {mechanism} login to account {name!r} from {address}",
                      mechanism=mechanism, name=name[:64], address=address)

    def login(self, name: str, password: str, address: str,
              token_ok: bool = True) -> Deferred[Account]:
        """
        The account C{name} if C{password} is its password (or, unless not
        C{token_ok}, one of its login tokens); otherwise a failure:
        L{LoginFailed}, or L{LoginLimited} when too many failed.
        """
        checked = maybeDeferred(self.check_limits, name, address)
        if tokens.is_token(password):
            if not token_ok:
                return checked.addCallback(lambda _: _raise(LoginFailed(
                    "Give the password itself, not a login token.", name)))
            return checked.addCallback(lambda _: self._login_token(name, password, address))
        checked.addCallback(lambda _: self.store.find(name))
        return checked.addCallback(self._verify, name, password, address)

    # Login tokens ("remember me"; see L{tokens})

    def _login_token(self, name: str, secret: str, address: str) -> Deferred[Account]:
        now = self.clock.seconds()

        def found_token(token: Token | None) -> Deferred[Account | None] | None:
            if token is None or token.account != names.fold(name):
                return None
            if token.expired(now, self.token_lifetime):
                self.store.revoke_tokens(token.account, token.id)
                return None
            self.store.touch_token(token.digest, now)
            return self.store.find(name)

        def decide(account: Account | None) -> Account:
            if account is None or account.key != names.fold(name):
                self.failed(name, address, "token")
                raise LoginFailed("That login token is unknown, revoked or expired.", name)
            return account
        found = self.store.find_token(tokens.digest(secret)).addCallback(found_token)
        return found.addCallback(decide)

    def issue_token(self, account: str, label: str) -> Deferred[tuple[str, Token]]:
        """
        A new login token for C{account} (logged in already): its secret,
        shown once and never kept, and what the store keeps.
        """
        secret, token = tokens.make(account, label, self.clock.seconds())
        adding = self.store.add_token(token, tokens.MAX_PER_ACCOUNT)
        self.log.info("Login token {id} made for account {name}", id=token.id, name=account)
        return adding.addCallback(lambda _: (secret, token))

    def list_tokens(self, account: str) -> Deferred[list[Token]]:
        """C{account}'s login tokens that have not expired, oldest first."""
        now = self.clock.seconds()
        return self.store.tokens(account).addCallback(
            lambda found: [t for t in found if not t.expired(now, self.token_lifetime)])

    def revoke_token(self, account: str, id_: str | None) -> Deferred[int]:
        """Revoke C{account}'s token C{id_} (C{None}: all); how many were."""
        return self.store.revoke_tokens(account, id_)

    def revoke_secret(self, secret: str) -> Deferred[Token | None]:
        """Revoke the token whose secret is C{secret} (logging out); it, if it existed."""
        if not tokens.is_token(secret):
            return succeed(None)

        def revoke(token: Token | None) -> Deferred[Token | None] | None:
            if token is None:
                return None
            return self.store.revoke_tokens(token.account, token.id).addCallback(
                lambda _: token)
        return self.store.find_token(tokens.digest(secret)).addCallback(revoke)

    def _verify(self, account: Account | None, name: str, password: str,
                address: str) -> Deferred[Account]:
        if account is None or names.fold(name) != account.key:
            # Unknown (or only a grouped nick): as slow as a wrong password.
            checked = self.run(waste_time, password).addCallback(lambda _: (False, None))
        else:
            checked = self.run(verify, account.credentials, password)

        def decide(result: tuple[bool, Credentials | None]) -> Account:
            good, fresh = result
            if not good:
                self.failed(name, address)
                raise LoginFailed("Wrong account name or password.", name)
            assert account is not None
            if fresh is not None:
                self.store.set_credentials(account.name, fresh)
                return replace(account, credentials=fresh)
            return account
        return checked.addCallback(decide)

    def login_for_nick(self, nick: str, password: str, address: str) -> Deferred[Account]:
        """
        Log in to whichever account owns C{nick} (for ghosting a grouped
        nick); fails as L{login} does, and as a wrong password when nobody
        owns it.
        """
        def found(owner: Account | None) -> Deferred[Account]:
            return self.login(owner.name if owner else nick, password, address)
        return self.store.find(nick).addCallback(found)

    def group(self, account: str, nick: str) -> Deferred[None]:
        """Add C{nick} to the nicknames C{account} owns (at most L{MAX_GROUPED})."""
        def add(owner: Account | None) -> Deferred[None]:
            if owner is None:
                raise AccountError(f"There is no account {account}.")
            if len(owner.nicks) >= MAX_GROUPED:
                raise AccountError(f"An account groups at most {MAX_GROUPED} nicknames.")
            if owner.owns(nick):
                raise AccountExists(f"{nick} is already yours.", nick)
            return self.store.add_nick(owner.name, nick)
        return self.store.find(account).addCallback(add)

    # TLS client certificates (SASL EXTERNAL)

    def add_certfp(self, account: str, fp: str) -> Deferred[str]:
        """Let the certificate C{fp} log in to C{account}; its normal form."""
        def add(fps: list[str], fp: str) -> Deferred[str]:
            if fp in fps:
                raise AccountExists("That certificate is already yours.", fp)
            if len(fps) >= MAX_CERTFPS:
                raise AccountError(f"An account has at most {MAX_CERTFPS} certificates.")
            return self.store.add_certfp(account, fp).addCallback(lambda _: fp)
        try:
            fp = normal_certfp(fp)
        except AccountError as problem:
            return _fail(problem)
        return self.store.certfps(account).addCallback(add, fp)

    def del_certfp(self, account: str, fp: str) -> Deferred[bool]:
        """Stop the certificate C{fp} logging in to C{account}; whether it did."""
        try:
            fp = normal_certfp(fp)
        except AccountError as problem:
            return _fail(problem)
        return self.store.del_certfp(account, fp)

    def certfps(self, account: str) -> Deferred[list[str]]:
        return self.store.certfps(account)

    def login_certfp(self, fp: str, name: str, address: str) -> Deferred[Account]:
        """
        The account the certificate C{fp} belongs to (which must be C{name}
        when one is given); L{LoginFailed} otherwise.
        """
        def decide(account: Account | None) -> Account:
            if account is None or (name and names.fold(name) != account.key):
                self.failed(name or fp[:16], address, "certificate")
                raise LoginFailed("No account has this certificate.", name)
            return account
        return self.store.find_certfp(fp).addCallback(decide)

    def change_password(self, account: Account, new: str,
                        by_operator: bool = False) -> Deferred[None]:
        """Give C{account} the password C{new}."""
        problem = password_problem(new, 1 if by_operator else PASSWORD_MIN)
        if problem:
            return _fail(BadPassword(problem))
        made = self.run(make_credentials, new)
        made.addCallback(lambda credentials: self.store.set_credentials(account.name, credentials))
        # A new password ends every remembered login: whoever took the old
        # one may have made tokens with it.
        made.addCallback(lambda _: self.store.revoke_tokens(account.name))
        made.addCallback(lambda _: None)
        return made


def _fail(error: Exception) -> Deferred:
    return maybeDeferred(_raise, error)


def _raise(error: Exception) -> None:
    raise error

