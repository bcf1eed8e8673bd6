"""
Unit tests of the terminal client's pure parts (chatservice.client): lines
(splitting, cleaning, classifying), rendering, options, the session state
and the reconnection policy.  No sockets, no terminal.
"""

from __future__ import annotations

import ssl

import pytest

from chatservice.client import lines, options, render
from chatservice.client.lines import Kind, LineSplitter, classify, sanitise
from chatservice.client.session import Phase, ReconnectPolicy, Session


# Splitting

def test_splitter_gives_whole_lines_and_keeps_the_rest():
    splitter = LineSplitter()
    assert splitter.feed(b"*** one\r\n*** tw") == [b"*** one"]
    assert splitter.feed(b"o\r\n\n") == [b"*** two", b""]
    assert splitter.flush() == []


def test_splitter_flushes_a_line_cut_by_a_closing_server():
    splitter = LineSplitter()
    assert splitter.feed(b"*** half a li") == []
    assert splitter.flush() == [b"*** half a li"]
    assert splitter.flush() == []


def test_splitter_caps_a_huge_line_and_skips_its_rest():
    splitter = LineSplitter(limit=10)
    assert splitter.feed(b"x" * 25) == [b"x" * 10 + lines.CUT.encode()]
    assert splitter.feed(b"y" * 25) == []
    assert splitter.feed(b"zz\nnext\n") == [b"next"]
    assert splitter.feed(b"a" * 15 + b"\n") == [b"a" * 10 + lines.CUT.encode()]
    assert splitter.flush() == []


# Cleaning

def test_sanitise_replaces_invalid_utf8():
    assert sanitise(b"caf\xc3\xa9 \xff\xfe ok") == "café \ufffd\ufffd ok"


@pytest.mark.parametrize("hostile", [
    "\x1b[2J\x1b]0;pwned\x07", "\x00\x08\x7f", "\x9b31m", "\u202e\u2066", "\r", "\x02\x0304,05",
])
def test_sanitise_strips_control_characters_bidi_and_formatting(hostile):
    cleaned = sanitise(f"[#lobby] <eve> a{hostile}b".encode())
    assert cleaned.isprintable(), repr(cleaned)
    assert cleaned.startswith("[#lobby] <eve> a") and cleaned.endswith("b")


def test_sanitise_caps_long_lines():
    cleaned = sanitise("é" * (lines.MAX_LINE_CHARS + 50))
    assert cleaned == "é" * lines.MAX_LINE_CHARS + lines.CUT


# Classifying

@pytest.mark.parametrize("text, kind, room, nick, history", [
    ("*** bob joined #lobby", Kind.SERVER, None, None, False),
    ("*** Choose a nickname (letters, digits and _-[]\\`^{}|, up to 32):",
     Kind.NICK_PROMPT, None, None, False),
    ("*** This nickname is registered. Password:", Kind.PASSWORD_PROMPT, None, None, False),
    ("*** Wrong operator name or password.", Kind.SERVER, None, None, False),
    ("[#lobby] <alice> hello", Kind.MESSAGE, "#lobby", "alice", False),
    ("[#lobby] * alice waves", Kind.ACTION, "#lobby", "alice", False),
    ("[#lobby] -bot- a notice", Kind.NOTICE, "#lobby", "bot", False),
    ("[private] <alice> psst", Kind.PRIVATE, None, "alice", False),
    ("[to bob] <alice> psst", Kind.OWN_PRIVATE, None, "bob", False),
    ("[14:02] [#lobby] <alice> hi", Kind.MESSAGE, "#lobby", "alice", True),
    ("[Dec 01 14:02] [#x] * bob waves", Kind.ACTION, "#x", "bob", True),
    ("[Dec 01 2025 14:02] [private] <bob> hi", Kind.PRIVATE, None, "bob", True),
    ("HTTP/1.0 400 Bad Request", Kind.OTHER, None, None, False),
    ("", Kind.OTHER, None, None, False),
])
def test_classify(text, kind, room, nick, history):
    line = classify(text)
    assert (line.kind, line.room, line.nick, line.history) == (kind, room, nick, history)
    assert line.text == text


def test_a_message_cannot_pass_for_the_server():
    assert classify("[#lobby] <eve> *** you are banned").kind is Kind.MESSAGE


# Rendering

def test_plain_rendering_is_the_text():
    for text in ("*** hi", "[#a] * bob waves", "[private] <a> b", "[#a] <b> c"):
        assert render.render(classify(text), colour=False) == text


def test_colours_distinguish_server_actions_and_private_messages():
    server = render.render(classify("*** bob joined #a"), colour=True)
    action = render.render(classify("[#a] * bob waves"), colour=True)
    private = render.render(classify("[private] <bob> psst"), colour=True)
    message = render.render(classify("[#a] <bob> hi"), colour=True)
    client = render.render(lines.client_line("Connection lost."), colour=True)
    styles = {text.split("m", 1)[0] for text in (server, action, private, client)}
    assert len(styles) == 4
    for text in (server, action, private, client):
        assert text.startswith("\x1b[") and text.endswith(render.RESET)
    assert message == f"[#a] {render.BOLD}<bob>{render.RESET} hi"


def test_history_is_dimmed():
    assert render.render(classify("[14:02] [#a] <b> c"), colour=True).startswith(render.HISTORY)


@pytest.mark.parametrize("option, terminal, environ, expected", [
    (False, True, {}, True),
    (True, True, {}, False),
    (False, False, {}, False),
    (False, True, {"NO_COLOR": "1"}, False),
    (False, True, {"NO_COLOR": ""}, True),
])
def test_use_colour(option, terminal, environ, expected):
    assert render.use_colour(option, terminal, environ) is expected


# Options

@pytest.mark.parametrize("address, default, expected", [
    ("localhost", 8000, ("localhost", 8000)),
    ("chat.example.org:6000", 8443, ("chat.example.org", 6000)),
    ("[::1]", 8443, ("::1", 8443)),
    ("[::1]:9", 8000, ("::1", 9)),
    ("::1", 8000, ("::1", 8000)),
])
def test_split_address(address, default, expected):
    assert options.split_address(address, default) == expected


@pytest.mark.parametrize("address", ["host:0", "host:x", ":80", "[::1", "host:70000"])
def test_split_address_refuses(address):
    with pytest.raises(ValueError):
        options.split_address(address, 8000)


def test_default_ports_and_options():
    plain = options.parse(["localhost"])
    assert (plain.host, plain.port, plain.tls, plain.nick, plain.timeout, plain.reconnect) \
        == ("localhost", 8000, False, None, 10.0, True)
    tls = options.parse(["--tls", "--nick", "ann", "example.org"])
    assert (tls.port, tls.nick) == (8443, "ann")


@pytest.mark.parametrize("argv", [["--insecure", "h"], ["--cafile", "x", "h"],
                                  ["--tls", "--insecure", "--cafile", "x", "h"],
                                  ["--timeout", "0", "h"], ["h:x"]])
def test_bad_options_are_refused(argv, capsys):
    with pytest.raises(SystemExit) as exit:
        options.parse(argv)
    assert exit.value.code == 2


def test_tls_contexts_verify_unless_insecure():
    verified = options.tls_context()
    assert verified.verify_mode is ssl.CERT_REQUIRED and verified.check_hostname
    insecure = options.tls_context(insecure=True)
    assert insecure.verify_mode is ssl.CERT_NONE and not insecure.check_hostname


# The reconnection policy

class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_backoff_doubles_up_to_thirty_seconds():
    policy = ReconnectPolicy(Clock())
    assert [policy.next_delay() for _ in range(8)] == [1, 2, 4, 8, 16, 30, 30, 30]


def test_a_stable_connection_resets_the_backoff():
    clock = Clock()
    policy = ReconnectPolicy(clock)
    assert [policy.next_delay() for _ in range(3)] == [1, 2, 4]
    policy.signed_in()
    clock.now += 60
    assert policy.next_delay() == 1


def test_a_connection_dropped_at_once_does_not_reset_the_backoff():
    clock = Clock()
    policy = ReconnectPolicy(clock)
    assert [policy.next_delay() for _ in range(3)] == [1, 2, 4]
    policy.signed_in()
    clock.now += 1
    assert policy.next_delay() == 8
    clock.now += 100     # time spent offline does not count
    assert policy.next_delay() == 16


# The session

def feed(session: Session, *texts: str) -> list[str]:
    sent = []
    for text in texts:
        sent += session.received(classify(text))
    return sent


PROMPT = "*** Choose a nickname (letters, digits and _-[]\\`^{}|, up to 32):"


def sign_in(session: Session, nick: str = "ann") -> list[str]:
    return feed(session, "*** Welcome to chatservice! 1 person online.", PROMPT,
                f"*** Hello {nick}! Type /help for the commands.",
                "*** You joined #lobby; nobody else is here.", "*** #lobby has no topic.")


def test_nick_option_answers_the_prompt_once_per_connection():
    session = Session("ann")
    session.connected()
    assert feed(session, "*** Welcome to chatservice! 0 people online.", PROMPT) == ["ann"]
    assert feed(session, "*** The nickname ann is taken.", PROMPT) == []
    assert session.phase is Phase.NICK and session.ready
    assert session.typed("ann2") == ["ann2"]
    assert feed(session, "*** Hello ann2! Type /help for the commands.") == []
    assert session.nick == "ann2" and session.phase is Phase.CHAT


def test_without_a_nick_the_user_answers_the_prompt():
    session = Session()
    session.connected()
    assert session.typed("early") == []        # no prompt yet: kept
    assert feed(session, PROMPT) == ["early"]
    assert session.typed("/join #x") == []     # answered: kept until signed in
    assert feed(session, "*** Hello early! Type /help for the commands.") == ["/join #x"]


def test_lines_typed_before_signing_in_wait_for_it():
    session = Session("ann")
    assert session.typed("hello") == []
    session.connected()
    assert feed(session, PROMPT) == ["ann"]
    assert session.typed("/me waves") == []
    assert feed(session, "*** Hello ann! Type /help for the commands.") == ["hello", "/me waves"]
    assert session.typed("now") == ["now"]


def test_password_prompt():
    session = Session("ann")
    session.connected()
    feed(session, PROMPT)
    assert feed(session, "*** ann is registered. Password:") == []
    assert session.phase is Phase.PASSWORD and session.ready
    assert session.typed("secret") == ["secret"]
    assert session.phase is not Phase.PASSWORD


def test_rooms_are_tracked():
    session = Session("ann")
    session.connected()
    sign_in(session)
    feed(session, "*** You joined #a; 1 other here.", "*** You joined #b; nobody else is here.")
    assert list(session.rooms.values()) == ["#lobby", "#a", "#b"] and session.current == "#b"
    feed(session, "*** You are now talking in #a.")
    assert session.current == "#a"
    feed(session, "*** You left #a.", "*** You are now talking in #b.")
    assert list(session.rooms.values()) == ["#lobby", "#b"] and session.current == "#b"
    feed(session, "*** bob kicked ann from #b (bye)")
    assert list(session.rooms.values()) == ["#lobby"]
    feed(session, "*** bob kicked carl from #lobby")
    assert list(session.rooms.values()) == ["#lobby"]


def test_rejoins_its_rooms_after_a_reconnection_current_last():
    session = Session("ann")
    session.connected()
    sign_in(session)
    feed(session, "*** You joined #b; nobody else is here.",
         "*** You joined #a; nobody else is here.", "*** You are now talking in #b.")
    session.disconnected()
    assert session.phase is Phase.OFFLINE and not session.rooms
    session.connected()
    assert feed(session, PROMPT) == ["ann"]
    assert feed(session, "*** Hello ann! Type /help for the commands.") \
        == ["/join #lobby", "/join #a", "/join #b"]
    assert feed(session, "*** You joined #lobby; nobody else is here.") == []


def test_after_a_reconnection_leaves_the_default_room_it_had_left():
    session = Session("ann")
    session.connected()
    sign_in(session)
    feed(session, "*** You joined #a; nobody else is here.", "*** You left #lobby.")
    session.disconnected()
    session.connected()
    feed(session, PROMPT)
    assert feed(session, "*** Hello ann! Type /help for the commands.") == ["/join #a"]
    assert feed(session, "*** You joined #lobby; nobody else is here.") == ["/part #lobby"]
    assert feed(session, "*** You joined #a; nobody else is here.") == []
    assert list(session.rooms.values()) == ["#a"]


def test_a_renamed_client_signs_in_again_with_its_new_nick():
    session = Session("ann")
    session.connected()
    sign_in(session)
    feed(session, "*** You are now known as anna.")
    session.disconnected()
    session.connected()
    assert feed(session, PROMPT) == ["anna"]


def test_nicknames_seen_for_completion():
    session = Session("ann")
    session.connected()
    sign_in(session)
    feed(session, "[#lobby] <bob> hi", "[#lobby] * Carl waves", "*** dora joined #lobby",
         "[private] <eve> psst", "[to fred] <ann> hi", "[#lobby] <ann> me",
         "*** bob is now known as bobby", "*** Carl quit (bye)")
    assert sorted(session.nicks.values()) == ["bobby", "dora", "eve"]
