"""
Tests for L{chatservice.core.text}: what user-supplied text may contain.
"""

import pytest

from chatservice.core.text import FORMATTING_CODES, clean, decode, for_terminal, strip_formatting

NAMED_UNSAFE = {
    "NUL": "\x00",
    "BEL": "\x07",
    "BS": "\x08",
    "LF": "\n",
    "VT": "\x0b",
    "FF": "\x0c",
    "CR": "\r",
    "DEL": "\x7f",
    "NEL": "\x85",
    "CSI": "\x9b",
    "OSC": "\x9d",
    "LRE": "\u202a",
    "RLE": "\u202b",
    "PDF": "\u202c",
    "LRO": "\u202d",
    "RLO": "\u202e",
    "LRI": "\u2066",
    "RLI": "\u2067",
    "FSI": "\u2068",
    "PDI": "\u2069",
}


@pytest.mark.parametrize("name", sorted(NAMED_UNSAFE))
def test_clean_removes(name):
    """clean removes terminal controls, line breaks and bidi embeddings, overrides and isolates."""
    assert clean(f"a{NAMED_UNSAFE[name]}b") == "ab"


def test_clean_removes_every_c0_except_formatting_and_tab():
    """clean removes every C0 control character that is not an IRC formatting code or a tab."""
    for code in range(0x20):
        c = chr(code)
        if c in FORMATTING_CODES or c == "\t":
            continue
        # ESC takes the character after it along (see the escape tests).
        assert clean(f"x{c}" + ("[0m" if c == "\x1b" else "") + "y") == "xy", hex(code)


def test_clean_removes_every_c1():
    """clean removes every C1 control character, U+0080 to U+009F."""
    c1 = "".join(chr(code) for code in range(0x80, 0xA0))
    assert clean(f"x{c1}y") == "xy"


def test_clean_removes_all_bidi_controls():
    """clean removes U+202A to U+202E and U+2066 to U+2069 but not their neighbours."""
    bidi = "".join(map(chr, range(0x202A, 0x202F))) + "".join(map(chr, range(0x2066, 0x206A)))
    assert clean(f"x{bidi}y") == "xy"
    assert clean("\u2029\u202f\u2065\u206a") == "\u2029\u202f\u2065\u206a"


def test_clean_keeps_formatting_codes():
    """clean keeps IRC's bold, colour, reset, reverse, italics, strikethrough, underline, monospace and CTCP codes."""
    codes = "\x02\x03\x0f\x16\x1d\x1e\x1f\x11\x01"
    assert clean(codes) == codes
    assert clean("\x02bold\x02 \x0304,12red\x03") == "\x02bold\x02 \x0304,12red\x03"


def test_clean_tab_becomes_space():
    """clean turns a tab into a space."""
    assert clean("a\tb\t") == "a b "


def test_clean_keeps_ordinary_text():
    """clean leaves printable text, including non-ASCII letters and emoji, unchanged."""
    text = "Hello, w\u00f6rld! \u65e5\u672c\u8a9e \U0001f642 <>&'\" ~ \\"
    assert clean(text) == text


@pytest.mark.parametrize(
    "hostile, shown",
    [
        ("\x1b[31mred\x1b[0m", "red"),
        ("\x1b[2J\x1b[Hcleared", "cleared"),
        ("\x1b[38;5;196mx\x1b[m", "x"),
        ("\x1b[?1049h\x1b[?25lalt", "alt"),
        ("\x1b[1 qcursor", "cursor"),  # an intermediate byte before the final
        ("a\x1b]0;window title\x07b", "ab"),  # OSC ended by BEL
        ("a\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\b", "alinkb"),  # ST
        ("a\x1b]52;c;cGF5bG9hZA==", "a"),  # unterminated OSC: to the end
        ("a\x1bPq#0;2;0;0;0\x1b\\b", "ab"),  # DCS (sixel)
        ("a\x1b_apc\x1b\\b\x1b^pm\x07c\x1bXsos\x1b\\d", "abcd"),
        ("\x1b(0lqk\x1b(B", "lqk"),  # charset designations
        ("\x1bcreset", "reset"),  # RIS: ESC and its letter
        ("\x1b7saved\x1b8", "saved"),
        ("end\x1b", "end"),
        ("end\x1b[", "end"),
        ("end\x1b[12;", "end"),
        ("\x1b\x1b[31mx", "x"),
        ("\x02bold\x02\x1b[1m \x0304red", "\x02bold\x02 \x0304red"),
    ],
)
def test_clean_removes_whole_escape_sequences(hostile, shown):
    """clean removes a terminal escape sequence whole (CSI with parameters and final byte, OSC/DCS/APC/PM/SOS up to BEL or ST, other ESC pairs), so no "[31m" is left."""
    assert clean(hostile) == shown


def test_clean_escape_fast_path_keeps_text():
    """Text without ESC is left as it is by the escape rule (brackets and semicolons included)."""
    assert clean("[31m] ]0;x; P_^") == "[31m] ]0;x; P_^"


@pytest.mark.parametrize(
    "invisible", ["\u200e", "\u200f", "\u061c", "\u200b", "\ufeff"],
)
def test_for_terminal_drops_invisible_marks(invisible):
    """for_terminal drops LRM, RLM, ALM, the zero-width space and the BOM."""
    assert for_terminal(f"pay{invisible}pal") == "paypal"


def test_for_terminal_keeps_zero_width_joiner():
    """for_terminal keeps U+200D, which emoji sequences need."""
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert for_terminal(family) == family


def test_for_terminal_separators_become_spaces():
    """for_terminal turns U+2028 and U+2029 into spaces, so no terminal breaks the line there."""
    assert for_terminal("a\u2028[#lobby] <admin> b\u2029c") == "a [#lobby] <admin> b c"


def test_clean_keeps_what_only_terminals_mind():
    """clean keeps direction marks, zero-width characters and separators, which IRC clients and browsers show well; only line chat drops them."""
    text = "\u200e\u200f\u061c\u200b\ufeff\u200d\u2028\u2029"
    assert clean(text) == text


def test_strip_formatting_plain_unchanged():
    """strip_formatting returns plain text unchanged."""
    assert strip_formatting("plain text, 12,34") == "plain text, 12,34"


@pytest.mark.parametrize(
    "formatted, plain",
    [
        ("\x02bold\x02", "bold"),
        ("\x1ditalic\x1d \x1funder\x1f \x16rev\x16 \x1estrike\x1e \x11mono\x11\x0f",
         "italic under rev strike mono"),
        ("\x01ACTION waves\x01", "ACTION waves"),
        ("\x034red", "red"),
        ("\x0304red", "red"),
        ("\x034,12red on blue", "red on blue"),
        ("\x0304,2x", "x"),
        ("\x03reset", "reset"),
        ("\x03123", "3"),
        ("\x0312,345", "5"),
        ("\x034,x", ",x"),
        ("\x03,5x", ",5x"),
        ("a\x03", "a"),
    ],
)
def test_strip_formatting(formatted, plain):
    """strip_formatting removes formatting codes and a colour code's one or two foreground and background digits."""
    assert strip_formatting(formatted) == plain


def test_strip_formatting_keeps_other_unprintables():
    """strip_formatting removes only formatting codes, not other characters."""
    assert strip_formatting("a\u200bb\x02c") == "a\u200bbc"


def test_decode_utf8():
    """decode decodes valid UTF-8."""
    assert decode("caf\u00e9 \U0001f642".encode("utf-8")) == "caf\u00e9 \U0001f642"


@pytest.mark.parametrize(
    "raw, text",
    [
        (b"a\x80b", "a\ufffdb"),
        (b"a\xc3(b", "a\ufffd(b"),
        (b"ab\xe2\x80", "ab\ufffd"),
        (b"\xc0\xaf", "\ufffd\ufffd"),
        (b"\xed\xa0\x80", "\ufffd\ufffd\ufffd"),
    ],
)
def test_decode_replaces_invalid(raw, text):
    """decode replaces invalid UTF-8 with U+FFFD instead of failing."""
    assert decode(raw) == text


def test_decode_cleans():
    """decode also cleans what it decoded, including controls encoded as UTF-8."""
    assert decode(b"a\x1b[0m\x00b\xe2\x80\xaec\xc2\x9bd\te") == "abcd e"
