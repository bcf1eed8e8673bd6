"""
Account passwords as the server keeps them: an argon2id hash (through
C{argon2-cffi}) for logins that send the password, and SCRAM-SHA-256 keys
(through C{scramp}) for logins that prove it without sending it.

Every function here is synchronous and slow on purpose (~100 ms for argon2id):
callers run them in a thread (see L{chatservice.core.accounts.Accounts}).
Nothing here logs, and no exception raised here carries a password.
"""

from __future__ import annotations

from dataclasses import dataclass

import argon2
from scramp import ScramMechanism

SCRAM_MECHANISM = "SCRAM-SHA-256"
SCRAM_ITERATIONS = 4096

_hasher = argon2.PasswordHasher(type=argon2.Type.ID)


@dataclass(frozen=True, slots=True, repr=False)
class Credentials:
    """
    What proves a password without holding it.

    @ivar hash: the argon2id hash, in its PHC string form.
    @ivar salt: the SCRAM salt.
    @ivar stored_key: SCRAM's StoredKey.
    @ivar server_key: SCRAM's ServerKey.
    @ivar iterations: SCRAM's iteration count.
    """

    hash: str
    salt: bytes
    stored_key: bytes
    server_key: bytes
    iterations: int = SCRAM_ITERATIONS

    def __repr__(self) -> str:
        # Hashes are secrets too: keep them out of tracebacks and logs.
        return "<Credentials>"


def make_credentials(password: str, hasher: argon2.PasswordHasher = _hasher) -> Credentials:
    """The argon2id hash and the SCRAM keys of C{password}."""
    hashed = hasher.hash(password)
    salt, stored_key, server_key, iterations = ScramMechanism(SCRAM_MECHANISM).make_auth_info(
        password, iteration_count=SCRAM_ITERATIONS)
    return Credentials(hashed, salt, stored_key, server_key, iterations)


def verify(credentials: Credentials, password: str,
           hasher: argon2.PasswordHasher = _hasher) -> tuple[bool, Credentials | None]:
    """
    Whether C{password} is the one C{credentials} were made from, and, when
    it is and the hash was made with other parameters than today's, new
    credentials to keep instead (rehash on login).
    """
    try:
        hasher.verify(credentials.hash, password)
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False, None
    if hasher.check_needs_rehash(credentials.hash):
        return True, make_credentials(password, hasher)
    return True, None


# Spent on an unknown account, so that a wrong name takes as long as a wrong
# password (made once, on first use).
_decoy: list[str] = []


def waste_time(password: str, hasher: argon2.PasswordHasher = _hasher) -> None:
    """Verify C{password} against a hash nobody has: as slow as a real check."""
    if not _decoy:
        _decoy.append(hasher.hash("decoy password nobody has"))
    try:
        hasher.verify(_decoy[0], password)
    except argon2.exceptions.VerificationError:
        pass
