"""
Helpers for the end-to-end tests: a real ``twistd -n chat`` process, and
small blocking clients (plain sockets, TLS sockets and child processes such
as ``nc`` or ``openssl s_client``) whose every read has a deadline.

Nothing here loops without a bound: each wait has a deadline, and each
failure says what was received so far.
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import socket
import ssl
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Pattern, Sequence

REPO = Path(__file__).resolve().parent.parent
TWISTD = os.path.join(os.path.dirname(sys.executable), "twistd")
HOST = "127.0.0.1"

# How long a client waits for something it expects.
TIMEOUT = 5.0
# How long twistd may take to start listening.
STARTUP_TIMEOUT = 20.0
# How long twistd may take to stop after SIGTERM before it is killed.
STOP_TIMEOUT = 5.0

# The nickname prompt, to the end of its line.
PROMPT = re.compile(rb"\*\*\* Choose a nickname[^\n]*\n")


def free_ports(count: int = 1) -> list[int]:
    """
    Return C{count} distinct TCP ports that were free on 127.0.0.1 a moment
    ago.  (Someone may take one before twistd binds it; L{ChatServer} retries.)
    """
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def twistd_env(pythonpath: str | os.PathLike = REPO) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(pythonpath)
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PYTHONSTARTUP", None)
    return env


def run_twistd(args: Sequence[str], cwd: Path, timeout: float = 30.0,
               pythonpath: str | os.PathLike = REPO) -> subprocess.CompletedProcess:
    """
    Run twistd to completion (for options that make it exit), with stdout and
    stderr merged into C{.stdout} as text.
    """
    return subprocess.run(
        [TWISTD, *args], cwd=cwd, env=twistd_env(pythonpath),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        timeout=timeout, text=True, errors="replace",
    )


def is_listening(port: int, timeout: float = 0.5) -> bool:
    """
    Whether something accepts connections on C{port}.  A connection to a
    port nobody listens on can still succeed when the kernel happens to
    pick that same port as its source (a TCP self-connect, possible since
    test ports come from the ephemeral range): that is not a listener.
    """
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            return sock.getsockname() != sock.getpeername()
    except OSError:
        return False


# What must never reach a terminal from another user: C0 controls (other than
# the CRLF that ends each line), DEL, C1 controls, bidi embeddings, overrides,
# isolates and marks, zero-width spaces, and line and paragraph separators.
_UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
                     "\u200b\u200e\u200f\u061c\ufeff\u2028\u2029]")


def assert_terminal_safe(received: bytes) -> None:
    """C{received} is UTF-8 whose only control characters are line endings."""
    text = received.decode("utf-8")  # strict: the server only sends UTF-8
    assert "\r" not in text.replace("\r\n", ""), "a bare CR"
    unsafe = _UNSAFE.findall(text.replace("\r\n", ""))
    assert not unsafe, f"unsafe characters reached the client: {unsafe!r}"


# Reading with deadlines

def join_announcement(nick: str, room: str = "#lobby") -> Pattern[bytes]:
    """
    A line chat announcement of C{nick} joining C{room}, alone or with others
    who joined in the same turn (C{*** alice, bob and carol joined #lobby}).
    """
    name = re.escape(nick.encode())
    return re.compile(rb"^\*\*\* (?:[^\r\n]*(?:, | and ))?" + name
                      + rb"(?:(?:, | and )[^\r\n]*)? joined " + re.escape(room.encode())
                      + rb"\r\n", re.M)


class Closed(Exception):
    """The other end closed the stream."""


class Reader:
    """
    A byte stream read with deadlines.  Subclasses implement C{_recv}.

    @ivar transcript: everything received so far, consumed or not.
    """

    name = "stream"

    def __init__(self) -> None:
        self.buffer = b""
        self.transcript = b""
        self.closed = False

    def _recv(self, timeout: float) -> bytes:
        """
        Return some bytes, or C{b""} at the end of the stream; raise
        L{TimeoutError} when nothing arrived within C{timeout} seconds.
        """
        raise NotImplementedError

    def _fill(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        if self.closed:
            raise Closed
        data = self._recv(remaining)
        if not data:
            self.closed = True
            raise Closed
        self.buffer += data
        self.transcript += data

    def read_until(self, expected: bytes | str | Pattern[bytes],
                   timeout: float = TIMEOUT) -> bytes:
        """
        Read until C{expected} (bytes, text or a compiled bytes pattern)
        arrives; consume and return everything up to the end of it.
        """
        if isinstance(expected, str):
            expected = expected.encode("utf-8")
        deadline = time.monotonic() + timeout
        while True:
            if isinstance(expected, bytes):
                at = self.buffer.find(expected)
                end = at + len(expected) if at >= 0 else -1
            else:
                match = expected.search(self.buffer)
                end = match.end() if match else -1
            if end >= 0:
                found, self.buffer = self.buffer[:end], self.buffer[end:]
                return found
            try:
                self._fill(deadline)
            except TimeoutError:
                raise AssertionError(
                    f"{self.name}: {expected!r} did not arrive within {timeout} s; "
                    f"unread: {self.buffer!r}") from None
            except Closed:
                raise AssertionError(
                    f"{self.name}: closed before {expected!r} arrived; "
                    f"unread: {self.buffer!r}") from None

    def read_line(self, timeout: float = TIMEOUT) -> str:
        """Read one line and return it as text, without its line ending."""
        return self.read_until(b"\n", timeout).rstrip(b"\r\n").decode("utf-8", "replace")

    def read_prompt(self, timeout: float = TIMEOUT) -> bytes:
        """Read up to the end of the next nickname prompt."""
        return self.read_until(PROMPT, timeout)

    def expect(self, *lines: str, timeout: float = TIMEOUT) -> None:
        """Read the next lines, which must be exactly C{lines}."""
        for line in lines:
            got = self.read_line(timeout)
            assert got == line, f"{self.name}: expected {line!r}, got {got!r}"

    def read_until_closed(self, timeout: float = TIMEOUT) -> bytes:
        """
        Read until the other end closes; return everything unread.  Fails if
        the stream is still open after C{timeout} seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._fill(deadline)
            except Closed:
                rest, self.buffer = self.buffer, b""
                return rest
            except TimeoutError:
                raise AssertionError(
                    f"{self.name}: still open after {timeout} s; unread: {self.buffer!r}"
                ) from None

    def text(self) -> str:
        """Everything received so far, as text."""
        return self.transcript.decode("utf-8", "replace")


class Client(Reader):
    """
    A blocking socket client (plain or TLS) of the line front end.
    """

    def __init__(self, sock: socket.socket, name: str = "client") -> None:
        super().__init__()
        self.sock = sock
        self.name = name

    @classmethod
    def connect(cls, port: int, name: str = "client", tls: ssl.SSLContext | None = None,
                rcvbuf: int | None = None, timeout: float = TIMEOUT) -> "Client":
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if rcvbuf is not None:
                # Before connecting, so that the window offered is small.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.settimeout(timeout)
            sock.connect((HOST, port))
            if tls is not None:
                sock = tls.wrap_socket(sock, server_hostname=HOST)
        except BaseException:
            sock.close()
            raise
        return cls(sock, name)

    def _recv(self, timeout: float) -> bytes:
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError from None
        except (ConnectionResetError, BrokenPipeError):
            return b""
        except ssl.SSLError as problem:
            # An abrupt end of a TLS stream (no close_notify) counts as its end.
            if "EOF" in str(problem):
                return b""
            raise

    def send(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.settimeout(TIMEOUT)
        self.sock.sendall(data)

    def send_line(self, line: bytes | str, ending: bytes = b"\n") -> None:
        if isinstance(line, str):
            line = line.encode("utf-8")
        self.send(line + ending)

    def sign_in(self, nick: str, room: str = "#lobby", timeout: float = TIMEOUT) -> bytes:
        """
        Read the greeting, choose C{nick}, and read up to the end of the
        welcome (the default room's topic line).  Return what was read.
        """
        got = self.read_prompt(timeout)
        self.send_line(nick)
        got += self.read_until(f"*** Hello {nick}! Type /help for the commands.\r\n",
                               timeout)
        got += self.read_until(
            re.compile(rb"\*\*\* (" + re.escape(room.encode()) + rb" has no topic\."
                       rb"|Topic of " + re.escape(room.encode()) + rb": .*)\r\n"),
            timeout)
        return got

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def reset(self) -> None:
        """Close with a TCP RST (SO_LINGER on, zero timeout), not a FIN."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


class ProcessClient(Reader):
    """
    A child process (``nc``, ``openssl s_client``) used as a chat client:
    lines go to its standard input, and its standard output is read with
    deadlines.  Its standard error is kept apart, in a file.
    """

    def __init__(self, argv: Sequence[str], name: str, stderr_path: Path) -> None:
        super().__init__()
        self.name = name
        self.argv = list(argv)
        self.stderr_path = stderr_path
        self._stderr = open(stderr_path, "wb")
        self.process = subprocess.Popen(
            self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._stderr, bufsize=0,
        )
        self._selector = selectors.DefaultSelector()
        self._selector.register(self.process.stdout, selectors.EVENT_READ)

    def _recv(self, timeout: float) -> bytes:
        if not self._selector.select(timeout):
            raise TimeoutError
        return os.read(self.process.stdout.fileno(), 65536)

    def send(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def send_line(self, line: bytes | str) -> None:
        if isinstance(line, str):
            line = line.encode("utf-8")
        self.send(line + b"\n")

    def wait(self, timeout: float = TIMEOUT) -> int:
        return self.process.wait(timeout)

    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def stop(self) -> None:
        process = self.process
        try:
            process.stdin.close()
        except OSError:
            pass
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_TIMEOUT)
        self._selector.close()
        process.stdout.close()
        self._stderr.close()


# The server

class ServerFailed(Exception):
    pass


class ChatServer:
    """
    A ``twistd -n chat`` process listening on 127.0.0.1: C{plain} line-chat
    ports, C{tls} TLS line-chat ports, C{irc} IRC ports, and C{web} and
    C{web_tls} web ports (HTTP and WebSocket, plain and TLS), with extra
    C{options}.  Its output (log and errors) goes to C{directory}/twistd.out.
    """

    def __init__(self, directory: Path, options: Sequence[str] = (), plain: int = 1,
                 tls: int = 0, irc: int = 0, certificate: tuple[Path, Path] | None = None,
                 pythonpath: str | os.PathLike = REPO, web: int = 0,
                 web_tls: int = 0, environment: dict[str, str] | None = None) -> None:
        if (tls or web_tls) and certificate is None:
            raise ValueError("a TLS port needs a certificate")
        self.directory = directory
        self.options = list(options)
        self.plain_count = plain
        self.tls_count = tls
        self.irc_count = irc
        self.web_count = web
        self.web_tls_count = web_tls
        self.certificate = certificate
        self.pythonpath = pythonpath
        # Extra environment variables for twistd (NOTIFY_SOCKET, say).
        self.environment = dict(environment or {})
        self.log_path = directory / "twistd.out"
        self.process: subprocess.Popen | None = None
        self.plain_ports: list[int] = []
        self.tls_ports: list[int] = []
        self.irc_ports: list[int] = []
        # The web front end (--web): HTTP and WebSocket, plain and TLS.
        self.web_ports: list[int] = []
        self.web_tls_ports: list[int] = []
        self.clients: list[Reader] = []
        self.attempts = 0
        self.stopped_on_purpose = False

    # Life

    def start(self, attempts: int = 5) -> "ChatServer":
        self.directory.mkdir(parents=True, exist_ok=True)
        for self.attempts in range(1, attempts + 1):
            ports = free_ports(self.plain_count + self.tls_count + self.irc_count
                               + self.web_count + self.web_tls_count)
            self.plain_ports = ports[:self.plain_count]
            self.tls_ports = ports[self.plain_count:self.plain_count + self.tls_count]
            lines = self.plain_count + self.tls_count + self.irc_count
            self.irc_ports = ports[self.plain_count + self.tls_count:lines]
            self.web_ports = ports[lines:lines + self.web_count]
            self.web_tls_ports = ports[lines + self.web_count:]
            self._spawn()
            if self._wait_ready():
                return self
            # It exited because a port was taken meanwhile: try other ports.
        raise ServerFailed(f"twistd could not bind free ports in {attempts} attempts:\n"
                           + self.log())

    def _argv(self) -> list[str]:
        argv = [TWISTD, "-n", "--pidfile=", "chat"]
        for port in self.plain_ports:
            argv += ["--port", f"tcp:{port}:interface={HOST}"]
        for port in self.tls_ports:
            key, cert = self.certificate
            argv += ["--port",
                     f"ssl:{port}:privateKey={key}:certKey={cert}:interface={HOST}"]
        for port in self.irc_ports:
            argv += ["--irc", f"tcp:{port}:interface={HOST}"]
        for port in self.web_ports:
            argv += ["--web", f"tcp:{port}:interface={HOST}"]
        for port in self.web_tls_ports:
            key, cert = self.certificate
            argv += ["--web",
                     f"ssl:{port}:privateKey={key}:certKey={cert}:interface={HOST}"]
        return argv + self.options

    def _spawn(self) -> None:
        with open(self.log_path, "ab") as out:
            out.write(f"\n=== {' '.join(self._argv())}\n".encode())
            out.flush()
            self.process = subprocess.Popen(
                self._argv(), cwd=self.directory,
                env={**twistd_env(self.pythonpath), **self.environment},
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._log_start = self.log_path.stat().st_size

    def _wait_ready(self) -> bool:
        """
        Wait until every port accepts a connection.  Return False if twistd
        exited because a port was already in use; raise for anything else.
        """
        deadline = time.monotonic() + STARTUP_TIMEOUT
        waiting = set(self.ports)
        probes = 0
        while waiting:
            if self.process.poll() is not None:
                log = self.current_log()
                if "already in use" in log:
                    return False
                raise ServerFailed(
                    f"twistd exited with {self.process.returncode} at start-up:\n"
                    + self.log())
            if time.monotonic() > deadline:
                raise ServerFailed(f"twistd did not listen on {sorted(waiting)} within "
                                   f"{STARTUP_TIMEOUT} s:\n" + self.log())
            for port in list(waiting):
                if is_listening(port, timeout=0.5):
                    waiting.discard(port)
                    # A probe of a web port is an HTTP connection, which
                    # logs nothing and counts against no limit.
                    if port not in self.web_ports and port not in self.web_tls_ports:
                        probes += 1
            if waiting:
                time.sleep(0.05)
        # The probes are connections too: wait until the server has seen them
        # go, so that they count against no limit.
        self.wait_for_log(lambda log: log.count("Disconnected ") >= probes,
                          f"{probes} probe connections to be closed",
                          timeout=STARTUP_TIMEOUT)
        return True

    def stop(self) -> None:
        """
        Close the clients, then SIGTERM twistd, and SIGKILL it if it is still
        running after L{STOP_TIMEOUT} seconds.
        """
        for client in self.clients:
            if isinstance(client, ProcessClient):
                client.stop()
            else:
                client.close()
        self.clients.clear()
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(STOP_TIMEOUT)

    def terminate(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM twistd and wait for it to exit; return its exit status."""
        self.stopped_on_purpose = True
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def start_again(self, attempts: int = 5) -> "ChatServer":
        """
        Start twistd again on the same ports after L{terminate}, as a server
        that is restarted would be.
        """
        for _ in range(attempts):
            self._spawn()
            if self._wait_ready():
                self.stopped_on_purpose = False
                return self
            time.sleep(0.2)
        raise ServerFailed("twistd could not bind its ports again:\n" + self.log())

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # Looking at it

    @property
    def ports(self) -> list[int]:
        return (self.plain_ports + self.tls_ports + self.irc_ports
                + self.web_ports + self.web_tls_ports)

    @property
    def port(self) -> int:
        return self.plain_ports[0]

    @property
    def tls_port(self) -> int:
        return self.tls_ports[0]

    def log(self) -> str:
        """Everything twistd printed, through every start attempt."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def current_log(self) -> str:
        """What the current twistd process printed."""
        with open(self.log_path, "rb") as log:
            log.seek(self._log_start)
            return log.read().decode("utf-8", "replace")

    def wait_for_log(self, condition, what: str, timeout: float = TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        while True:
            log = self.current_log()
            if condition(log):
                return log
            if time.monotonic() > deadline:
                raise AssertionError(f"the server log did not show {what} within "
                                     f"{timeout} s:\n{log}")
            time.sleep(0.02)

    # Clients

    def connect(self, name: str = "client", tls: ssl.SSLContext | None = None,
                port: int | None = None, **options) -> Client:
        if port is None:
            port = self.tls_port if tls is not None else self.port
        client = Client.connect(port, name=name, tls=tls, **options)
        self.clients.append(client)
        return client

    def user(self, nick: str, tls: ssl.SSLContext | None = None,
             room: str = "#lobby", **options) -> Client:
        """Connect and sign in as C{nick}."""
        client = self.connect(nick, tls=tls, **options)
        client.sign_in(nick, room=room)
        return client

    def users(self, *nicks: str, room: str = "#lobby") -> list[Client]:
        """
        Sign in each of C{nicks} in turn; each reads the others' join notices,
        so that nothing is left unread.
        """
        signed_in: list[Client] = []
        for nick in nicks:
            client = self.user(nick, room=room)
            for earlier in signed_in:
                earlier.read_until(f"*** {nick} joined {room}\r\n")
            signed_in.append(client)
        return signed_in

    def spawn(self, argv: Sequence[str], name: str) -> ProcessClient:
        """Start a process client (nc, openssl) that is stopped with the server."""
        client = ProcessClient(argv, name, self.directory / f"{name}.stderr")
        self.clients.append(client)
        return client


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """
    Make a self-signed certificate for 127.0.0.1 and localhost; return the
    paths of its private key and of the certificate (PEM).
    """
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address(HOST)),
        ]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    key_path = directory / "key.pem"
    cert_path = directory / "cert.pem"
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


def client_tls_context(cert_path: Path) -> ssl.SSLContext:
    """A client context that trusts exactly the test certificate."""
    context = ssl.create_default_context(cafile=str(cert_path))
    return context
