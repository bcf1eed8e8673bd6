"""
Helpers for the end-to-end tests that drive the IRC front end with real,
independent IRC clients (tests/test_e2e_irc_clients.py):

- L{LibraryClient}: one connection made with jaraco's C{irc} library from
  PyPI, driven synchronously (C{Reactor.process_once}) so that every wait has
  a deadline;
- L{Tmux}: a private tmux server running a terminal program (irssi), typed
  into with C{send-keys} and read with C{capture-pane}.

As in tests/server.py, nothing loops without a bound, and each failed wait
says what was seen so far.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import shutil
import ssl
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable, Pattern, Sequence

import irc.client
import irc.connection

from server import HOST, TIMEOUT

# How often a waiting client looks at its socket, and a tmux pane at its screen.
PUMP_INTERVAL = 0.05
POLL_INTERVAL = 0.2
# How long a terminal program may take to show something (it renders at its own pace).
SCREEN_TIMEOUT = 15.0


# jaraco's irc library

def _nick(source) -> str | None:
    """The nickname in an event's source (a NickMask, or a server name)."""
    if source is None:
        return None
    return getattr(source, "nick", str(source))


class LibraryClient:
    """
    One IRC connection through the C{irc} library, with its own reactor.

    Every event the library produces is kept, in order, in C{events}, and
    every line the server sent in C{raw}.  L{expect} waits for the next
    matching event after the previous one it found (as L{server.Reader.read_until}
    reads past what it skips); L{seen} searches all of them.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.reactor = irc.client.Reactor()
        self.events: list[irc.client.Event] = []
        self.raw: list[str] = []
        self._cursor = 0
        self.reactor.add_global_handler("all_events", self._record, -100)
        self.connection = self.reactor.server()

    def _record(self, connection, event) -> None:
        if event.type == "all_raw_messages":
            self.raw.append(event.arguments[0])
        else:
            self.events.append(event)

    @classmethod
    def connect(cls, port: int, nick: str, password: str | None = None,
                tls: ssl.SSLContext | None = None, realname: str | None = None,
                timeout: float = TIMEOUT) -> "LibraryClient":
        """
        Connect to C{port} as C{nick} (the library sends PASS, NICK and USER
        at once); with C{tls}, through the library's connect factory wrapping
        the socket with that context.  A refused connection is retried until
        C{timeout}: a listener the test added itself may not be up yet.
        """
        client = cls(nick)
        if tls is not None:
            factory = irc.connection.Factory(
                wrapper=functools.partial(tls.wrap_socket, server_hostname=HOST))
        else:
            factory = irc.connection.Factory()
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.connection.connect(HOST, port, nick, password=password,
                                          username=nick,
                                          ircname=realname or f"{nick} via irc library",
                                          connect_factory=factory)
                return client
            except irc.client.ServerConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(PUMP_INTERVAL)

    # Reading

    def pump(self, timeout: float = PUMP_INTERVAL) -> None:
        """Let the library read and handle what the server sent, waiting up to C{timeout}."""
        sock = self.connection.socket
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            # Decrypted bytes wait inside the SSL object, where select() cannot see them.
            self.connection.process_data()
        else:
            self.reactor.process_once(timeout)

    def wait_for(self, predicate: Callable[[irc.client.Event], bool], what: str,
                 timeout: float = TIMEOUT) -> irc.client.Event:
        """
        Wait for the first event after the last one found that satisfies
        C{predicate}; return it.
        """
        deadline = time.monotonic() + timeout
        while True:
            for index in range(self._cursor, len(self.events)):
                event = self.events[index]
                if predicate(event):
                    self._cursor = index + 1
                    return event
            self._cursor = len(self.events)
            if time.monotonic() > deadline:
                recent = "\n".join(self.raw[-25:])
                raise AssertionError(f"{self.name}: {what} did not arrive within "
                                     f"{timeout} s; the server's last lines:\n{recent}")
            self.pump()

    @staticmethod
    def matches(event: irc.client.Event, type: str, source: str | None = None,
                target: str | None = None, arguments: Sequence[str] | None = None) -> bool:
        return (event.type == type
                and (source is None or _nick(event.source) == source)
                and (target is None or event.target == target)
                and (arguments is None or list(event.arguments) == list(arguments)))

    def expect(self, type: str, source: str | None = None, target: str | None = None,
               arguments: Sequence[str] | None = None,
               timeout: float = TIMEOUT) -> irc.client.Event:
        """
        Wait for the next event of C{type} (the library's name: pubmsg,
        privmsg, action, join, part, quit, nick, topic, currenttopic, namreply,
        welcome...) from C{source} (a nickname) to C{target} with exactly
        C{arguments}; C{None} matches anything.
        """
        what = (f"{type} from {source or 'anyone'} to {target or 'anything'}"
                + (f" with {list(arguments)!r}" if arguments is not None else ""))
        return self.wait_for(lambda e: self.matches(e, type, source, target, arguments),
                             what, timeout)

    def seen(self, type: str, source: str | None = None, target: str | None = None,
             arguments: Sequence[str] | None = None) -> list[irc.client.Event]:
        """Every event received so far that matches, read or not."""
        return [e for e in self.events if self.matches(e, type, source, target, arguments)]

    def settle(self, duration: float = 0.3) -> None:
        """Handle whatever arrives during C{duration} seconds."""
        deadline = time.monotonic() + duration
        while time.monotonic() < deadline:
            self.pump(min(PUMP_INTERVAL, max(deadline - time.monotonic(), 0)))

    # Common steps

    def register(self, timeout: float = TIMEOUT) -> irc.client.Event:
        """Wait for the welcome (001) and the end of the MOTD (376 or 422)."""
        welcome = self.expect("welcome", timeout=timeout)
        self.wait_for(lambda e: e.type in ("endofmotd", "nomotd"), "the end of the MOTD",
                      timeout)
        return welcome

    def join(self, room: str, timeout: float = TIMEOUT) -> list[str]:
        """
        Join C{room}; wait for the JOIN and the end of NAMES.  Return the
        names listed, with their prefixes.
        """
        self.connection.join(room)
        self.expect("join", source=self.connection.get_nickname(), target=room,
                    timeout=timeout)
        start = self._cursor
        self.expect("endofnames", timeout=timeout)
        listed: list[str] = []
        for event in self.events[start:self._cursor]:
            if event.type == "namreply" and event.arguments[1] == room:
                listed += event.arguments[2].split()
        return listed

    def close(self) -> None:
        try:
            if self.connection.is_connected():
                self.connection.disconnect("test over")
        except Exception:  # noqa: BLE001 - closing after a failure must not mask it
            pass


# tmux and terminal programs

class TmuxGone(Exception):
    """The tmux server (and with it the program) is gone."""


class Tmux:
    """
    A private tmux server (its own socket, no user configuration) running one
    program in a detached session of C{width}x{height}.  The pane stays after
    the program exits, so that its last screen can still be read.
    """

    session = "main"

    def __init__(self, directory: Path, width: int = 200, height: int = 50) -> None:
        self.tmux = shutil.which("tmux") or "tmux"
        self.directory = directory
        self.width = width
        self.height = height
        # A UNIX socket path must be short; a test's tmp_path may not be.
        self._socket_dir = tempfile.mkdtemp(prefix="tmux-e2e-")
        self.socket = os.path.join(self._socket_dir, "s")
        self.config = directory / "tmux.conf"
        self.config.write_text("set -g remain-on-exit on\n"
                               "set -g history-limit 5000\n"
                               "set -g default-terminal screen\n"
                               "set -g status off\n")
        self.started = False
        self.last_screen = ""

    def _run(self, *args: str, check: bool = True, env: dict | None = None) \
            -> subprocess.CompletedProcess:
        return subprocess.run([self.tmux, "-u", "-S", self.socket, "-f", str(self.config),
                               *args],
                              capture_output=True, text=True, errors="replace",
                              timeout=TIMEOUT, check=check, env=env,
                              stdin=subprocess.DEVNULL)

    def start(self, argv: Sequence[str], env: dict[str, str]) -> None:
        """Start C{argv} in the session, with exactly the environment C{env}."""
        self._run("new-session", "-d", "-s", self.session, "-x", str(self.width),
                  "-y", str(self.height), shlex.join(argv), env=env)
        self.started = True

    def send_line(self, text: str) -> None:
        """Type C{text} (literally, not as key names), then Enter."""
        self._run("send-keys", "-t", self.session, "-l", text)
        self._run("send-keys", "-t", self.session, "Enter")

    def screen(self, history: int = 2000) -> str:
        """The pane's text, scrollback included, wrapped lines joined."""
        done = self._run("capture-pane", "-p", "-J", "-S", f"-{history}", "-t", self.session,
                         check=False)
        if done.returncode != 0:
            raise TmuxGone(done.stderr.strip())
        self.last_screen = done.stdout
        return done.stdout

    def wait_for(self, expected: str | Pattern[str], timeout: float = SCREEN_TIMEOUT,
                 after: int = 0) -> re.Match:
        """
        Poll the pane every L{POLL_INTERVAL} s until C{expected} (text or a
        pattern) appears in it, at or after offset C{after}; return the match.
        """
        pattern = expected if isinstance(expected, re.Pattern) else re.compile(
            re.escape(expected))
        deadline = time.monotonic() + timeout
        while True:
            try:
                screen = self.screen()
            except TmuxGone as gone:
                raise AssertionError(f"tmux went away while waiting for {pattern.pattern!r} "
                                     f"({gone}); last screen:\n{self.last_screen}") from None
            found = pattern.search(screen, after)
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern.pattern!r} did not appear within {timeout} s; "
                                     f"screen:\n{screen}")
            time.sleep(POLL_INTERVAL)

    def pane_dead(self) -> bool:
        done = self._run("display-message", "-p", "-t", self.session, "#{pane_dead}",
                         check=False)
        return done.returncode != 0 or done.stdout.strip() == "1"

    def wait_exited(self, timeout: float = SCREEN_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not self.pane_dead():
            if time.monotonic() > deadline:
                raise AssertionError(f"the program was still running after {timeout} s; "
                                     f"screen:\n{self.screen()}")
            time.sleep(POLL_INTERVAL)

    def stop(self) -> None:
        """Kill this tmux server (and the program in it), and remove its socket."""
        if self.started:
            self._run("kill-server", check=False)
        shutil.rmtree(self._socket_dir, ignore_errors=True)


IRSSI_CONFIG = """\
settings = {
  core = {
    real_name = "%(nick)s in irssi";
    user_name = "%(nick)s";
    nick = "%(nick)s";
    timestamp_format = "%%H:%%M:%%S";
  };
  "irc/core" = { cmd_queue_speed = "0"; cmds_max_at_once = "100"; };
};
"""


# irssi's own flood queue (cmd_queue_speed, cmds_max_at_once) would hold typed
# commands back by 2.2 s each once registration has used its burst: the
# config turns it off.  An unknown setting in the file would make irssi stop
# and ask whether to remove it, so it names only settings irssi knows.


def irssi_home(directory: Path, nick: str) -> Path:
    """A throwaway irssi home whose config names no network."""
    home = directory / "irssi"
    home.mkdir(parents=True, exist_ok=True)
    (home / "config").write_text(IRSSI_CONFIG % {"nick": nick})
    return home


def terminal_env(home: Path) -> dict[str, str]:
    """A small, predictable environment for a terminal program."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
           "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TERM": "screen"}
    return env
