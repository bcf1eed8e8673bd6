"""
End to end: chatservice behind a real HAProxy (Debian's ``haproxy``
package) that sends PROXY headers, v1 (``send-proxy``) and v2
(``send-proxy-v2``), to ``haproxy:`` endpoints of every front end.

HAProxy runs in the foreground on loopback with a configuration the test
writes, on free ports, and is stopped at teardown.  Clients connect to
HAProxy from other loopback addresses (127.0.0.2, 127.0.0.3: all of
127.0.0.0/8 is this host), so the address in the header differs from the
proxy's own (127.0.0.1) and the test can tell which one the server used.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time

import pytest

from server import HOST, TIMEOUT, Client, free_ports, is_listening

websockets = pytest.importorskip("websockets")
from websockets.sync.client import connect as ws_connect  # noqa: E402

from test_e2e_websocket import WebSocketUser  # noqa: E402

ALICE_HOST = "127.0.0.2"
BOB_HOST = "127.0.0.3"


class HAProxy:
    """A real haproxy process forwarding each front end to a haproxy: endpoint."""

    def __init__(self, directory, routes):
        """
        C{routes}: (name, proxy port, server port, "send-proxy" or
        "send-proxy-v2").
        """
        self.config = directory / "haproxy.cfg"
        sections = ["global\n    maxconn 200\n",
                    "defaults\n    mode tcp\n    timeout connect 5s\n"
                    "    timeout client 60s\n    timeout server 60s\n"]
        for name, port, backend, send in routes:
            sections.append(f"listen {name}\n    bind {HOST}:{port}\n"
                            f"    server chat {HOST}:{backend} {send}\n")
        self.config.write_text("\n".join(sections))
        self.ports = [route[1] for route in routes]
        self.log_path = directory / "haproxy.log"
        self.process = None

    def start(self):
        with open(self.log_path, "wb") as out:
            self.process = subprocess.Popen(
                [shutil.which("haproxy"), "-db", "-f", str(self.config)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        waiting = set(self.ports)
        while waiting:
            assert self.process.poll() is None, self.log_path.read_text()
            assert time.monotonic() < deadline, f"haproxy not listening on {waiting}"
            waiting = {port for port in waiting if not is_listening(port)}
            if waiting:
                time.sleep(0.05)
        return self

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@pytest.fixture
def haproxy(tmp_path):
    """C{haproxy(routes)} starts HAProxy with those routes; stopped at teardown."""
    if shutil.which("haproxy") is None:
        pytest.fail("haproxy is not installed (tests/run.sh installs it)")
    started = []

    def start(routes):
        proxy = HAProxy(tmp_path, routes)
        started.append(proxy)
        return proxy.start()

    yield start
    for proxy in started:
        proxy.stop()


def connect_from(source: str, port: int, name: str) -> Client:
    """A line client connected to C{port} from the loopback address C{source}."""
    sock = socket.create_connection((HOST, port), timeout=TIMEOUT,
                                    source_address=(source, 0))
    return Client(sock, name)


def behind_proxy(start_server, haproxy, *options, certificate=None):
    """
    A server whose line, IRC and web front ends each listen on a haproxy:
    endpoint, and a HAProxy in front: line chat with v1 headers, IRC and
    the web with v2.  Return (server, {front end: HAProxy's port}).
    """
    line, irc, web, line_proxy, irc_proxy, web_proxy = free_ports(6)
    server = start_server(
        "--port", f"haproxy:tcp:{line}:interface={HOST}",
        "--irc", f"haproxy:tcp:{irc}:interface={HOST}",
        "--web", f"haproxy:tcp:{web}:interface={HOST}",
        "--trusted-proxy", "127.0.0.1", *options)
    haproxy([("line", line_proxy, line, "send-proxy"),
             ("irc", irc_proxy, irc, "send-proxy-v2"),
             ("web", web_proxy, web, "send-proxy-v2")])
    return server, {"line": line_proxy, "irc": irc_proxy, "web": web_proxy,
                    "line-direct": line}


def test_line_chat_behind_haproxy_v1_sees_the_client_address(start_server, haproxy):
    """Through HAProxy's send-proxy (v1), a line user is logged and shown under the address from the header, not the proxy's."""
    server, ports = behind_proxy(start_server, haproxy)
    alice = connect_from(ALICE_HOST, ports["line"], "alice")
    server.clients.append(alice)
    alice.sign_in("alice")
    bob = connect_from(BOB_HOST, ports["line"], "bob")
    server.clients.append(bob)
    bob.sign_in("bob")
    bob.send_line("hello through the proxy")
    alice.read_until("<bob> hello through the proxy\r\n")
    log = server.wait_for_log(lambda log: f"Connection from {BOB_HOST}" in log,
                              "the header's address in the log")
    assert f"{ALICE_HOST} signed in as alice" in log


def test_irc_behind_haproxy_v2_shows_the_client_host(start_server, haproxy):
    """Through HAProxy's send-proxy-v2, an IRC user's host in JOIN and WHOIS is the header's client address."""
    server, ports = behind_proxy(start_server, haproxy)
    alice = connect_from(ALICE_HOST, ports["irc"], "alice")
    server.clients.append(alice)
    alice.send("NICK alice\r\nUSER alice 0 * :Alice\r\nJOIN #lobby\r\n")
    alice.read_until(re.compile(rb":\S+ 366 alice #lobby "))
    bob = connect_from(BOB_HOST, ports["irc"], "bob")
    server.clients.append(bob)
    bob.send("NICK bob\r\nUSER bob 0 * :Bob\r\nJOIN #lobby\r\n")
    alice.read_until(f":bob!~bob@{BOB_HOST} JOIN #lobby")
    alice.send("WHOIS bob\r\n")
    alice.read_until(f" 311 alice bob ~bob {BOB_HOST} ")


def test_web_behind_haproxy_v2_shows_the_client_host(start_server, haproxy):
    """Through HAProxy's send-proxy-v2, a WebSocket user's host, seen by an IRC user in JOIN, is the header's client address."""
    server, ports = behind_proxy(start_server, haproxy)
    alice = connect_from(ALICE_HOST, ports["irc"], "alice")
    server.clients.append(alice)
    alice.send("NICK alice\r\nUSER alice 0 * :Alice\r\nJOIN #lobby\r\n")
    alice.read_until(re.compile(rb":\S+ 366 alice #lobby "))
    sock = socket.create_connection((HOST, ports["web"]), timeout=TIMEOUT,
                                    source_address=(BOB_HOST, 0))
    with ws_connect(f"ws://{HOST}:{ports['web']}/ws", sock=sock,
                    subprotocols=["text.ircv3.net"], compression=None,
                    open_timeout=TIMEOUT, close_timeout=2, ping_interval=None) as connection:
        bob = WebSocketUser(connection, "bob")
        bob.register("bob")
        alice.read_until(f":bob!~bob@{BOB_HOST} JOIN #lobby")
        bob.send("PRIVMSG #lobby :hi from the web")
        alice.read_until(f":bob!~bob@{BOB_HOST} PRIVMSG #lobby :hi from the web")


def test_per_address_limit_counts_the_header_address(start_server, haproxy):
    """Behind HAProxy, --max-per-address counts each client's own address: a third connection from one client is refused while another client still gets in."""
    server, ports = behind_proxy(start_server, haproxy, "--max-per-address", "2",
                                 "--exempt", "none")
    first = connect_from(ALICE_HOST, ports["line"], "a1")
    second = connect_from(ALICE_HOST, ports["irc"], "a2")
    server.clients += [first, second]
    first.read_prompt()
    second.send("NICK a2\r\nUSER a2 0 * :A\r\n")
    second.read_until(re.compile(rb":\S+ 001 a2 "))
    refused = connect_from(ALICE_HOST, ports["line"], "a3")
    server.clients.append(refused)
    assert refused.read_until_closed().decode() == (
        "*** Too many connections from your address (the limit is 2).\r\n"
        "*** Closing the connection: Too many connections from your address.\r\n")
    other = connect_from(BOB_HOST, ports["line"], "bob")
    server.clients.append(other)
    other.sign_in("bob")


def test_untrusted_sender_of_a_proxy_header_is_refused(start_server, haproxy):
    """A connection to a haproxy: endpoint from an address that is not a --trusted-proxy is closed unread, with a log line, even with a well-formed header."""
    server, ports = behind_proxy(start_server, haproxy)
    forger = connect_from(ALICE_HOST, ports["line-direct"], "forger")
    server.clients.append(forger)
    try:
        forger.send(f"PROXY TCP4 192.0.2.1 {HOST} 1234 {ports['line-direct']}\r\nmallory\n")
    except (ConnectionResetError, BrokenPipeError):
        pass  # the server may have dropped it before the header was even sent
    assert forger.read_until_closed() == b""
    server.wait_for_log(
        lambda log: f"Refused a PROXY connection from {ALICE_HOST}: not a --trusted-proxy"
        in log, "the refusal")
    assert "192.0.2.1" not in server.current_log()


def test_trusted_sender_without_a_header_is_closed(start_server, haproxy):
    """A connection from a trusted proxy that starts with anything but a PROXY header is closed without a greeting."""
    server, ports = behind_proxy(start_server, haproxy)
    plain = connect_from(HOST, ports["line-direct"], "plain")
    server.clients.append(plain)
    plain.send("alice\n")
    assert plain.read_until_closed() == b""
    server.wait_for_log(lambda log: "no PROXY header" in log, "the log line")


def test_haproxy_endpoint_without_trusted_proxy_is_a_usage_error(tmp_path):
    """A haproxy: endpoint with no --trusted-proxy stops twistd with one line saying so."""
    from server import run_twistd

    port, = free_ports(1)
    result = run_twistd(["-n", "--pidfile=", "chat", "--no-persistence",
                         "--irc", f"haproxy:tcp:{port}:interface={HOST}"], tmp_path)
    assert result.returncode != 0
    assert "a haproxy: endpoint needs --trusted-proxy" in result.stdout


def test_tls_line_chat_behind_haproxy_passthrough(start_server, haproxy, certificate,
                                                  tls_context):
    """Through HAProxy passing TLS through with send-proxy-v2, a haproxy:ssl: listener reads the header before the handshake and the TLS user is shown under the header's address."""
    key, cert = certificate
    backend, proxy_port = free_ports(2)
    server = start_server(
        "--port", f"haproxy:ssl:{backend}:privateKey={key}:certKey={cert}:interface={HOST}",
        "--trusted-proxy", "127.0.0.0/8", "--exempt", "none")
    haproxy([("tls", proxy_port, backend, "send-proxy-v2")])
    alice = server.user("alice")
    sock = socket.create_connection((HOST, proxy_port), timeout=TIMEOUT,
                                    source_address=(BOB_HOST, 0))
    bob = Client(tls_context.wrap_socket(sock, server_hostname=HOST), "bob")
    server.clients.append(bob)
    bob.sign_in("bob")
    bob.send_line("secret hello")
    alice.read_until("<bob> secret hello\r\n")
    server.wait_for_log(lambda log: f"{BOB_HOST} signed in as bob" in log, "bob's address")


def test_tls_hint_for_plain_line_chat_reached_from_the_network(start_server):
    """A plain line-chat connection to a public address (here: as a PROXY header names it) is told the TLS port at sign-in; one to loopback is not."""
    proxied, = free_ports(1)
    server = start_server("--port", f"haproxy:tcp:{proxied}:interface={HOST}",
                          "--trusted-proxy", "127.0.0.1", tls=1)
    hint = f"*** This connection is not encrypted: for TLS, connect to port {server.tls_port}."
    public = Client.connect(proxied, "public")
    server.clients.append(public)
    public.send(f"PROXY TCP4 198.51.100.7 192.0.2.10 40000 {proxied}\r\n")
    assert public.read_line().startswith("*** Welcome to ")
    assert public.read_line() == hint
    public.read_prompt()
    public.send_line("alice")
    public.read_until("*** Hello alice!")
    local = server.connect("local")
    greeting = local.read_prompt().decode()
    assert "not encrypted" not in greeting


def test_haproxy_endpoint_that_cannot_listen_stops_start_up(tmp_path):
    """A haproxy: endpoint whose port is taken stops twistd with the one cannot-listen line."""
    from server import run_twistd

    taken = socket.socket()
    taken.bind((HOST, 0))
    taken.listen()
    try:
        port = taken.getsockname()[1]
        result = run_twistd(["-n", "--pidfile=", "chat", "--no-persistence",
                             "--port", f"haproxy:tcp:{port}:interface={HOST}",
                             "--trusted-proxy", "127.0.0.1"], tmp_path)
    finally:
        taken.close()
    assert result.returncode != 0
    assert f"chatservice: cannot listen: Couldn't listen on {HOST}:{port}" in result.stdout
    assert "Traceback" not in result.stdout
