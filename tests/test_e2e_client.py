"""
End-to-end tests of chatservice-client (chatservice.client) against a real
``twistd -n chat``: piped (plain lines), in a terminal (tmux: the half-typed
line survives a flood), over TLS (verified, refused, --insecure), across a
server restart (reconnection and rejoining), and against hostile or silent
servers.  Every wait has a deadline.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from server import HOST, REPO, TIMEOUT, join_announcement
from irc_client_helpers import Tmux, terminal_env

# How long a client may take to show something (it starts a Python process).
CLIENT_TIMEOUT = 20.0


def client_argv(*args: str) -> list[str]:
    return ["env", f"PYTHONPATH={REPO}", "PYTHONUNBUFFERED=1", sys.executable,
            "-m", "chatservice.client", *args]


def run_client(*args: str, input: str = "", timeout: float = CLIENT_TIMEOUT,
               env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(client_argv(*args), input=input, capture_output=True, text=True,
                          errors="replace", timeout=timeout, env=env)


def run_client_stdin_open(*args: str, timeout: float = CLIENT_TIMEOUT) \
        -> subprocess.CompletedProcess:
    """Run the client with a stdin that stays open (and empty) until it exits."""
    read_end, write_end = os.pipe()
    try:
        with open(read_end, "rb") as stdin:
            return subprocess.run(client_argv(*args), stdin=stdin, capture_output=True,
                                  text=True, errors="replace", timeout=timeout)
    finally:
        os.close(write_end)


def no_escapes(text: str) -> None:
    assert "\x1b" not in text, f"escape sequences in plain output: {text!r}"


# Piped: plain lines

def test_piped_client_prints_plain_lines_and_sends_stdin(server):
    liz = server.user("liz")
    done = run_client("--nick", "ann", f"{HOST}:{server.port}",
                      input="hello from a pipe\n/me waves\n/msg liz psst\n")
    assert done.returncode == 0, done
    no_escapes(done.stdout)
    assert "*** Hello ann! Type /help for the commands.\n" in done.stdout
    assert "[to liz] <ann> psst\n" in done.stdout
    liz.read_until("[#lobby] <ann> hello from a pipe\r\n")
    liz.read_until("[#lobby] * ann waves\r\n")
    liz.read_until("[private] <ann> psst\r\n")
    liz.read_until("*** ann quit")


def test_piped_client_without_nick_takes_it_from_stdin(server):
    done = run_client(f"{HOST}:{server.port}", input="bea\n/who\n")
    assert done.returncode == 0, done
    assert "*** Hello bea!" in done.stdout and "*** In #lobby (1): @bea" in done.stdout


def test_no_color_environment_keeps_a_terminal_plain(server, tmp_path):
    """NO_COLOR: even in a terminal, no colours (the prompt_toolkit line stays)."""
    _need_tmux()
    tmux = Tmux(tmp_path, width=100, height=20)
    try:
        env = terminal_env(tmp_path) | {"NO_COLOR": "1"}
        tmux.start(client_argv("--nick", "ann", f"{HOST}:{server.port}"), env)
        tmux.wait_for("*** Hello ann!", timeout=CLIENT_TIMEOUT)
        colours = tmux._run("capture-pane", "-p", "-e", "-t", tmux.session).stdout
        assert "\x1b[36m" not in colours and "Hello ann" in colours
    finally:
        tmux.stop()


# TLS

def test_tls_is_refused_without_cafile_and_accepted_with_it(start_server, certificate):
    server = start_server(tls=1)
    address = f"127.0.0.1:{server.tls_port}"
    refused = run_client("--tls", "--nick", "ann", address, input="")
    assert refused.returncode == 1, refused
    assert "could not be verified" in refused.stdout and "--cafile" in refused.stdout
    assert "Traceback" not in refused.stdout + refused.stderr

    liz = server.user("liz")
    accepted = run_client("--tls", "--cafile", str(certificate[1]), "--nick", "ann", address,
                          input="over TLS\n")
    assert accepted.returncode == 0, accepted
    assert "*** Hello ann!" in accepted.stdout
    liz.read_until("[#lobby] <ann> over TLS\r\n")

    insecure = run_client("--tls", "--insecure", "--nick", "bob", address, input="")
    assert insecure.returncode == 0, insecure
    assert insecure.stderr.count("\n") == 1 and "--insecure" in insecure.stderr
    assert "*** Hello bob!" in insecure.stdout


def test_tls_to_a_plain_port_and_plain_to_a_tls_port_say_so(start_server):
    server = start_server(tls=1)
    wrong = run_client("--tls", "--insecure", f"{HOST}:{server.port}", input="")
    assert wrong.returncode == 1 and "is it a TLS port?" in wrong.stdout, wrong
    silent = run_client_stdin_open("--timeout", "1", f"{HOST}:{server.tls_port}")
    assert silent.returncode == 1 and "--tls" in silent.stdout, silent


# Reconnection

def test_reconnects_after_a_server_restart_and_rejoins_its_rooms(start_server):
    server = start_server()
    ann = server.spawn(client_argv("--nick", "ann", f"{HOST}:{server.port}"), "ann")
    ann.read_until("*** Hello ann!", timeout=CLIENT_TIMEOUT)
    ann.send_line("/join #extra")
    ann.read_until("*** You joined #extra")
    ann.send_line("/join #other")
    ann.read_until("*** You joined #other")
    ann.send_line("/join #extra")
    ann.read_until("*** You are now talking in #extra.")

    server.terminate()
    ann.read_until(re.compile(rb"--- The connection to \S+ was closed\.\n"))
    ann.read_until("--- Reconnecting to")
    server.start_again()
    ann.read_until("*** Hello ann!", timeout=45)
    ann.read_until("*** You joined #extra")
    liz = server.user("liz")
    liz.send_line("/join #extra")
    liz.read_until("*** You joined #extra; 1 other here.")
    liz.send_line("/who #other")
    liz.read_until(re.compile(rb"\*\*\* In #other \(1\): @?ann\r\n"))
    # The current room is #extra again: what ann says goes there.
    ann.send_line("back again")
    liz.read_until("[#extra] <ann> back again\r\n")
    ann.send_line("/quit")
    assert ann.wait(TIMEOUT) == 0


# Hostile and silent servers

class FakeServer:
    """A TCP server on 127.0.0.1 that sends C{script} to its first client, then closes."""

    def __init__(self, script: bytes | None, hold: float = 0) -> None:
        self.socket = socket.create_server((HOST, 0))
        self.port = self.socket.getsockname()[1]
        self.script = script
        self.hold = hold
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.socket.settimeout(CLIENT_TIMEOUT)
        try:
            connection, _ = self.socket.accept()
        except OSError:
            return
        with connection:
            if self.script is not None:
                connection.sendall(self.script)
            time.sleep(self.hold)

    def close(self) -> None:
        self.socket.close()
        self.thread.join(CLIENT_TIMEOUT)


def test_a_hostile_server_cannot_crash_the_client_or_reach_the_terminal():
    """Invalid UTF-8, escape sequences, bidi overrides, line separators and a huge line from a server reach the terminal cleaned, and the client exits without a traceback."""
    huge = b"x" * 100_000
    fake = FakeServer(b"*** Welcome\r\n\xff\xfebad utf-8\r\n\x1b]0;title\x07\x1b[2Jclear\r\n"
                      b"[#a] <eve> \xe2\x80\xaereversed\r\n"
                      + "[#a] <eve> one\u2028[#a] <admin> two\u200e\r\n".encode()
                      + huge + b"\r\nhalf a li")
    try:
        done = run_client_stdin_open(f"{HOST}:{fake.port}")
    finally:
        fake.close()
    assert done.returncode == 1, done
    assert "Traceback" not in done.stderr, done.stderr
    out = done.stdout
    assert all(ch.isprintable() for line in out.splitlines() for ch in line), repr(out[:500])
    assert "\ufffd\ufffdbad utf-8\n" in out
    assert "\nclear\n" in out  # the escape sequences went whole
    assert "[#a] <eve> one [#a] <admin> two\n" in out  # no forged second line
    assert "[#a] <eve> reversed\n" in out
    assert max(len(line) for line in out.splitlines()) < 5000
    assert "\nhalf a li\n" in out
    assert "--- The connection to" in out and "was closed." in out


def test_a_server_that_never_answers_times_out_clearly():
    fake = FakeServer(None, hold=CLIENT_TIMEOUT)
    try:
        done = run_client_stdin_open("--timeout", "1", f"{HOST}:{fake.port}")
    finally:
        fake.close()
    assert done.returncode == 1, done
    assert f"{HOST}:{fake.port} accepted the connection but said nothing within 1 s" \
        in done.stdout


def test_a_refused_connection_is_a_clear_error(tmp_path):
    with socket.create_server((HOST, 0)) as s:
        port = s.getsockname()[1]
    done = run_client_stdin_open(f"{HOST}:{port}")
    assert done.returncode == 1
    assert done.stdout == f"--- Cannot connect to {HOST}:{port}: Connection refused.\n", done


# In a terminal

def _need_tmux() -> None:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (tests/run.sh installs it)")


@pytest.fixture
def terminals(tmp_path):
    _need_tmux()
    made: list[Tmux] = []

    def make(name: str) -> Tmux:
        directory = tmp_path / name
        directory.mkdir()
        terminal = Tmux(directory, width=100, height=30)
        made.append(terminal)
        return terminal

    yield make
    for terminal in made:
        terminal.stop()


def type_keys(terminal: Tmux, keys: str) -> None:
    terminal._run("send-keys", "-t", terminal.session, "-l", keys)


def test_a_half_typed_line_survives_a_flood(server, terminals, tmp_path):
    """
    ann types slowly in a terminal while bob, another chatservice-client,
    floods the room: every message appears above ann's input line, and the
    half-typed line is intact, then sent whole.
    """
    liz = server.user("liz")
    ann = terminals("ann")
    ann.start(client_argv("--nick", "ann", f"{HOST}:{server.port}"), terminal_env(tmp_path))
    ann.wait_for("*** Hello ann!", timeout=CLIENT_TIMEOUT)
    liz.read_until(join_announcement("ann"))

    bob = terminals("bob")
    bob.start(client_argv("--nick", "bob", f"{HOST}:{server.port}"), terminal_env(tmp_path))
    bob.wait_for("*** Hello bob!", timeout=CLIENT_TIMEOUT)
    ann.wait_for("*** bob joined #lobby", timeout=CLIENT_TIMEOUT)

    half = "a half typed line, é and all"
    flood = [f"flood {n:03d} " + "z" * 30 for n in range(40)]
    for n, word in enumerate(half.split(" ")):
        type_keys(ann, ("" if n == 0 else " ") + word)
        for line in flood[n * 6:(n + 1) * 6]:
            bob.send_line(line)
    for line in flood[36:]:
        bob.send_line(line)
    screen = ann.wait_for(f"[#lobby] <bob> {flood[-1]}", timeout=CLIENT_TIMEOUT).string
    # Everything bob said arrived, in order, above the input line...
    positions = [screen.find(f"<bob> {line}\n") for line in flood]
    assert -1 not in positions and positions == sorted(positions), screen
    # ... which is the last line on the screen, intact.
    input_line = ann.wait_for(re.compile(r"^> .*\S.*$", re.M), timeout=TIMEOUT)
    last = [line for line in ann.screen().splitlines() if line.strip()][-1]
    assert last == f"> {half}", ann.last_screen
    assert input_line.group() == f"> {half}"
    (tmp_path / "capture.txt").write_text(ann.last_screen)

    type_keys(ann, " done")
    ann._run("send-keys", "-t", ann.session, "Enter")
    liz.read_until(f"[#lobby] <ann> {half} done\r\n", timeout=CLIENT_TIMEOUT)

    # Tab completes a nickname seen, and a command.
    # Completion runs asynchronously: wait for each to show before typing on.
    type_keys(ann, "/ms")
    ann._run("send-keys", "-t", ann.session, "Tab")
    ann.wait_for(re.compile(r"^> /msg$", re.M), timeout=TIMEOUT)
    type_keys(ann, " bo")
    ann._run("send-keys", "-t", ann.session, "Tab")
    ann.wait_for(re.compile(r"^> /msg bob$", re.M), timeout=TIMEOUT)
    type_keys(ann, " hi")
    ann._run("send-keys", "-t", ann.session, "Enter")
    bob.wait_for("[private] <ann> hi", timeout=CLIENT_TIMEOUT)

    # Up arrow brings back the last line.
    ann._run("send-keys", "-t", ann.session, "Up")
    ann.wait_for(re.compile(r"^> /msg bob hi$", re.M), timeout=TIMEOUT)
    ann._run("send-keys", "-t", ann.session, "C-u")

    # Ctrl-D leaves, Ctrl-C too, cleanly.
    ann._run("send-keys", "-t", ann.session, "C-d")
    liz.read_until("*** ann quit", timeout=CLIENT_TIMEOUT)
    ann.wait_exited()
    bob._run("send-keys", "-t", bob.session, "C-c")
    liz.read_until("*** bob quit", timeout=CLIENT_TIMEOUT)
    bob.wait_exited()
    for terminal in (ann, bob):
        assert "Traceback" not in terminal.screen(), terminal.last_screen


def test_ctrl_c_in_a_pipe_leaves_cleanly(server):
    """Without a terminal, SIGINT (Ctrl-C) says /quit and exits with 0."""
    liz = server.user("liz")
    ann = server.spawn(client_argv("--nick", "ann", f"{HOST}:{server.port}"), "ann")
    ann.read_until("*** Hello ann!", timeout=CLIENT_TIMEOUT)
    liz.read_until(join_announcement("ann"))
    ann.process.send_signal(signal.SIGINT)
    liz.read_until("*** ann quit")
    assert ann.wait(TIMEOUT) == 0
    assert "Traceback" not in ann.stderr()


class PasswordServer:
    """
    A scripted line server that asks for a nickname and then a password (as
    chatservice will for registered nicknames), and records the answers.
    """

    def __init__(self) -> None:
        self.socket = socket.create_server((HOST, 0))
        self.port = self.socket.getsockname()[1]
        self.received: list[bytes] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.socket.settimeout(CLIENT_TIMEOUT)
        try:
            connection, _ = self.socket.accept()
        except OSError:
            return
        connection.settimeout(CLIENT_TIMEOUT)
        with connection, connection.makefile("rb") as lines:
            try:
                connection.sendall(b"*** Welcome to fake! 0 people online.\r\n"
                                   b"*** Choose a nickname (letters, digits):\r\n")
                self.received.append(lines.readline())
                connection.sendall(b"*** ann is registered. Password:\r\n")
                self.received.append(lines.readline())
                connection.sendall(b"*** Hello ann! Type /help for the commands.\r\n")
                self.received.append(lines.readline())
            except OSError:
                pass
            self.done.set()
            try:
                lines.read()     # until the client closes
            except OSError:
                pass

    def close(self) -> None:
        self.socket.close()
        self.thread.join(CLIENT_TIMEOUT)


def test_a_password_is_read_without_echo(terminals, tmp_path):
    fake = PasswordServer()
    try:
        ann = terminals("ann")
        ann.start(client_argv("--nick", "ann", f"{HOST}:{fake.port}"), terminal_env(tmp_path))
        ann.wait_for("Password:", timeout=CLIENT_TIMEOUT)
        type_keys(ann, "s3cret-word")
        ann.wait_for(re.compile(r"^> \*{11}$", re.M), timeout=TIMEOUT)
        ann._run("send-keys", "-t", ann.session, "Enter")
        ann.wait_for("*** Hello ann!", timeout=CLIENT_TIMEOUT)
        type_keys(ann, "visible")
        ann._run("send-keys", "-t", ann.session, "Enter")
        assert fake.done.wait(CLIENT_TIMEOUT)
        assert fake.received == [b"ann\n", b"s3cret-word\n", b"visible\n"]
        assert "s3cret-word" not in ann.screen()
        # The password is not in the input history either.
        ann._run("send-keys", "-t", ann.session, "Up")
        ann._run("send-keys", "-t", ann.session, "Up")
        ann.wait_for(re.compile(r"^> visible$", re.M), timeout=TIMEOUT)
        assert "s3cret-word" not in ann.screen()
        ann._run("send-keys", "-t", ann.session, "C-u")
        ann._run("send-keys", "-t", ann.session, "C-d")
        ann.wait_exited()
    finally:
        fake.close()


def test_an_unknown_host_is_a_clear_error():
    done = run_client_stdin_open("nosuchhost.invalid")
    assert done.returncode == 1
    # "Cannot connect ...: Name or service not known", or, with no resolver
    # at all, "... did not answer within 10 s".
    assert done.stdout.startswith("--- ") and "nosuchhost.invalid:8000" in done.stdout, done
    assert "Traceback" not in done.stderr


def test_the_installed_command_runs():
    """pip installs the console script chatservice-client beside python."""
    command = shutil.which("chatservice-client", path=os.path.dirname(sys.executable))
    if command is None:
        pytest.skip("chatservice is not installed in this environment (pip install .)")
    done = subprocess.run([command, "--help"], capture_output=True, text=True,
                          timeout=CLIENT_TIMEOUT, stdin=subprocess.DEVNULL)
    assert done.returncode == 0 and "--cafile FILE" in done.stdout, done
