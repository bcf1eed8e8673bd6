"""
End to end, as the people who run the server see it: metrics scraped with a
real HTTP client during a chat over line, IRC and WebSocket; a goodbye to
every kind of client on SIGTERM and SIGINT; one-line start-up errors; the
listen backlog; and JSON logs.  Real twistd processes on loopback.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from server import HOST, TIMEOUT, Client, free_ports, is_listening, run_twistd
from test_e2e_websocket import open_ws

# Fixtures this module takes from test_e2e_websocket by importing them.
FIXTURES = (open_ws,)


def scrape(port: int) -> dict[str, float]:
    """GET /metrics with urllib and return each sample, keyed as its line shows it."""
    with urllib.request.urlopen(f"http://{HOST}:{port}/metrics", timeout=TIMEOUT) as answer:
        assert answer.status == 200
        assert answer.headers["Content-Type"].startswith("text/plain; version=")
        text = answer.read().decode("utf-8")
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def wait_for_sample(port: int, name: str, at_least: float, timeout: float = TIMEOUT) -> dict:
    """Scrape until C{name} reaches C{at_least} (history is written in batches)."""
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(port)
        if samples.get(name, 0) >= at_least or time.monotonic() > deadline:
            return samples
        time.sleep(0.1)


def irc_user(port: int, nick: str) -> Client:
    """An IRC client on a plain socket, registered and in #lobby."""
    client = Client.connect(port, name=nick)
    client.send(f"NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\n")
    client.read_until(re.compile(rf":\S+ (376|422) {nick} ".encode()))
    client.send("JOIN #lobby\r\n")
    client.read_until(re.compile(rf":\S+ 366 {nick} #lobby ".encode()))
    return client


L_TCP = 'chatservice_connections_accepted_total{frontend="line",transport="tcp"}'
I_TCP = 'chatservice_connections_accepted_total{frontend="irc",transport="tcp"}'
I_WS = 'chatservice_connections_accepted_total{frontend="irc",transport="ws"}'
OPEN_WS = 'chatservice_connections_open{frontend="irc",transport="ws"}'
USERS = "chatservice_users_signed_in"
ROOM_MESSAGES = 'chatservice_messages_received_total{target="room"}'
PRIVATE_MESSAGES = 'chatservice_messages_received_total{target="private"}'
DELIVERIES = "chatservice_deliveries_total"
LINE_BYTES = 'chatservice_sent_bytes_total{frontend="line"}'
IRC_BYTES = 'chatservice_sent_bytes_total{frontend="irc"}'
QUITS = 'chatservice_disconnects_total{frontend="line",reason="quit"}'
STORED = "chatservice_history_events_stored_total"


def test_metrics_move_during_a_chat(start_server, open_ws):
    """Scraped over HTTP, the counters follow a chat between a line user, an IRC client and a WebSocket client."""
    [metrics] = free_ports()
    server = start_server("--metrics", f"tcp:{metrics}:interface={HOST}", irc=1, web=1)
    before = scrape(metrics)
    assert before[USERS] == 0

    alice = server.user("alice")
    bob = irc_user(server.irc_ports[0], "bob")
    server.clients.append(bob)
    carol = open_ws(server.web_ports[0], "carol")
    carol.register("carol")
    during = scrape(metrics)
    assert during[USERS] == 3
    assert during["chatservice_rooms"] == 1
    assert during[L_TCP] == before[L_TCP] + 1
    assert during[I_TCP] == before[I_TCP] + 1
    assert during[I_WS] == before[I_WS] + 1
    assert during[OPEN_WS] == 1

    alice.send_line("hello from line")
    bob.read_until(b"hello from line")
    carol.read_until(re.compile("hello from line"))
    bob.send("PRIVMSG #lobby :hello from irc\r\n")
    alice.read_until(b"hello from irc")
    carol.read_until(re.compile("hello from irc"))
    carol.send("PRIVMSG #lobby :hello from the web")
    alice.read_until(b"hello from the web")
    bob.read_until(b"hello from the web")
    carol.send("PRIVMSG alice :just you")
    alice.read_until(b"just you")

    after = wait_for_sample(metrics, STORED, before.get(STORED, 0) + 6)
    assert after[ROOM_MESSAGES] == before[ROOM_MESSAGES] + 3
    assert after[PRIVATE_MESSAGES] == before[PRIVATE_MESSAGES] + 1
    # Each room message reaches the two others; the private one, one.
    assert after[DELIVERIES] >= during[DELIVERIES] + 7
    assert after[LINE_BYTES] > during[LINE_BYTES]
    assert after[IRC_BYTES] > during[IRC_BYTES]
    # Three joins and three messages at least were written to history.
    assert after[STORED] >= before.get(STORED, 0) + 6
    assert after["chatservice_history_events_dropped_total"] == 0
    assert after["chatservice_reactor_lag_seconds_count"] >= 0

    alice.send_line("/quit gone")
    alice.read_until_closed()
    carol.close()
    gone = wait_for_sample(metrics, QUITS, before.get(QUITS, 0) + 1)
    assert gone[QUITS] == before.get(QUITS, 0) + 1
    assert gone[USERS] <= 1


def test_metrics_are_not_on_the_web_port(start_server):
    """The chat's web port does not serve metrics; only the metrics listener does."""
    [metrics] = free_ports()
    server = start_server("--metrics", f"tcp:{metrics}:interface={HOST}", web=1)
    try:
        with urllib.request.urlopen(f"http://{HOST}:{server.web_ports[0]}/metrics",
                                    timeout=TIMEOUT) as answer:
            body = answer.read()
    except urllib.error.HTTPError as refused:
        body = refused.read()
    assert b"chatservice_users_signed_in" not in body
    assert "chatservice_users_signed_in" in scrape(metrics)


def test_metrics_listener_survives_hostile_requests(start_server):
    """Garbage, other methods, odd paths and a client that hangs up mid-request get errors, and scraping goes on."""
    [metrics] = free_ports()
    start_server("--metrics", f"tcp:{metrics}:interface={HOST}")
    garbage = Client.connect(metrics, name="garbage")
    garbage.send(b"\x16\x03\x01\x00\xff" + b"\xff" * 300 + b"\r\n\r\n")
    assert garbage.read_until_closed().startswith(b"HTTP/1.1 400")
    post = Client.connect(metrics, name="post")
    post.send(b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
              b"Connection: close\r\n\r\nabc")
    assert post.read_until_closed().startswith(b"HTTP/1.1 405")
    for path in ("/../../etc/passwd", "/%00", "/metricsx", "/" + "m" * 5000):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://{HOST}:{metrics}{path}", timeout=TIMEOUT)
        assert refused.value.code == 404
    quitter = Client.connect(metrics, name="quitter")
    quitter.send(b"GET /metr")
    quitter.close()
    assert scrape(metrics)["chatservice_users_signed_in"] == 0


def test_no_metrics_listener_by_default(server):
    """Without --metrics nothing serves metrics: the log names no metrics site."""
    assert "MetricsSite" not in server.log()


def test_metrics_lag_histogram_fills(start_server):
    """The reactor lag histogram counts a timer every second."""
    [metrics] = free_ports()
    start_server("--metrics", f"tcp:{metrics}:interface={HOST}")
    samples = wait_for_sample(metrics, "chatservice_reactor_lag_seconds_count", 2,
                              timeout=10)
    assert samples["chatservice_reactor_lag_seconds_count"] >= 2
    assert samples['chatservice_reactor_lag_seconds_bucket{le="+Inf"}'] >= 2


# Shutdown

@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT])
def test_shutdown_says_goodbye_to_every_client(start_server, open_ws, number):
    """On SIGTERM or SIGINT every kind of client is told before its connection closes, and twistd exits 0 within 5 s."""
    server = start_server(irc=1, web=1)
    alice = server.user("alice")
    stranger = server.connect("stranger")
    stranger.read_prompt()
    bob = irc_user(server.irc_ports[0], "bob")
    server.clients.append(bob)
    carol = open_ws(server.web_ports[0], "carol")
    carol.register("carol")
    alice.send_line("last words")
    bob.read_until(b"last words")
    carol.read_until(re.compile("last words"))

    started = time.monotonic()
    server.stopped_on_purpose = True
    server.process.send_signal(number)
    assert alice.read_until_closed().endswith(b"*** The server is shutting down.\r\n")
    assert stranger.read_until_closed() == b"*** The server is shutting down.\r\n"
    assert bob.read_until_closed().endswith(
        b"ERROR :Closing Link: 127.0.0.1 (Server shutting down)\r\n")
    rest, close = carol.read_until_closed()
    assert rest[-1] == "ERROR :Closing Link: 127.0.0.1 (Server shutting down)"
    assert close is not None and close.code == 1001
    assert server.process.wait(5) == 0, server.log()
    assert time.monotonic() - started < 5
    assert not is_listening(server.port)

    # What was said just before is in the history when the server is back.
    server.start_again()
    dave = server.connect("dave")
    dave.sign_in("dave")
    dave.read_until(b"last words")


def test_shutdown_with_a_client_that_does_not_read(start_server):
    """A client that stopped reading, with megabytes waiting for it, does not keep twistd from exiting 0 within 5 s."""
    server = start_server("--no-flood-control", "--max-send-queue", str(64 * 1024 * 1024))
    alice, watcher = server.users("alice", "watcher")
    deaf = server.connect("deaf", rcvbuf=4096)
    deaf.sign_in("deaf")
    for reader in (alice, watcher):
        reader.read_until(b"deaf joined #lobby")
    for number in range(2000):
        alice.send_line(f"{number:04} " + "x" * 1000)
    watcher.read_until(b"1999 ", timeout=30)
    started = time.monotonic()
    assert server.terminate(5) == 0, server.log()
    assert time.monotonic() - started < 5


# Start-up errors

def only_line(result: subprocess.CompletedProcess) -> str:
    """twistd failed with exactly one line of output; return it."""
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert result.returncode != 0, result.stdout
    assert len(lines) == 1, result.stdout
    return lines[0]


def test_missing_certificate_is_one_line(tmp_path):
    """A missing certificate prints one line naming it, not twistd's help, and exits non-zero."""
    [port] = free_ports()
    line = only_line(run_twistd(
        ["-n", "--pidfile=", "chat", "--port",
         f"ssl:{port}:privateKey=/nonexistent/key.pem:certKey=/nonexistent/cert.pem"],
        tmp_path))
    assert "/nonexistent/" in line and "--port" in line


@pytest.mark.parametrize("arguments, expected", [
    (["--no-such-option"], "--no-such-option"),
    (["--port", "tcp:notaport"], "tcp:notaport"),
    (["--irc", "carrierpigeon:6667"], "carrierpigeon"),
    (["--metrics", "tcp:notaport"], "--metrics"),
    (["--log-format", "xml"], "--log-format"),
    (["--flood-rate", "-1"], "--flood-rate"),
    (["--oper", "nopassword"], "--oper"),
    (["--default-room", "lobby\x1b[31m"], "--default-room"),
])
def test_bad_options_are_one_line(tmp_path, arguments, expected):
    """A bad option, value or endpoint prints one line naming it and exits non-zero."""
    line = only_line(run_twistd(["-n", "--pidfile=", "chat", *arguments], tmp_path))
    assert expected in line
    assert line.startswith("twistd chat: ")


def test_unbindable_port_is_one_line(tmp_path):
    """A port already in use prints one line and exits non-zero."""
    import socket

    with socket.socket() as occupier:
        occupier.bind((HOST, 0))
        occupier.listen()
        taken = occupier.getsockname()[1]
        result = run_twistd(["-n", "--pidfile=", "chat", "--log-format", "json",
                             "--port", f"tcp:{taken}:interface={HOST}"], tmp_path)
    assert result.returncode != 0
    errors = [line for line in result.stdout.splitlines() if "cannot listen" in line]
    assert len(errors) == 1 and str(taken) in errors[0], result.stdout
    assert "Traceback" not in result.stdout


def test_unbindable_metrics_port_is_one_line(tmp_path):
    """A metrics port already in use stops start-up with one line, and no chat port stays open."""
    import socket

    [chat] = free_ports()
    with socket.socket() as occupier:
        occupier.bind((HOST, 0))
        occupier.listen()
        taken = occupier.getsockname()[1]
        result = run_twistd(["-n", "--pidfile=", "chat", "--port", f"tcp:{chat}:interface={HOST}",
                             "--metrics", f"tcp:{taken}:interface={HOST}"], tmp_path)
    assert result.returncode != 0
    errors = [line for line in result.stdout.splitlines() if "cannot listen" in line]
    assert len(errors) == 1 and str(taken) in errors[0], result.stdout
    assert not is_listening(chat)


# Listen backlog

def listen_backlog(port: int) -> int:
    """The backlog of the socket listening on C{port}, from ss (Send-Q of a listener)."""
    output = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True,
                            text=True, timeout=TIMEOUT, check=True).stdout
    fields = output.split()
    assert fields and fields[0] == "LISTEN", output
    return int(fields[2])


def test_listeners_have_a_backlog_of_1024(start_server):
    """Line, IRC, web and metrics listeners queue up to 1024 connections; an endpoint's own backlog= wins."""
    [metrics, own] = free_ports(2)
    server = start_server("--metrics", f"tcp:{metrics}:interface={HOST}",
                          "--port", f"tcp:{own}:interface={HOST}:backlog=7", irc=1, web=1)
    for port in (server.port, server.irc_ports[0], server.web_ports[0], metrics):
        assert listen_backlog(port) == 1024
    assert listen_backlog(own) == 7


# JSON logs

def test_json_log_lines_parse(start_server):
    """With --log-format json each line twistd writes is one JSON object with Twisted's fields."""
    server = start_server("--log-format", "json")
    alice = server.user("alice")
    alice.send_line("/quit")
    alice.read_until_closed()
    server.wait_for_log(lambda log: "Disconnected" in log and "alice" in log,
                        "alice's sign-in and disconnection")
    assert server.terminate() == 0
    lines = [line for line in server.current_log().splitlines() if line.strip()]
    assert len(lines) > 5
    events = [json.loads(line) for line in lines]
    assert all(isinstance(event, dict) and "log_format" in event and "log_level" in event
               for event in events)
    assert any(event.get("nick") == "alice" for event in events)
    assert any(event["log_format"].startswith("Disconnected") for event in events)


def test_text_log_by_default(server):
    """Without --log-format the log is Twisted's text, not JSON."""
    first = server.current_log().splitlines()[0]
    with pytest.raises(ValueError):
        json.loads(first)
