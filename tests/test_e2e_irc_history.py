"""
End to end: history in the IRC front end, through a real twistd over real
sockets: IRC clients (raw sockets) and a line user chat; IRC clients that
join later get the replay; CHATHISTORY and SEARCH over the wire (and over
IRC over WebSocket); and, with the default SQLite store, history, topics,
modes and bans that outlive a restart in the same directory, with msgids
that keep increasing.

Each wire test runs against the in-memory store (``--no-persistence``) and
against the default SQLite store in the server's data directory.
"""

from __future__ import annotations

import re
import signal
import time

import pytest

from server import HOST, REPO, TIMEOUT

HAVE_SQLITE = (REPO / "chatservice" / "store" / "sqlite.py").exists()
needs_sqlite = pytest.mark.skipif(not HAVE_SQLITE, reason="the SQLite store is not there yet")

STORES = [
    pytest.param(["--no-persistence"], id="memory"),
    pytest.param([], id="sqlite", marks=needs_sqlite),
]

FULL = "batch server-time message-tags draft/chathistory soju.im/search"
OPER = ("--oper", "boss:bosspass")

_LINE = re.compile(rb"^(@\S+ )?(.*)$", re.S)


class IRCUser:
    """An IRC client on a raw socket, reading line by line with deadlines."""

    def __init__(self, server, nick: str, caps: str = "", port: int | None = None) -> None:
        self.nick = nick
        self.client = server.connect(f"irc-{nick}", port=port or server.irc_ports[0])
        if caps:
            self.send("CAP LS 302")
            self.send(f"CAP REQ :{caps}")
            self.expect(rf":\S+ CAP \* ACK :{re.escape(caps)}")
        self.send(f"NICK {nick}")
        self.send(f"USER {nick} 0 * :{nick.title()}")
        if caps:
            self.send("CAP END")
        self.expect(rf":\S+ (376|422) {nick} ")

    def send(self, line: str) -> None:
        self.client.send_line(line, ending=b"\r\n")

    def line(self, timeout: float = TIMEOUT) -> str:
        raw = self.client.read_until(b"\r\n", timeout)
        tags, body = _LINE.match(raw[:-2]).groups()
        # Every line within IRC's limits: tags within 4096 bytes, the rest within 512.
        assert len(tags or b"") <= 4096 and len(body) + 2 <= 512, raw
        assert b"\r" not in raw[:-2] and b"\n" not in raw[:-2], raw
        return raw[:-2].decode("utf-8")

    def expect(self, pattern: str, timeout: float = TIMEOUT) -> list[str]:
        """Read lines up to one whose body (tags aside) matches C{pattern}; return them all."""
        found = []
        deadline = time.monotonic() + timeout
        while True:
            found.append(self.line(max(0.01, deadline - time.monotonic())))
            if re.match(pattern, re.sub(r"^@\S+ ", "", found[-1])):
                return found

    def join(self, room: str, key: str = "") -> list[str]:
        self.send(f"JOIN {room} {key}".rstrip())
        return self.expect(rf":\S+ (366 {self.nick} {re.escape(room)} |4\d\d )")

    def batch(self, kind: str = "chathistory") -> list[str]:
        """Read a whole batch; return its inner lines, without their batch tag."""
        opening = self.expect(rf":\S+ BATCH \+\S+ {re.escape(kind)}\b")[-1]
        ref = opening.split()[2][1:]
        inner = self.expect(rf":\S+ BATCH -{re.escape(ref)}$")[:-1]
        for line in inner:
            assert f"batch={ref}" in line.split(" ", 1)[0], line
        return [re.sub(rf"batch={re.escape(ref)};?", "", line).replace("@ ", "")
                for line in inner]

    def ask(self, line: str, kind: str = "chathistory") -> list[str]:
        self.send(line)
        return self.batch(kind)


def texts(lines: list[str]) -> list[str]:
    found = (re.search(r" (?:PRIVMSG|NOTICE) \S+ :(.*)$", line) for line in lines)
    return [match.group(1) for match in found if match]


def msgids(lines: list[str]) -> list[str]:
    """The msgid of each line: a message's id, and ID.1, ID.2... for the pieces of a long one."""
    return [re.search(r"msgid=([\d.]+)", line).group(1) for line in lines]


@pytest.fixture(params=STORES)
def history_server(request, start_server):
    return start_server(*request.param, irc=1)


def lobby_chat(server) -> tuple[IRCUser, object, list[str]]:
    """
    ann (IRC, every history capability) and liz (line) chat in #lobby;
    return ann, liz and what ann saw of it.
    """
    ann = IRCUser(server, "ann", FULL)
    ann.join("#lobby")
    liz = server.user("liz")
    ann.expect(r":liz!\S+ JOIN #lobby")
    seen = []
    for number in range(4):
        ann.send(f"PRIVMSG #lobby :from ann {number}")
        liz.read_until(f"<ann> from ann {number}\r\n")
        liz.send_line(f"from liz {number}")
        seen.append(ann.expect(rf":liz!\S+ PRIVMSG #lobby :from liz {number}$")[-1])
    liz.send_line("/me waves")
    liz.send_line("long " + "y" * 900)
    # The long message reaches IRC in two pieces.
    seen += ann.expect(r":liz!\S+ PRIVMSG #lobby :y+$")
    return ann, liz, seen


def test_replay_and_chathistory_over_the_wire(history_server):
    """
    A second IRC client joining sees the replay; CHATHISTORY LATEST, BEFORE
    and AFTER and SEARCH answer over the wire with the msgids the messages
    were sent with.
    """
    ann, liz, seen = lobby_chat(history_server)
    said = [f"from {who} {n}" for n in range(4) for who in ("ann", "liz")]
    said += ["\x01ACTION waves\x01", "long " + "y" * 900]

    # ben takes batches and server-time: the replay comes in a batch.
    ben = IRCUser(history_server, "ben", "batch server-time")
    ben.send("JOIN #lobby")
    ben.expect(r":\S+ 366 ben #lobby ")
    replay = ben.batch()
    assert len(replay) == 11 and texts(replay)[:9] == said[:9]
    assert "".join(texts(replay)[9:]) == said[9]
    assert all(re.match(r"@time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z :", line)
               for line in replay)
    # cal takes nothing: plain lines.
    cal = IRCUser(history_server, "cal")
    cal.send("JOIN #lobby")
    cal.expect(r":\S+ 366 cal #lobby ")
    plain = [cal.line() for _ in range(11)]
    assert texts(plain)[:9] == said[:9] and all(line.startswith(":") for line in plain)

    latest = ann.ask("CHATHISTORY LATEST #lobby * 100")
    assert texts(latest)[:8] == said[:8]
    ids = msgids(latest)
    whole = [int(msgid) for msgid in ids if "." not in msgid]
    assert whole == sorted(whole) and len(set(whole)) == len(whole) == 10
    assert ids[-1] == ids[-2] + ".1"
    # liz's messages came back with the msgids ann saw live.
    assert msgids(seen) == ids[1:8:2] + ids[-3:]
    assert texts(ann.ask(f"CHATHISTORY BEFORE #lobby msgid={ids[3]} 2")) == \
        ["from liz 0", "from ann 1"]
    assert texts(ann.ask(f"CHATHISTORY AFTER #lobby msgid={ids[3]} 2")) == \
        ["from ann 2", "from liz 2"]
    assert texts(ann.ask("CHATHISTORY AFTER #lobby timestamp=2000-01-01T00:00:00.000Z 1")) \
        == ["from ann 0"]
    assert texts(ann.ask("CHATHISTORY BEFORE #lobby timestamp=2999-01-01T00:00:00.000Z 1"))[0] \
        == "long " + "y" * (len(texts(latest)[9]) - 5)
    assert texts(ann.ask("SEARCH in=#lobby;text=liz\\s3", "soju.im/search")) == ["from liz 3"]

    # Refusals over the wire.
    ann.send("CHATHISTORY LATEST #lobby * 0")
    assert ann.expect(r":\S+ FAIL ")[-1].endswith(
        " FAIL CHATHISTORY INVALID_PARAMS LATEST 0 :Invalid limit")
    # A room that does not exist is refused as one that she is not in.
    ann.send("CHATHISTORY LATEST #nowhere * 10")
    assert ann.expect(r":\S+ FAIL ")[-1].endswith(
        " FAIL CHATHISTORY INVALID_TARGET LATEST #nowhere :Messages could not be retrieved")
    ann.send("CHATHISTORY LATEST nowhere!at@all * 10")
    assert ann.expect(r":\S+ FAIL ")[-1].endswith(
        " FAIL CHATHISTORY INVALID_TARGET LATEST nowhere!at@all :Messages could not be retrieved")
    # The server still serves everyone.
    liz.send_line("still here")
    assert texts(ben.expect(r":liz!\S+ PRIVMSG #lobby :still here$")[-1:]) == ["still here"]


def test_clients_that_hang_up_mid_request(history_server):
    """Clients that ask for history (or join) and hang up at once leave the server serving."""
    ann, liz, _ = lobby_chat(history_server)
    for number in range(5):
        quitter = IRCUser(history_server, f"quit{number}", FULL)
        quitter.send("CHATHISTORY LATEST #lobby * 1000\r\nSEARCH in=#lobby;text=from\r\n"
                     "JOIN #lobby\r\nCHATHISTORY TARGETS timestamp=2000-01-01T00:00:00.000Z "
                     "timestamp=2100-01-01T00:00:00.000Z 100")
        quitter.client.reset()
    assert texts(ann.ask("CHATHISTORY LATEST #lobby * 1"))[0].startswith("long y")


def test_chathistory_over_websocket(start_server):
    """IRC over WebSocket is the same IRC front end: CHATHISTORY answers there too."""
    pytest.importorskip("websockets")
    from websockets.sync.client import connect

    server = start_server("--no-persistence", irc=1, web=1)
    ann = IRCUser(server, "ann")
    ann.join("#web")
    ann.send("PRIVMSG #web :hello web")
    with connect(f"ws://{HOST}:{server.web_ports[0]}/ws", subprotocols=["text.ircv3.net"],
                 open_timeout=TIMEOUT, proxy=None) as socket:
        for line in ("CAP REQ :batch draft/chathistory", "NICK web", "USER web 0 * :Web",
                     "CAP END", "JOIN #web", "CHATHISTORY LATEST #web * 10"):
            socket.send(line)
        got = []
        deadline = time.monotonic() + TIMEOUT
        while not got or not re.match(r":\S+ BATCH -", got[-1]):
            got.append(socket.recv(timeout=max(0.01, deadline - time.monotonic())))
        assert any(line.endswith(" PRIVMSG #web :hello web") for line in got), got


# Persistence

def stop_and_start(server) -> None:
    # twistd ends a clean shutdown by raising the signal that stopped it again.
    assert server.terminate() in (0, -signal.SIGTERM)
    assert (server.directory / "chatservice-data").is_dir()
    server.start_again()


@needs_sqlite
def test_history_and_rooms_outlive_a_restart(start_server):
    """
    After twistd stops and starts again in the same directory, CHATHISTORY
    still answers (with the same msgids), the replay still plays, new msgids
    are higher than old ones, and rooms keep their topic, key, limit, bans,
    and invite-only and secret flags.
    """
    server = start_server(*OPER, irc=1)
    ann = IRCUser(server, "ann", FULL + " echo-message")
    ann.join("#keep")
    for line in ("TOPIC #keep :kept topic", "MODE #keep +kl sesame 10", "MODE #keep +b bad!*@*",
                 "PRIVMSG #keep :before the restart"):
        ann.send(line)
    ann.expect(r":ann!\S+ PRIVMSG #keep :before the restart$")
    ann.join("#hidden")
    ann.send("MODE #hidden +is")
    ann.send("PRIVMSG #hidden :hidden words")
    ann.expect(r":ann!\S+ PRIVMSG #hidden :hidden words$")
    before = ann.ask("CHATHISTORY LATEST #keep * 10")
    assert texts(before) == ["before the restart"]
    old_id = int(msgids(before)[-1])

    stop_and_start(server)

    # The key, the ban list and the limit still hold; the topic is there.
    bad = IRCUser(server, "bad")
    assert re.match(r":\S+ 475 bad #keep ", bad.join("#keep")[-1])
    bad.send("QUIT")
    ben = IRCUser(server, "ben", "batch server-time")
    joined = ben.join("#keep", "sesame")
    assert any(re.match(r":\S+ 332 ben #keep :kept topic$", line) for line in joined), joined
    assert texts(ben.batch()) == ["before the restart"]
    ben.send("MODE #keep")
    modes = ben.expect(r":\S+ 324 ben #keep ")[-1].split(" ", 4)[4]
    letters, *arguments = modes.split()
    assert {"k", "l"} <= set(letters) and "sesame" in arguments and "10" in arguments
    ben.send("MODE #keep +b")
    assert ben.expect(r":\S+ 36[78] ben #keep ")[-1].split()[4] == "bad!*@*"
    # The invite-only secret room stays hidden and closed; its history too.
    cal = IRCUser(server, "cal", FULL)
    cal.send("LIST")
    assert not any("#hidden" in line for line in cal.expect(r":\S+ 323 "))
    assert re.match(r":\S+ 473 cal #hidden ", cal.join("#hidden")[-1])
    cal.send("CHATHISTORY LATEST #hidden * 10")
    assert cal.expect(r":\S+ FAIL ")[-1].endswith(
        " FAIL CHATHISTORY INVALID_TARGET LATEST #hidden :Messages could not be retrieved")
    # A server operator reclaims it, and finds its modes and history.
    boss = IRCUser(server, "boss", FULL)
    boss.send("OPER boss bosspass")
    boss.expect(r":\S+ 381 ")
    boss.join("#hidden")
    boss.send("MODE #hidden")
    assert {"i", "s"} <= set(boss.expect(r":\S+ 324 boss #hidden ")[-1].split()[4])
    assert texts(boss.ask("CHATHISTORY LATEST #hidden * 10")) == ["hidden words"]

    # Old msgids still work, and new ones are higher.
    ben.send("PRIVMSG #keep :after the restart")
    cal.send("JOIN #keep sesame")
    cal.expect(r":\S+ 366 cal #keep ")
    latest = cal.ask("CHATHISTORY LATEST #keep * 10")
    assert texts(latest) == ["before the restart", "after the restart"]
    assert int(msgids(latest)[0]) == old_id and int(msgids(latest)[1]) > old_id
    assert texts(cal.ask(f"CHATHISTORY AFTER #keep msgid={old_id} 10")) == ["after the restart"]
