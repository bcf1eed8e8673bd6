"""
End to end: one memory for every front end, across a real restart, and a
data directory that cannot be used.

A line user (raw socket), an IRC client (raw socket, every history
capability) and a browser (Chromium through Playwright) each say something
in #lobby of a real ``twistd -n chat``; twistd is stopped and started again
on the same data directory; then each front end finds all three messages, in
the same order, with the same ids.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import stat
import subprocess
import time

import pytest

from browser import CHROMIUM, expect, sync_playwright
from server import HOST, TIMEOUT, free_ports, is_listening, run_twistd
from test_e2e_twistd import assert_failed_clearly

CAPS = "batch server-time message-tags draft/chathistory"

class RawIRC:
    """An IRC client on a raw socket; every read has a deadline."""

    def __init__(self, server, nick: str, caps: str = "") -> None:
        self.nick = nick
        self.client = server.connect(f"irc-{nick}", port=server.irc_ports[0])
        if caps:
            self.send("CAP LS 302")
            self.send(f"CAP REQ :{caps}")
        self.send(f"NICK {nick}")
        self.send(f"USER {nick} 0 * :{nick}")
        if caps:
            self.send("CAP END")
        self.until(rf":\S+ (376|422) {nick} ")

    def send(self, line: str) -> None:
        self.client.send_line(line, ending=b"\r\n")

    def until(self, pattern: str) -> list[str]:
        """Lines up to and including the first whose body (tags aside) matches."""
        lines = []
        deadline = time.monotonic() + TIMEOUT
        while True:
            raw = self.client.read_until(b"\r\n", max(0.01, deadline - time.monotonic()))
            lines.append(raw[:-2].decode("utf-8"))
            if re.match(pattern, re.sub(r"^@\S+ ", "", lines[-1])):
                return lines


def said(lines: list[str]) -> list[tuple[str, str]]:
    """(msgid, text) of each PRIVMSG among C{lines}."""
    found = []
    for line in lines:
        match = re.match(r"@(\S+) :\S+ PRIVMSG #lobby :(.*)$", line)
        if match:
            tags = dict(tag.partition("=")[::2] for tag in match.group(1).split(";"))
            found.append((tags.get("msgid"), match.group(2)))
    return found


@pytest.mark.skipif(sync_playwright is None or not os.access(CHROMIUM, os.X_OK),
                    reason="needs playwright and Debian's chromium (sh tests/run.sh)")
def test_every_front_end_finds_the_same_history_after_a_restart(start_server, open_page):
    """What a line user, an IRC client and a browser said survives a restart, and each front end then reads all of it, in order, with the ids seen live."""
    server = start_server(irc=1, web=1)
    liz = server.user("liz")
    ann = RawIRC(server, "ann", CAPS)
    ann.send("JOIN #lobby")
    ann.until(r":\S+ 366 ")
    liz.send_line("from the line")
    live = said(ann.until(r":liz!\S+ PRIVMSG #lobby :from the line$"))
    ann.send("PRIVMSG #lobby :from irc")
    liz.read_until("[#lobby] <ann> from irc\r\n")
    web = open_page(server.web_ports[0]).sign_in("web")
    web.say("from the web")
    live += said(ann.until(r":web!\S+ PRIVMSG #lobby :from the web$"))
    liz.read_until("[#lobby] <web> from the web\r\n")
    ann.send("CHATHISTORY LATEST #lobby * 10")
    before = said(ann.until(r":\S+ BATCH -"))

    assert server.terminate() in (0, -15)
    server.start_again()

    # IRC, asking for history itself (a room's history is its members'): the
    # same messages and ids.
    ann = RawIRC(server, "ann", CAPS)
    ann.send("JOIN #lobby")
    ann.until(r":\S+ 366 ")
    ann.send("CHATHISTORY LATEST #lobby * 10")
    after = said(ann.until(r":\S+ BATCH -"))
    assert [text for _, text in after] == ["from the line", "from irc", "from the web"]
    assert after == before
    assert [msgid for msgid, text in after if text != "from irc"] == [
        msgid for msgid, _ in live]

    # IRC, without history capabilities: replayed on joining.
    old = RawIRC(server, "old")
    old.send("JOIN #lobby")
    replayed = old.until(r":web!\S+ PRIVMSG #lobby :from the web$")
    assert [line.split(" :", 1)[-1] for line in replayed if " PRIVMSG " in line] == [
        "from the line", "from irc", "from the web"]

    # Line chat: replayed on signing in.
    neo = server.connect("neo")
    neo.sign_in("neo")
    neo.read_until("*** 3 earlier messages in #lobby")
    neo.read_until("<liz> from the line\r\n")
    neo.read_until("<ann> from irc\r\n")
    neo.read_until("<web> from the web\r\n")
    neo.read_until("*** End of earlier messages.\r\n")

    # The browser: a new page opens #lobby with its history.
    page = open_page(server.web_ports[0]).sign_in("web2")
    expect(page.log.locator(".line.msg .text")).to_have_text(
        ["from the line", "from irc", "from the web"])

    # New events get ids above every stored one.
    neo.send_line("after the restart")
    newer = said(ann.until(r":neo!\S+ PRIVMSG #lobby :after the restart$"))
    assert int(newer[-1][0]) > max(int(msgid) for msgid, _ in after)


# A data directory that cannot be used

def _run(tmp_path, *options):
    [port] = free_ports()
    result = run_twistd(["-n", "--pidfile=", "chat", "--port", f"tcp:{port}:interface={HOST}",
                         *options], tmp_path)
    assert not is_listening(port)
    return result


def test_data_dir_that_is_a_file(tmp_path):
    """A --data-dir that is a file stops twistd with one line naming the directory."""
    (tmp_path / "taken").write_text("not a directory")
    line = assert_failed_clearly(_run(tmp_path, "--data-dir", "taken/data"), "chatservice:")
    assert "data directory" in line and "taken" in line


def test_database_that_is_not_a_database(tmp_path):
    """A chatservice.sqlite3 holding garbage stops twistd with one line, and is left as it was."""
    data = tmp_path / "chatservice-data"
    data.mkdir()
    garbage = os.urandom(8192)
    (data / "chatservice.sqlite3").write_bytes(garbage)
    line = assert_failed_clearly(_run(tmp_path), "chatservice:")
    assert "chatservice.sqlite3" in line
    assert (data / "chatservice.sqlite3").read_bytes() == garbage


def test_database_from_a_newer_version(tmp_path):
    """A database a newer chatservice wrote stops twistd with one line, and is left as it was."""
    _run(tmp_path, "--help")  # nothing created by --help
    assert not (tmp_path / "chatservice-data").exists()
    data = tmp_path / "chatservice-data"
    data.mkdir()
    database = sqlite3.connect(data / "chatservice.sqlite3")
    database.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    database.execute("INSERT INTO schema_version VALUES (999)")
    database.commit()
    database.close()
    line = assert_failed_clearly(_run(tmp_path), "chatservice:")
    assert "newer" in line
    database = sqlite3.connect(data / "chatservice.sqlite3")
    assert database.execute("SELECT version FROM schema_version").fetchall() == [(999,)]
    database.close()


def test_data_dir_created_private(server):
    """The data directory twistd creates is readable by its owner only."""
    data = server.directory / "chatservice-data"
    assert (data / "chatservice.sqlite3").exists()
    assert stat.S_IMODE(data.stat().st_mode) == 0o700


# Backing up, as README says

def test_online_backup_with_sqlite3_restores_history(start_server, tmp_path):
    """README's backup (sqlite3's .backup while the server runs) holds the history; a server started on the copy serves it."""
    sqlite3_cli = shutil.which("sqlite3")
    assert sqlite3_cli, "sqlite3 is not installed (tests/run.sh installs it)"
    server = start_server()
    liz = server.user("liz")
    liz.send_line("/topic kept in the backup")
    liz.read_until("*** You set the topic of #lobby")
    liz.send_line("before the backup")
    liz.send_line("/history 5")
    liz.read_until("*** End of history.\r\n")  # read after the message: it is written
    backup = tmp_path / "backup.sqlite3"
    database = server.directory / "chatservice-data" / "chatservice.sqlite3"
    done = subprocess.run([sqlite3_cli, str(database), f".backup '{backup}'"],
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    liz.send_line("after the backup")

    restored = tmp_path / "restored"
    (restored / "chatservice-data").mkdir(parents=True)
    shutil.copy(backup, restored / "chatservice-data" / "chatservice.sqlite3")
    other = start_server("--data-dir", str(restored / "chatservice-data"))
    neo = other.user("neo")
    neo.send_line("/history 10")
    shown = neo.read_until("*** End of history.\r\n").decode()
    assert "<liz> before the backup" in shown and "after the backup" not in shown
    neo.send_line("/topic")
    neo.read_until("*** Topic of #lobby: kept in the backup (set by liz)\r\n")
