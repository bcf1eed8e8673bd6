"""
End to end: line users who sign in at the same moment are announced to the
room in one line, over real sockets to a real twistd; IRC clients still get
one JOIN each.

"At the same moment" is made certain by stopping the server (SIGSTOP) while
the nicknames are sent and letting it go on (SIGCONT): it then reads them all
in one reactor turn.
"""

from __future__ import annotations

import os
import re
import signal
import time
from contextlib import contextmanager

from server import TIMEOUT, ChatServer, assert_terminal_safe, join_announcement


def _state(pid: int) -> str:
    """A process's state letter (T: stopped), from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]


@contextmanager
def paused(server: ChatServer):
    """The server process stopped for the block, so that what is sent meanwhile arrives at once."""
    os.kill(server.process.pid, signal.SIGSTOP)
    deadline = time.monotonic() + TIMEOUT
    while _state(server.process.pid) != "T":  # the signal takes effect a moment later
        assert time.monotonic() < deadline, "the server did not stop"
        time.sleep(0.01)
    try:
        yield
    finally:
        os.kill(server.process.pid, signal.SIGCONT)


def arrive(server: ChatServer, nicks: list[str]) -> list:
    """Line clients that read their prompt, then all choose their nickname at once."""
    clients = [server.connect(nick) for nick in nicks]
    for client in clients:
        client.read_prompt()
    with paused(server):
        for client, nick in zip(clients, nicks):
            client.send_line(nick)
        time.sleep(0.1)  # for the kernel to hand every line over, under load
    for client, nick in zip(clients, nicks):
        client.read_until(f"*** Hello {nick}! Type /help for the commands.\r\n")
    return clients


def _people(line: str) -> int:
    """How many people a line-chat join line says joined."""
    match = re.fullmatch(r"\*\*\* (.+) joined #lobby", line)
    assert match, line
    named = match.group(1)
    others = re.fullmatch(r".+ and (\d+) others", named)
    if others:
        return named.count(", ") + 1 + int(others.group(1))
    return named.count(", ") + named.count(" and ") + 1


def read_crowd(client, count: int) -> list[str]:
    """
    The join lines telling C{client} of C{count} people who signed in at
    once: nearly always one line; the kernel of a loaded machine may hand the
    last few nicknames over a turn later, and then they make another line,
    but never one line each.
    """
    told, lines = 0, []
    while told < count:
        line = client.read_line()
        if line.startswith("*** You joined ") or line == "*** #lobby has no topic.":
            continue  # the end of a joiner's own welcome
        lines.append(line)
        told += _people(line)
    assert told == count and len(lines) <= max(2, count // 3), lines
    return lines


def irc_member(server: ChatServer, nick: str):
    """An IRC client registered as C{nick} and in #lobby, its output read."""
    client = server.connect(nick, port=server.irc_ports[0])
    client.send_line(f"NICK {nick}\r\nUSER {nick} 0 * :{nick}")
    client.read_until(f" 001 {nick} ")
    client.send_line("JOIN #lobby")
    client.read_until(" 366 ")
    return client


def read_joins(irc, count: int) -> list[str]:
    """The next C{count} JOIN lines an IRC client gets, as (nick, channel) text."""
    joins = []
    while len(joins) < count:
        line = irc.read_line()
        if " JOIN " in line:
            source, _, channel = line.partition(" JOIN ")
            joins.append(f"{source.lstrip(':').split('!')[0]} {channel.lstrip(':')}")
    return joins


def test_line_users_arriving_together_are_one_line(start_server):
    """Six line users signing in at once reach the room's line users as one line, and its IRC users as six JOINs."""
    server = start_server(irc=1)
    watcher = server.user("watcher")
    irc = irc_member(server, "ircwatch")
    watcher.read_until(join_announcement("ircwatch"))
    nicks = [f"guest{i}" for i in range(6)]
    clients = arrive(server, nicks)
    assert read_crowd(watcher, len(nicks))[0].startswith("*** guest0")
    assert read_joins(irc, 6) == [f"{nick} #lobby" for nick in nicks]
    # Those who arrived together see only those after them, never themselves.
    assert read_crowd(clients[0], 5)[0].startswith("*** guest1")
    clients[5].send_line("/who")
    clients[5].read_until("*** In #lobby (8): ")
    assert "guest5 joined" not in clients[5].text() and "guest5 and" not in clients[5].text()
    watcher.send_line("/who")
    assert watcher.read_line().startswith("*** In #lobby (8): ")
    assert_terminal_safe(watcher.transcript)


def test_irc_clients_get_every_join_of_a_crowd(start_server):
    """An IRC client in the room gets one JOIN line per person of a crowd that signs in at once."""
    server = start_server(irc=1)
    irc = irc_member(server, "ircwatch")
    nicks = [f"guest{i}" for i in range(5)]
    arrive(server, nicks)
    assert read_joins(irc, 5) == [f"{nick} #lobby" for nick in nicks]


def test_crowd_then_one_leaves_at_once(start_server):
    """One of a crowd who quits in the same moment is seen to join, then to quit, between the others' lines."""
    server = start_server()
    watcher = server.user("watcher")
    nicks = ["alice", "bob", "carol"]
    clients = [server.connect(nick) for nick in nicks]
    for client in clients:
        client.read_prompt()
    with paused(server):
        for client, nick in zip(clients, nicks):
            client.send_line(nick)
        clients[1].send_line("/quit gone already")
    # The server reads the three sockets in one turn, in an order of the
    # kernel's: whatever it is, bob's join is told before his quit and no
    # join line reaches across the quit, and everyone's join is told once.
    lines = []
    while len(lines) < 6 and not (any("quit" in line for line in lines)
                                  and sum(_people(line) for line in lines
                                          if " joined " in line) == 3):
        lines.append(watcher.read_line())
    quit_at = lines.index("*** bob quit (Quit: gone already)")
    joins = [(at, line) for at, line in enumerate(lines) if " joined #lobby" in line]
    assert sum(_people(line) for _, line in joins) == 3, lines
    assert [at for at, line in joins if join_announcement("bob").search(f"{line}\r\n".encode())
            ] < [quit_at], lines
    for nick in ("alice", "carol"):
        assert len([line for _, line in joins
                    if join_announcement(nick).search(f"{line}\r\n".encode())]) == 1, lines


def test_flood_of_sign_ins_at_once(start_server):
    """Forty sign-ins in one moment cost the room's members one line, and every one of them is in the room."""
    server = start_server("--max-per-address", "100")
    watcher = server.user("watcher")
    nicks = [f"n{i}" for i in range(40)]
    arrive(server, nicks)
    # Nearly always one line; the kernel may hand the last few nicknames
    # over a turn later, and then they make a second line.
    assert read_crowd(watcher, len(nicks))[0].startswith("*** n0")
    watcher.send_line("/who")
    who = watcher.read_until("\r\n", timeout=TIMEOUT).decode()
    assert "In #lobby (41)" in who
    assert all(nick in who for nick in nicks)
