"""
End-to-end tests of reloading without a restart (SIGHUP, IRC REHASH, line
/rehash) and of the systemd notifications, against a real twistd.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from cryptography import x509

import test_e2e_websocket as websocket_tests
from server import (HOST, STOP_TIMEOUT, TIMEOUT, TWISTD, Client, free_ports, is_listening,
                    make_certificate, twistd_env, join_announcement)


class Notifications:
    """A UNIX datagram socket of the test's own, standing in for systemd's NOTIFY_SOCKET."""

    def __init__(self) -> None:
        # A short path: UNIX socket paths are limited to 107 bytes.
        self.directory = tempfile.mkdtemp(prefix="notify", dir="/tmp")
        self.path = os.path.join(self.directory, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)

    def next(self, timeout: float = TIMEOUT) -> dict[str, str]:
        """The next notification, as its assignments."""
        self.sock.settimeout(timeout)
        data = self.sock.recv(4096).decode("utf-8")
        return dict(line.split("=", 1) for line in data.split("\n"))

    def close(self) -> None:
        self.sock.close()
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture
def notifications():
    found = Notifications()
    yield found
    found.close()


def serial_of(port: int) -> int:
    """The serial number of the certificate a new TLS connection to C{port} is shown."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((HOST, port), timeout=TIMEOUT) as raw:
        with context.wrap_socket(raw) as tls:
            der = tls.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der).serial_number


def serial_from_openssl(openssl: str, port: int) -> int:
    """The serial number that C{openssl s_client} is shown by a new connection to C{port}."""
    shown = subprocess.run([openssl, "s_client", "-connect", f"{HOST}:{port}"],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT)
    certificate = x509.load_pem_x509_certificate(shown.stdout)
    return certificate.serial_number


def serial_in(path: Path) -> int:
    return x509.load_pem_x509_certificate(path.read_bytes()).serial_number


def install(source: tuple[Path, Path], directory: Path) -> tuple[Path, Path]:
    """Put the key and certificate C{source} in place in C{directory}, each by a rename."""
    key, cert = directory / "key.pem", directory / "cert.pem"
    for origin, target in ((source[0], key), (source[1], cert)):
        shutil.copyfile(origin, str(target) + ".new")
        os.replace(str(target) + ".new", target)
    return key, cert


def irc_client(port: int, nick: str) -> Client:
    client = Client.connect(port, name=nick)
    client.send(f"NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\n")
    client.read_until(f" 001 {nick} ")
    client.read_until(re.compile(rf" (376|422) {nick} ".encode()))
    return client


def write_config(path: Path, *lines: str) -> str:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def test_sighup_serves_a_replaced_certificate_to_new_clients_only(
        start_server, tmp_path, notifications, openssl):
    """After the certificate is replaced on disk and twistd gets SIGHUP, a new TLS client sees the new certificate while an old one stays connected and chats."""
    first = make_certificate(tmp_path / "first")
    second = make_certificate(tmp_path / "second")
    live = tmp_path / "live"
    live.mkdir()
    key, cert = install(first, live)
    tls_port, = free_ports()
    server = start_server(
        "--port", f"ssl:{tls_port}:privateKey={key}:certKey={cert}:interface={HOST}",
        environment={"NOTIFY_SOCKET": notifications.path})
    ready = notifications.next(timeout=20)
    assert ready["READY"] == "1"
    assert ready["MAINPID"] == str(server.process.pid)
    assert serial_of(tls_port) == serial_in(first[1])

    old_context = ssl.create_default_context(cafile=str(first[1]))
    old = server.user("old", tls=old_context, port=tls_port)

    install(second, live)
    server.process.send_signal(signal.SIGHUP)
    assert notifications.next()["RELOADING"] == "1"
    assert notifications.next()["READY"] == "1"
    server.wait_for_log(lambda log: "certificates re-read for 1 TLS listener" in log,
                        "the reload's summary")

    assert serial_of(tls_port) == serial_in(second[1])
    assert serial_from_openssl(openssl, tls_port) == serial_in(second[1])
    new_context = ssl.create_default_context(cafile=str(second[1]))
    new = server.user("new", tls=new_context, port=tls_port)
    old.read_until(join_announcement("new"))
    old.send_line("still here after the reload")
    new.read_until("<old> still here after the reload\r\n")
    new.send_line("welcome back")
    old.read_until("<new> welcome back\r\n")

    server.terminate()
    assert notifications.next()["STOPPING"] == "1"


def test_failed_reload_changes_nothing(start_server, tmp_path, notifications):
    """A SIGHUP while the key on disk is unreadable logs why, keeps the old certificate, and still tells systemd it is ready."""
    first = make_certificate(tmp_path / "first")
    live = tmp_path / "live"
    live.mkdir()
    key, cert = install(first, live)
    tls_port, extra_port = free_ports(2)
    config = write_config(tmp_path / "chat.toml", 'name = "before"')
    server = start_server(
        "--config", config,
        "--port", f"ssl:{tls_port}:privateKey={key}:certKey={cert}:interface={HOST}",
        environment={"NOTIFY_SOCKET": notifications.path})
    assert notifications.next(timeout=20)["READY"] == "1"
    key.write_bytes(b"-----BEGIN PRIVATE KEY-----\n\x00\xff garbage\n")
    write_config(tmp_path / "chat.toml", 'name = "before"',
                 f'irc = ["tcp:{extra_port}:interface={HOST}"]')
    server.process.send_signal(signal.SIGHUP)
    assert notifications.next()["RELOADING"] == "1"
    assert notifications.next()["READY"] == "1"
    log = server.wait_for_log(lambda log: "failed, nothing changed" in log, "the failure")
    assert "asked by SIGHUP" in log
    assert serial_of(tls_port) == serial_in(first[1])
    assert not is_listening(extra_port)
    assert server.running()


def test_irc_rehash(start_server, tmp_path):
    """An IRC operator's REHASH answers 382, applies the new MOTD, names what waits for a restart, and reports a broken file without changing anything; others get 481."""
    config = tmp_path / "chat.toml"
    write_config(config, 'oper = ["boss:secret"]', 'motd = "Old news"', 'name = "first"')
    server = start_server("--config", str(config), irc=1)
    irc_port = server.irc_ports[0]
    boss = irc_client(irc_port, "boss")
    server.clients.append(boss)
    boss.send("REHASH\r\n")
    boss.read_until(" 481 boss :Permission Denied")
    boss.send("OPER boss secret\r\n")
    boss.read_until(" 381 boss ")

    write_config(config, 'oper = ["boss:secret"]', 'motd = "Fresh news"', 'name = "second"')
    boss.send("REHASH\r\n")
    boss.read_until(f" 382 boss {config} Rehashing\r\n")
    boss.read_until(f"NOTICE boss :*** Rehash: reloaded {config}\r\n", timeout=10)
    boss.read_until("NOTICE boss :*** changed: motd\r\n")
    boss.read_until("NOTICE boss :*** ignored until restart: name\r\n")
    boss.send("MOTD\r\n")
    boss.read_until("Fresh news")

    config.write_text("oper = [\n", encoding="utf-8")
    boss.send("REHASH\r\n")
    boss.read_until(f" 382 boss {config} Rehashing\r\n")
    failed = boss.read_until(b"\r\n", timeout=10).decode()
    assert f"*** Rehash failed, nothing changed: {config}: not valid TOML" in failed
    boss.send("MOTD\r\n")
    boss.read_until("Fresh news")
    assert "failed, nothing changed" in server.current_log()
    assert "secret" not in server.current_log()


def test_line_rehash_adds_and_removes_listeners(start_server, tmp_path):
    """A line operator's /rehash starts a listener added to the file and stops one removed, while a connection it accepted stays open."""
    config = tmp_path / "chat.toml"
    extra, = free_ports()
    write_config(config, 'oper = ["boss:secret"]')
    server = start_server("--config", str(config))
    boss = server.user("boss")
    boss.send_line("/rehash")
    boss.read_until("*** Only server operators may do that.\r\n")
    boss.send_line("/oper boss wrong")
    boss.read_until("*** Wrong operator name or password.\r\n")
    boss.send_line("/oper boss secret")
    boss.read_until("*** You are now a server operator.\r\n")

    write_config(config, 'oper = ["boss:secret"]', f'irc = ["tcp:{extra}:interface={HOST}"]')
    boss.send_line("/rehash")
    boss.read_until(f"*** Rehashing {config}...\r\n")
    boss.read_until(f"listening on tcp:{extra}:interface={HOST}; changed: irc\r\n", timeout=10)
    guest = irc_client(extra, "guest")
    server.clients.append(guest)

    write_config(config, 'oper = ["boss:secret"]')
    boss.send_line("/rehash")
    boss.read_until(f"no longer listening on tcp:{extra}:interface={HOST}", timeout=10)
    deadline = time.monotonic() + TIMEOUT
    while is_listening(extra, timeout=0.2) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not is_listening(extra)
    guest.send("PRIVMSG boss :the old listener's connection still works\r\n")
    boss.read_until("[private] <guest> the old listener's connection still works", timeout=10)


def test_systemd_socket_activation(tmp_path, notifications):
    """Started as systemd would start it, with sockets passed in and systemd: endpoints, twistd says READY and serves line chat and IRC on those sockets, and reloads on SIGHUP keeping them."""
    listening = []
    for _ in range(2):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((HOST, 0))
        sock.listen(16)
        listening.append(sock)
    line_port, irc_port = (sock.getsockname()[1] for sock in listening)

    def as_systemd_passes_them():
        # File descriptors 3 and 4, in the socket unit's order.
        high = [os.dup(sock.fileno()) for sock in listening]
        for number, fd in enumerate(high, 3):
            os.dup2(fd, number)
            os.set_inheritable(number, True)

    command = (f"LISTEN_PID=$$ LISTEN_FDS=2 LISTEN_FDNAMES=line:irc exec {TWISTD} -n --pidfile= chat "
               "--port systemd:domain=INET:index=0 --irc systemd:domain=INET:index=1 "
               "--no-persistence")
    log_path = tmp_path / "twistd.out"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            ["sh", "-c", command], cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, preexec_fn=as_systemd_passes_them, pass_fds=(3, 4),
            env={**twistd_env(), "NOTIFY_SOCKET": notifications.path})
    for sock in listening:
        sock.close()
    clients = []
    try:
        ready = notifications.next(timeout=20)
        assert ready["READY"] == "1" and ready["MAINPID"] == str(process.pid)
        alice = Client.connect(line_port, name="alice")
        clients.append(alice)
        alice.sign_in("alice")
        bob = irc_client(irc_port, "bob")
        clients.append(bob)
        bob.send("JOIN #lobby\r\n")
        alice.read_until(join_announcement("bob"))
        process.send_signal(signal.SIGHUP)
        assert notifications.next()["RELOADING"] == "1"
        assert notifications.next()["READY"] == "1"
        bob.send("PRIVMSG #lobby :over systemd's socket\r\n")
        alice.read_until("[#lobby] <bob> over systemd's socket\r\n")
        late = Client.connect(line_port, name="late")
        clients.append(late)
        late.sign_in("late")
        process.send_signal(signal.SIGTERM)
        assert notifications.next()["STOPPING"] == "1"
        # Twisted re-raises the signal that stopped it once it has shut down.
        assert process.wait(STOP_TIMEOUT) in (0, -signal.SIGTERM)
    finally:
        for client in clients:
            client.close()
        if process.poll() is None:
            process.kill()
            process.wait(STOP_TIMEOUT)
    log = log_path.read_text(errors="replace")
    assert "Traceback" not in log, log


def test_sighup_applies_new_limits_from_the_file(start_server, tmp_path):
    """After SIGHUP, a lowered per-address limit without loopback's exemption refuses the next connection and a lowered line limit applies, while the connections already open stay and chat."""
    config = tmp_path / "chat.toml"
    write_config(config, "max-per-address = 5", "max-line-length = 2048")
    server = start_server("--config", str(config))
    alice, bob = server.users("alice", "bob")
    write_config(config, "max-per-address = 2", "max-line-length = 20", 'exempt = ["none"]')
    server.process.send_signal(signal.SIGHUP)
    server.wait_for_log(
        lambda log: any("changed:" in line and all(key in line for key in (
            "exempt", "max-line-length", "max-per-address")) for line in log.splitlines()),
        "the reload's summary")
    third = server.connect("third")
    third.read_until("*** Too many connections from your address (the limit is 2).\r\n")
    third.read_until_closed()
    alice.send_line("x" * 30)
    alice.read_until("*** Line too long (the limit is 20 ")
    alice.send_line("short and sweet")
    bob.read_until("[#lobby] <alice> short and sweet\r\n")


open_ws = websocket_tests.open_ws


def test_sighup_applies_web_origins_and_trusted_proxies(start_server, tmp_path, open_ws):
    """After SIGHUP, an origin and a trusted proxy added to the config file take effect for new WebSockets."""
    config = tmp_path / "chat.toml"
    write_config(config, "")
    server = websocket_tests.web_server(start_server, "--config", str(config))
    port = server.web_ports[0]
    forwarded = {"X-Forwarded-For": "203.0.113.9"}
    assert websocket_tests.refused_status(open_ws, port, origin="https://chat.example") == 403
    open_ws(port, "before", headers=forwarded).register("before")
    assert "Connection from 203.0.113.9" not in server.current_log()

    write_config(config, 'web-origin = ["https://chat.example"]',
                 f'trusted-proxy = ["{HOST}"]')
    server.process.send_signal(signal.SIGHUP)
    server.wait_for_log(lambda log: "changed: web-origin, trusted-proxy" in log,
                        "the reload's summary")
    open_ws(port, "after", origin="https://chat.example", headers=forwarded).register("after")
    server.wait_for_log(lambda log: "Connection from 203.0.113.9" in log,
                        "the forwarded address")
