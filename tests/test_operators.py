"""
Tests for L{chatservice.core.operators}: server operators' passwords, kept
only as salted scrypt hashes.
"""

from __future__ import annotations

import base64

import pytest

from chatservice.core.operators import Operators, hash_password, is_hash, verify

SALT = bytes(range(16))
HASHED = hash_password("correct horse", SALT)


def fields(hashed: str) -> list[str]:
    return hashed.split("$")


# hash_password

def test_hash_format():
    """A hash is scrypt$N$r$p$salt$digest with N=16384, r=8, p=1 and base64 salt and digest."""
    name, n, r, p, salt, digest = fields(HASHED)
    assert (name, n, r, p) == ("scrypt", "16384", "8", "1")
    assert base64.b64decode(salt) == SALT
    assert len(base64.b64decode(digest)) == 64


def test_hash_same_salt_same_hash():
    """The same password and salt give the same hash."""
    assert hash_password("correct horse", SALT) == HASHED


def test_hash_random_salt():
    """Without a salt each hash gets a new random one of 16 bytes."""
    first, second = hash_password("pw"), hash_password("pw")
    assert first != second
    assert fields(first)[4] != fields(second)[4]
    assert len(base64.b64decode(fields(first)[4])) == 16


def test_hash_hides_password():
    """A hash does not contain the password."""
    assert "correct horse" not in HASHED
    assert b"correct horse" not in base64.b64decode(fields(HASHED)[5])


# is_hash

@pytest.mark.parametrize(
    "text, hashed",
    [
        (HASHED, True),
        ("scrypt$1$2$3$4$5", True),
        ("correct horse", False),
        ("scrypt$16384$8$1$c2FsdA==", False),
        ("bcrypt$16384$8$1$a$b", False),
        ("", False),
    ],
)
def test_is_hash(text, hashed):
    """is_hash recognises the scrypt hash format by its prefix and six fields."""
    assert is_hash(text) is hashed


# verify

def test_verify_right_password():
    """verify accepts the password a hash was made from."""
    assert verify("correct horse", HASHED) is True


@pytest.mark.parametrize("password", ["Correct horse", "correct horse ", "", "correct"])
def test_verify_wrong_password(password):
    """verify refuses any other password."""
    assert verify(password, HASHED) is False


def test_verify_non_ascii():
    """verify handles passwords outside ASCII."""
    hashed = hash_password("p\u00e4ssw\u00f6rd \u2603", SALT)
    assert verify("p\u00e4ssw\u00f6rd \u2603", hashed) is True
    assert verify("passwxrd \u2603", hashed) is False


def _tamper(index: int, value: str) -> str:
    parts = fields(HASHED)
    parts[index] = value
    return "$".join(parts)


def _flip_last_digest_byte() -> str:
    digest = bytearray(base64.b64decode(fields(HASHED)[5]))
    digest[-1] ^= 1
    return _tamper(5, base64.b64encode(bytes(digest)).decode())


@pytest.mark.parametrize(
    "tampered",
    [
        _flip_last_digest_byte(),
        _tamper(4, base64.b64encode(bytes(16)).decode()),
        _tamper(1, "1024"),
        _tamper(2, "4"),
        _tamper(3, "2"),
        _tamper(5, base64.b64encode(b"short").decode()),
        _tamper(5, ""),
        _tamper(4, "not base64!"),
        _tamper(1, "many"),
        _tamper(1, "1000"),
        HASHED + "$extra",
        HASHED.rsplit("$", 1)[0],
        "",
        "correct horse",
    ],
    ids=["digest", "salt", "n", "r", "p", "short-digest", "no-digest", "bad-salt",
         "n-not-number", "n-not-power-of-two", "extra-field", "missing-field", "empty",
         "plain"],
)
def test_verify_tampered_hash(tampered):
    """verify refuses the right password against a hash that was tampered with, without raising."""
    assert verify("correct horse", tampered) is False


# Operators

def test_operators_empty():
    """Operators without names is false and refuses everybody."""
    operators = Operators()
    assert not operators
    assert operators.check("", "") is False
    assert operators.check("root", "correct horse") is False


def test_operators_from_hashes():
    """Operators made from hashes accept each name with its password."""
    operators = Operators({"root": HASHED})
    assert operators
    assert operators.check("root", "correct horse") is True


def test_operators_from_hashes_copied():
    """Operators keeps its own copy of the hashes it was given."""
    hashes = {"root": HASHED}
    operators = Operators(hashes)
    hashes["root"] = hash_password("other", SALT)
    assert operators.check("root", "correct horse") is True


def test_add_plain_password_hashed_not_kept():
    """A plain password given to add is hashed at once and kept nowhere in the operators."""
    operators = Operators()
    operators.add("root", "correct horse")
    assert operators.check("root", "correct horse") is True
    kept = list(vars(operators).values())
    assert "correct horse" not in repr(kept)
    [stored] = operators._hashes.values()
    assert is_hash(stored)
    assert fields(stored)[4] != fields(HASHED)[4]


def test_add_hash_kept_as_is():
    """A hash given to add is kept as it is, not hashed again."""
    operators = Operators()
    operators.add("root", HASHED)
    assert operators._hashes == {"root": HASHED}
    assert operators.check("root", "correct horse") is True
    assert operators.check("root", HASHED) is False


def test_add_replaces():
    """Adding a name again replaces its password."""
    operators = Operators({"root": HASHED})
    operators.add("root", "new one")
    assert operators.check("root", "correct horse") is False
    assert operators.check("root", "new one") is True


@pytest.mark.parametrize("name, password", [
    ("root", "wrong"),
    ("admin", "correct horse"),
    ("Root", "correct horse"),
    ("root ", "correct horse"),
    ("", "correct horse"),
])
def test_check_refused(name, password):
    """check refuses a wrong password and any name that is not exactly an operator's."""
    operators = Operators({"root": HASHED})
    assert operators.check(name, password) is False


def test_check_each_name_its_own_password():
    """One operator's password does not admit another operator's name."""
    operators = Operators({"root": HASHED, "admin": hash_password("other", SALT)})
    assert operators.check("admin", "correct horse") is False
    assert operators.check("admin", "other") is True
    assert operators.check("root", "other") is False


def test_check_tampered_hash():
    """A stored hash that was tampered with admits nobody."""
    operators = Operators({"root": _flip_last_digest_byte(), "admin": "scrypt$x$y$z$w$v"})
    assert operators.check("root", "correct horse") is False
    assert operators.check("admin", "") is False
