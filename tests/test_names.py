"""
Tests for L{chatservice.core.names}: nickname and room-name rules.
"""

import pytest

from chatservice.core.names import (
    NICK_MAX_LENGTH,
    ROOM_MAX_LENGTH,
    fold,
    nick_problem,
    room_problem,
)

CHARSET = "A nickname may contain only ASCII letters, digits and _-[]\\`^{}|."
LEADING = "A nickname cannot start with a digit or '-'."
ROOM_CHARSET = "A room name cannot contain spaces, commas, colons or control characters."


@pytest.mark.parametrize(
    "nick",
    ["a", "Z", "alice", "_", "x" * 32, "[away]", "bob{x}", "a-1", "a`b^c|d\\e",
     "x9", "Alice_-[]\\`^{}|0123456789"],
)
def test_valid_nick(nick):
    """A nickname of 1 to 32 letters, digits and _-[]\\`^{}| not starting with a digit or '-' is accepted."""
    assert nick_problem(nick) is None


def test_nick_max_length():
    """The maximum nickname length is 32."""
    assert NICK_MAX_LENGTH == 32


def test_empty_nick():
    """An empty nickname is refused with its own reason."""
    assert nick_problem("") == "A nickname cannot be empty."


def test_too_long_nick():
    """A nickname of 33 characters is refused, saying the limit."""
    assert nick_problem("a" * 33) == "A nickname has at most 32 characters."


@pytest.mark.parametrize("nick", ["1abc", "0", "9lives", "-dash", "-"])
def test_leading_digit_or_dash(nick):
    """A nickname starting with a digit or '-' is refused."""
    assert nick_problem(nick) == LEADING


@pytest.mark.parametrize(
    "nick",
    ["al ice", "alice!", "al.ice", "ali~ce", "~alice", "a#b", "#a", "a@b", "a,b",
     "a:b", "a*", "a\x00", "a\x1b", "a\t", "caf\u00e9", "\u00fcber", "a\u202e",
     "a\ufffd", "a\u0430", "a'b", 'a"b', "a/b", "a+b", "a=b"],
)
def test_nick_charset(nick):
    """A nickname with any character outside ASCII letters, digits and _-[]\\`^{}| is refused."""
    assert nick_problem(nick) == CHARSET


def test_unicode_digit_start():
    """A nickname starting with a non-ASCII digit is refused."""
    assert nick_problem("\u0661abc") is not None


def test_fold_ascii_letters():
    """Folding lower-cases ASCII letters and nothing else among letters and digits."""
    assert fold("ABCxyz019_-`") == "abcxyz019_-`"


def test_fold_rfc1459_specials():
    """Folding maps [ ] \\ ~ to { } | ^, as IRC's rfc1459 case mapping does."""
    assert fold("[]\\~") == "{}|^"
    assert fold("{}|^") == "{}|^"


def test_fold_equates_bracket_nicks():
    """Bob[away] and bob{AWAY} fold to the same key."""
    assert fold("Bob[away]") == fold("bob{AWAY}") == "bob{away}"


def test_fold_non_ascii_unchanged():
    """Folding leaves non-ASCII letters alone."""
    assert fold("\u00c4\u00e9#Caf\u00c9") == "\u00c4\u00e9#caf\u00c9"


@pytest.mark.parametrize(
    "name",
    ["#lobby", "#a", "##double", "#Caf\u00e9", "#\u65e5\u672c", "#rust-lang",
     "#" + "x" * 49, "#a.b!c@d", "#\U0001f600"],
)
def test_valid_room(name):
    """A room name of '#' followed by 1 to 49 printable characters without spaces, commas or colons is accepted."""
    assert room_problem(name) is None


def test_room_max_length():
    """A room name of 51 characters is refused, saying the limit of 50."""
    assert ROOM_MAX_LENGTH == 50
    assert room_problem("#" + "x" * 50) == "A room name has at most 50 characters."


@pytest.mark.parametrize("name", ["lobby", "", " #lobby", "&lobby"])
def test_room_needs_hash(name):
    """A room name must start with '#'."""
    assert room_problem(name) == "A room name starts with '#'."


@pytest.mark.parametrize(
    "name",
    ["#", "#a b", "#a,b", "#a:b", "#a\tb", "#a\x00", "#a\x07", "#a\x1b", "#a\x7f",
     "#a\x85", "#a\x9b", "#a\u00a0b", "#a\u202a", "#a\u202e", "#a\u2066",
     "#a\u2069", "#a\nb", "#a\rb"],
)
def test_room_charset(name):
    """A room name that is only '#' or holds a space, comma, colon, control character or bidi control is refused."""
    assert room_problem(name) == ROOM_CHARSET
