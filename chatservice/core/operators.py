"""
Server operators' credentials, kept only as salted scrypt hashes.

A hash looks like ``scrypt$16384$8$1$<salt>$<digest>`` (base64); make one with
``python -m chatservice.core.operators``.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import hmac
import os
import sys

_N, _R, _P = 2 ** 14, 8, 1


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = os.urandom(16) if salt is None else salt
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P)
    encode = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${encode(salt).decode()}${encode(digest).decode()}"


def is_hash(text: str) -> bool:
    return text.startswith("scrypt$") and text.count("$") == 5


def verify(password: str, hashed: str) -> bool:
    try:
        _, n, r, p, salt, digest = hashed.split("$")
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt),
                                n=int(n), r=int(r), p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


class Operators:
    """
    Operator names and the hashes of their passwords.
    """

    def __init__(self, hashes: dict[str, str] | None = None):
        self._hashes = dict(hashes or {})

    def __bool__(self) -> bool:
        return bool(self._hashes)

    def names(self) -> frozenset[str]:
        return frozenset(self._hashes)

    def add(self, name: str, password_or_hash: str) -> None:
        """Add an operator; a plain password is hashed at once and not kept."""
        if not is_hash(password_or_hash):
            password_or_hash = hash_password(password_or_hash)
        self._hashes[name] = password_or_hash

    def check(self, name: str, password: str) -> bool:
        hashed = self._hashes.get(name)
        if hashed is None:
            # Spend the same time as for a real name.
            verify(password, hash_password("", b"\0" * 16))
            return False
        return verify(password, hashed)


if __name__ == "__main__":
    print(hash_password(getpass.getpass("Operator password: ") if sys.stdin.isatty()
                        else sys.stdin.readline().rstrip("\n")))
