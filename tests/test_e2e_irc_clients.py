"""
End to end with real, independent IRC clients: jaraco's C{irc} library from
PyPI, and irssi in a terminal (tmux), against a real C{twistd -n chat}, in the
same rooms as line users.

Each side is checked in its own format: the line user reads
C{[#lobby] <ann> ...} and C{*** ...} lines; the library reports the events it
parsed (pubmsg, action, join, part, quit, nick, topic...); irssi draws them on
its screen.
"""

from __future__ import annotations

import re
import shutil

import pytest

from irc_client_helpers import LibraryClient, Tmux, irssi_home, terminal_env
from server import HOST, assert_terminal_safe, client_tls_context, free_ports, join_announcement


@pytest.fixture
def irc_clients():
    """Connect library clients with C{irc_clients(port, nick, ...)}; all are closed at teardown."""
    made: list[LibraryClient] = []

    def connect(port: int, nick: str, **options) -> LibraryClient:
        client = LibraryClient.connect(port, nick, **options)
        made.append(client)
        return client

    yield connect
    for client in made:
        client.close()


# An error numeric, as the library logs the raw line (tags, if any, first).
_ERROR_REPLY = re.compile(r"(@\S+ )?:\S+ [45]\d\d ")


def _irc_user(irc_clients, port: int, nick: str, **options) -> LibraryClient:
    client = irc_clients(port, nick, **options)
    client.register()
    return client


def test_mixed_room_line_user_and_two_irc_library_users(start_server, irc_clients):
    """
    A line user (liz) and two users of the irc library (ann, ben) share
    #lobby: each sees the others' joins, messages, actions, private
    messages, topics, modes, nick changes, parts and quits, in its own format.
    """
    server = start_server("--motd", "Be nice: line and IRC users share these rooms.", irc=1)
    port = server.irc_ports[0]

    # ann creates #lobby, so she is its operator.
    ann = _irc_user(irc_clients, port, "ann")
    assert ann.seen("motd", arguments=["- Be nice: line and IRC users share these rooms."])
    assert ann.join("#lobby") == ["@ann"]

    liz = server.user("liz")
    ann.expect("join", source="liz", target="#lobby")

    ann.connection.topic("#lobby", "Mixed room: line and IRC")
    ann.expect("topic", source="ann", target="#lobby", arguments=["Mixed room: line and IRC"])
    liz.read_until("*** ann set the topic of #lobby: Mixed room: line and IRC\r\n")

    ben = _irc_user(irc_clients, port, "ben")
    names = ben.join("#lobby")
    assert sorted(names) == ["@ann", "ben", "liz"]
    assert ben.seen("currenttopic", target="ben", arguments=["#lobby", "Mixed room: line and IRC"])
    ann.expect("join", source="ben", target="#lobby")
    liz.read_until(join_announcement("ben"))

    # Messages, both ways.
    liz.send_line("hello from the line")
    for reader in (ann, ben):
        reader.expect("pubmsg", source="liz", target="#lobby",
                      arguments=["hello from the line"])
    ann.connection.privmsg("#lobby", "hello from ann on IRC")
    liz.read_until("[#lobby] <ann> hello from ann on IRC\r\n")
    ben.expect("pubmsg", source="ann", target="#lobby", arguments=["hello from ann on IRC"])

    # Actions: CTCP ACTION on IRC is /me on the line, both ways.
    ben.connection.action("#lobby", "waves from IRC")
    liz.read_until("[#lobby] * ben waves from IRC\r\n")
    ann.expect("action", source="ben", target="#lobby", arguments=["waves from IRC"])
    liz.send_line("/me waves from the line")
    for reader in (ann, ben):
        reader.expect("action", source="liz", target="#lobby",
                      arguments=["waves from the line"])

    # Private messages and a private action; ben sees none of them.
    liz.send_line("/msg ann psst, ann")
    liz.read_until("[to ann] <liz> psst, ann\r\n")
    ann.expect("privmsg", source="liz", target="ann", arguments=["psst, ann"])
    ann.connection.privmsg("liz", "psst back, liz")
    liz.read_until("[private] <ann> psst back, liz\r\n")
    ann.connection.action("liz", "winks")
    liz.read_until("[private] * ann winks\r\n")
    ann.connection.privmsg("ben", "between us IRC folk")
    ben.expect("privmsg", source="ann", target="ben", arguments=["between us IRC folk"])

    # ann makes liz an operator; liz sets the topic from the line.
    ann.connection.mode("#lobby", "+o liz")
    liz.read_until("*** ann made liz an operator in #lobby\r\n")
    ben.expect("mode", source="ann", target="#lobby", arguments=["+o", "liz"])
    liz.send_line("/topic Set from the line")
    liz.read_until("*** You set the topic of #lobby: Set from the line\r\n")
    for reader in (ann, ben):
        reader.expect("topic", source="liz", target="#lobby", arguments=["Set from the line"])

    # Nick changes, both ways; the new nicks are used at once.
    ann.connection.nick("anna")
    ann.expect("nick", source="ann", target="anna")
    assert ann.connection.get_nickname() == "anna"
    liz.read_until("*** ann is now known as anna\r\n")
    ben.expect("nick", source="ann", target="anna")
    liz.send_line("/nick lizzie")
    liz.read_until("*** You are now known as lizzie.\r\n")
    for reader in (ann, ben):
        reader.expect("nick", source="liz", target="lizzie")
    ann.connection.privmsg("#lobby", "anna speaking")
    liz.read_until("[#lobby] <anna> anna speaking\r\n")
    liz.send_line("lizzie speaking")
    for reader in (ann, ben):
        reader.expect("pubmsg", source="lizzie", target="#lobby", arguments=["lizzie speaking"])

    # Parts with reasons, both ways, and coming back.  (The library sends
    # PART's reason as it is given: a reason of several words needs its ':'.)
    ben.connection.part("#lobby", ":back in a minute")
    ben.expect("part", source="ben", target="#lobby", arguments=["back in a minute"])
    liz.read_until("*** ben left #lobby (back in a minute)\r\n")
    ann.expect("part", source="ben", target="#lobby", arguments=["back in a minute"])
    liz.send_line("/part #lobby stepping out")
    liz.read_until("*** You left #lobby.\r\n")
    ann.expect("part", source="lizzie", target="#lobby", arguments=["stepping out"])
    liz.send_line("/join #lobby")
    liz.read_until("*** Topic of #lobby: Set from the line (set by liz)\r\n")
    ann.expect("join", source="lizzie", target="#lobby")
    assert sorted(ben.join("#lobby")) == ["@anna", "ben", "lizzie"]
    liz.read_until(join_announcement("ben"))
    ann.expect("join", source="ben", target="#lobby")

    # Quits with reasons, both ways.
    ann.connection.quit("gone fishing")
    error = ann.expect("error")
    assert "Quit: gone fishing" in error.target
    ann.expect("disconnect")
    liz.read_until("*** anna quit (Quit: gone fishing)\r\n")
    ben.expect("quit", source="anna", arguments=["Quit: gone fishing"])
    liz.send_line("/quit see you all")
    liz.read_until("*** Closing the connection: Quit: see you all.\r\n")
    ben.expect("quit", source="lizzie", arguments=["Quit: see you all"])

    # Nobody saw what was not theirs, and nothing was said twice.
    assert "between us IRC folk" not in liz.text()
    assert not ben.seen("privmsg", target="ann") and not ben.seen("action", target="liz")
    assert len(ben.seen("pubmsg", source="liz", arguments=["hello from the line"])) == 1
    # (Live, that is: rejoining #lobby replays it once more, behind its time.)
    assert liz.text().count("\r\n[#lobby] <ann> hello from ann on IRC\r\n") == 1
    assert_terminal_safe(liz.transcript)
    # Nothing the library sent was refused: no error numeric (4xx, 5xx) came back.
    for reader in (ann, ben):
        refusals = [line for line in reader.raw if _ERROR_REPLY.match(line)]
        assert not refusals, f"{reader.name} got error replies: {refusals}"


def test_long_line_message_reaches_the_library_in_pieces(start_server, irc_clients):
    """
    A line user's message too long for one IRC line reaches the library as
    several PRIVMSGs (several CTCP ACTIONs for /me), each valid UTF-8, that
    rejoin to the whole text.
    """
    server = start_server(irc=1)
    ann = _irc_user(irc_clients, server.irc_ports[0], "ann")
    ann.join("#lobby")
    liz = server.user("liz")
    ann.expect("join", source="liz")

    # About 1900 bytes, with two-, three- and four-byte characters to cut around.
    text = " ".join(f"{n:03d}:Zürich—€😀" for n in range(85))
    assert 1500 < len(text.encode()) < 2000
    liz.send_line(text)
    liz.send_line("end of the long one")
    pieces = []
    while True:
        event = ann.expect("pubmsg", source="liz", target="#lobby")
        if event.arguments == ["end of the long one"]:
            break
        pieces.append(event.arguments[0])
    assert len(pieces) >= 4
    assert all(pieces) and "\ufffd" not in "".join(pieces)
    assert "".join(pieces) == text
    assert all(len(line.encode()) <= 510 for line in ann.raw)

    action = "juggles " + text
    liz.send_line("/me " + action)
    liz.send_line("end of the long action")
    pieces = []
    while True:
        event = ann.wait_for(lambda e: e.type in ("action", "pubmsg"), "a message or action")
        if event.type == "pubmsg":
            assert event.arguments == ["end of the long action"]
            break
        pieces.append(event.arguments[0])
    assert len(pieces) >= 4
    assert "".join(pieces) == action


def test_server_password_with_the_library(start_server, irc_clients):
    """
    With --password, the library's registration completes when it sends the
    right password, and fails cleanly (464, an ERROR, the connection closed,
    nobody signed in) with a wrong one or none.
    """
    server = start_server("--password", "sesame-42", irc=1)
    port = server.irc_ports[0]

    good = _irc_user(irc_clients, port, "ann", password="sesame-42")
    assert good.join("#lobby") == ["@ann"]

    for nick, password in (("mallory", "wrong"), ("eve", None)):
        bad = irc_clients(port, nick, password=password)
        bad.expect("passwdmismatch")
        error = bad.expect("error")
        assert "Bad password" in error.target
        bad.expect("disconnect")
        assert not bad.connection.is_connected()
        assert not bad.seen("welcome")

    # Those refused never existed for the others: the nicks are free and
    # nobody saw them.
    good.connection.ison(["mallory", "eve", "ann"])
    assert good.expect("ison").arguments == ["ann"]
    assert not good.seen("join", source="mallory")
    server.wait_for_log(lambda log: log.count("Bad password") >= 2,
                        "the refused connections closed for a bad password")


def test_tls_irc_with_the_library(start_server, irc_clients, certificate):
    """
    Over an IRC listener on TLS (--irc ssl:...), the library connects through
    its SSL connect factory, verifying the server's certificate, registers,
    and chats with a line user.
    """
    key, cert = certificate
    tls_port, = free_ports(1)
    server = start_server(
        "--irc", f"ssl:{tls_port}:privateKey={key}:certKey={cert}:interface={HOST}", irc=0)
    ann = _irc_user(irc_clients, tls_port, "ann", tls=client_tls_context(cert))
    sock = ann.connection.socket
    assert sock.version() in ("TLSv1.2", "TLSv1.3")
    assert ann.join("#lobby") == ["@ann"]

    liz = server.user("liz")
    ann.expect("join", source="liz", target="#lobby")
    ann.connection.privmsg("#lobby", "hello over TLS")
    liz.read_until("[#lobby] <ann> hello over TLS\r\n")
    ann.connection.action("#lobby", "locks the door")
    liz.read_until("[#lobby] * ann locks the door\r\n")
    liz.send_line("hello back, encrypted")
    ann.expect("pubmsg", source="liz", target="#lobby", arguments=["hello back, encrypted"])
    ann.connection.quit("done")
    liz.read_until("*** ann quit (Quit: done)\r\n")


# irssi in a terminal

def _need_programs(*programs: str) -> None:
    missing = [p for p in programs if shutil.which(p) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed (tests/run.sh installs them)")


@pytest.fixture
def tmux(tmp_path):
    _need_programs("irssi", "tmux")
    terminal = Tmux(tmp_path)
    yield terminal
    terminal.stop()


def test_irssi_in_tmux_chats_with_a_line_user(start_server, tmux, tmp_path):
    """
    irssi, typed into through tmux, joins #lobby, talks (UTF-8 too), acts,
    changes its nick and quits; a line user sees all of it, and irssi's screen
    shows the line user's messages, action, topic and nick change.
    """
    server = start_server(irc=1)
    liz = server.user("liz")

    home = irssi_home(tmp_path, "ivy")
    tmux.start(["irssi", f"--home={home}", "-n", "ivy", "-c", HOST,
                "-p", str(server.irc_ports[0])], terminal_env(home))
    tmux.wait_for("Welcome to the chatservice IRC network, ivy!")

    tmux.send_line("/join #lobby")
    liz.read_until(join_announcement("ivy"), timeout=15)
    tmux.wait_for(re.compile(r"#lobby: Total of 2 nicks"))

    tmux.send_line("hello from irssi")
    liz.read_until("[#lobby] <ivy> hello from irssi\r\n", timeout=15)
    tmux.send_line("/me waves from irssi")
    liz.read_until("[#lobby] * ivy waves from irssi\r\n", timeout=15)

    tmux.send_line("grüße aus irssi ✓")
    liz.read_until("[#lobby] <ivy> grüße aus irssi ✓\r\n", timeout=15)

    liz.send_line("hello irssi, from the line")
    tmux.wait_for(re.compile(r"<[ @+]?liz> hello irssi, from the line"))
    liz.send_line("/me waves back")
    tmux.wait_for(re.compile(r"\* liz waves back"))
    liz.send_line("¡hola, ivy! ünïcödé")
    tmux.wait_for(re.compile(r"<[ @+]?liz> ¡hola, ivy! ünïcödé"))
    liz.send_line("/topic Line and IRC, together")
    tmux.wait_for("liz changed the topic of #lobby to: Line and IRC, together")
    liz.send_line("/nick lizzie")
    tmux.wait_for("liz is now known as lizzie")

    tmux.send_line("/nick ivy2")
    liz.read_until("*** ivy is now known as ivy2\r\n", timeout=15)
    tmux.wait_for("You're now known as ivy2")

    rawlog = tmp_path / "irssi-raw.log"
    tmux.send_line(f"/rawlog save {rawlog}")
    tmux.send_line("/quit bye from irssi")
    liz.read_until("*** ivy2 quit (Quit: bye from irssi)\r\n", timeout=15)
    tmux.wait_exited()
    assert_terminal_safe(liz.transcript)

    # Everything irssi sent was a command the server knows.
    raw = rawlog.read_text(errors="replace") if rawlog.exists() else ""
    assert " JOIN #lobby" in raw, raw
    assert not re.search(r"^>> :\S+ 421 ", raw, re.M), raw
