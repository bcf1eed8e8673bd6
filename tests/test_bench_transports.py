"""
The benchmark tools over TLS and IRC over WebSocket (issue 14): the load
generator's WebSocket framing, and bench/loadgen.py driving a real twistd,
InspIRCd and ngIRCd (Debian packages, started from the configurations
bench/run.py writes) with a handful of clients for about a second.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import loadgen  # noqa: E402
import run  # noqa: E402

# A short run: few clients, a second measured.
SHORT = ["--clients", "6", "--senders", "2", "--duration", "1", "--warmup", "0.2",
         "--settle", "0.2", "--drain-idle", "1", "--setup-timeout", "20"]


def unmask(frame: bytes) -> tuple[int, bytes]:
    """(first byte, payload) of one masked client frame."""
    size, head = frame[1] & 0x7F, 2
    if size == 126:
        size, head = struct.unpack("!H", frame[2:4])[0], 4
    elif size == 127:
        size, head = struct.unpack("!Q", frame[2:10])[0], 10
    assert frame[1] & 0x80, "client frames must be masked"
    key = frame[head:head + 4]
    body = frame[head + 4:]
    assert len(body) == size
    return frame[0], bytes(b ^ key[i % 4] for i, b in enumerate(body))


def server_frame(payload: bytes, opcode: int = 1, fin: bool = True) -> bytes:
    """An unmasked frame, as a server sends it."""
    n = len(payload)
    first = (0x80 if fin else 0) | opcode
    if n < 126:
        return bytes((first, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", first, 126, n) + payload
    return struct.pack("!BBQ", first, 127, n) + payload


# Framing ---------------------------------------------------------------------

def test_ws_accept_is_the_rfc_example():
    """The expected Sec-WebSocket-Accept is RFC 6455's worked example."""
    assert loadgen.ws_accept(b"dGhlIHNhbXBsZSBub25jZQ==") == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@pytest.mark.parametrize("size", [0, 1, 3, 125, 126, 4608, 65535, 65536])
def test_client_frames_are_masked_and_carry_the_payload(size):
    """Each client frame is final, masked, and unmasks to the payload at every length form."""
    payload = bytes((i * 7) % 251 for i in range(size))
    first, body = unmask(loadgen.ws_frame(payload, 1))
    assert first == 0x81
    assert body == payload


def test_client_masks_differ_between_frames():
    """Every frame gets a fresh masking key."""
    keys = {loadgen.ws_frame(b"PRIVMSG #a :x")[2:6] for _ in range(50)}
    assert len(keys) > 40


def test_binary_frames_for_the_binary_subprotocol():
    """Opcode 2 gives binary frames."""
    assert unmask(loadgen.ws_frame(b"PING x", 2))[0] == 0x82


def test_server_frames_split_whatever_the_reads():
    """Frames fed a byte at a time give the same lines, controls and no leftovers."""
    stream = (server_frame(b"PING :a") + server_frame(b"x" * 300)
              + server_frame(b"ping!", 9) + server_frame(b"part ", 1, fin=False)
              + server_frame(b"two", 0) + server_frame(b"\xff\x00", 2))
    whole, control, rest = loadgen.ws_unframe(stream)
    assert b"".join(whole) == b"PING :a\n" + b"x" * 300 + b"\npart two\n\xff\x00\n"
    assert control == [(9, b"ping!")]
    assert rest == b""
    pieces, controls, rest = [], [], b""
    for i in range(len(stream)):
        out, ctl, rest = loadgen.ws_unframe(rest + stream[i:i + 1])
        pieces += out
        controls += ctl
    assert b"".join(pieces) == b"".join(whole)
    assert controls == control
    assert rest == b""


@pytest.mark.parametrize("frame, why", [
    (bytes((0x81, 0x85)) + b"\0\0\0\0hello", "masked"),
    (bytes((0x83, 0x01)) + b"x", "opcode 3"),
    (struct.pack("!BBQ", 0x81, 127, 1 << 40), "frame of"),
    (struct.pack("!BBH", 0x81, 126, 65535) + b"\0" * 10, None),
])
def test_hostile_server_frames(frame, why):
    """A masked, unknown or huge frame is refused at once; a long legal one waits for its bytes."""
    if why is None:
        out, control, rest = loadgen.ws_unframe(frame)
        assert (out, control, rest) == ([], [], frame)
        return
    with pytest.raises(loadgen.WSError, match=why):
        loadgen.ws_unframe(frame)


def test_ws_needs_irc_mode():
    """--ws is refused with line chat, which has no WebSocket."""
    with pytest.raises(SystemExit):
        loadgen.options(["--ws", "--mode", "line"])


# The runner's choices ----------------------------------------------------------

def options(*argv: str):
    o = run.options(["--server-cpu", "", "--gen-cpu", "", *argv])
    return o


def test_ngircd_is_left_out_of_websocket_with_a_note():
    """A WebSocket scenario runs chatservice and InspIRCd and says why ngIRCd is missing."""
    o = options("--servers", "chatservice,ngircd,inspircd",
                "--scenarios", "fanout100-ws,fanout100-tls")
    for cls in run.SERVERS.values():
        assert cls.missing(o) is None, "the Debian packages are installed by tests/run.sh"
    chosen, notes = run.choose(o, [run.SCENARIOS["fanout100-ws"],
                                   run.SCENARIOS["fanout100-tls"]])
    assert [t.label for t in chosen["fanout100-ws"]] == ["chatservice-irc", "inspircd"]
    assert [t.label for t in chosen["fanout100-tls"]] == ["chatservice-irc", "ngircd", "inspircd"]
    assert notes == ["ngircd skipped in fanout100-ws: it has no WebSocket"]


def test_tls_memory_verdict_is_against_inspircd():
    """conn-tls meets its target only at or below InspIRCd's KB per connection, all held."""
    scenario = run.SCENARIOS["conn-tls"]
    ok = {"kb_per_conn": 10.0, "max_reached": 10000, "steps": [{"n": 10000}]}
    assert run.verdict(scenario, 0.9, [ok]) == "meets target"
    assert run.verdict(scenario, 1.2, [ok]).startswith("MISSES target (KB/conn")
    short = dict(ok, max_reached=9000)
    assert "not all 10000 held" in run.verdict(scenario, 0.9, [short])
    plain = run.SCENARIOS["conn"]
    fat = {"kb_per_conn": 3.0, "max_reached": 10000, "steps": [{"n": 10000}],
           "registrations_per_s": 5000}
    assert run.verdict(plain, None, [fat]) == "MISSES target (KB/conn)"
    assert run.verdict(plain, None, [dict(fat, kb_per_conn=2.4)]) == "meets target"


def test_table_shows_ratios_to_inspircd_and_the_notes():
    """The table compares a TLS run with InspIRCd's run and prints the notes."""
    report = {"results": {"fanout100-tls": {
        "chatservice-irc": [{"deliveries_per_s": 150000, "server_cpu_pct": 100,
                             "gen_cpu_pct": 30, "gen_cpu_max_pct": 95}],
        "inspircd": [{"deliveries_per_s": 100000, "server_cpu_pct": 100, "gen_cpu_pct": 30}],
    }}, "notes": ["ngircd skipped in fanout100-ws: it has no WebSocket"]}
    text = run.table(report)
    row = next(line for line in text.splitlines() if line.startswith("chatservice-irc"))
    assert "1.50" in row and "meets target" in row
    assert "x InspIRCd per run" in text
    assert "generator CPU 95% (its busiest process)" in text
    assert "note: ngircd skipped in fanout100-ws" in text


def test_a_ratio_over_a_run_that_measured_nothing_is_doubtful():
    """A reference run that sent nothing in its window makes the verdict doubtful, with a note."""
    report = {"results": {"fanout1000-ws": {
        "chatservice-irc": [{"deliveries_per_s": 16000, "sent": 32, "server_cpu_pct": 50,
                             "gen_cpu_pct": 5, "delivered_fraction": 1.0}],
        "inspircd": [{"deliveries_per_s": 576, "sent": 0, "server_cpu_pct": 30,
                      "gen_cpu_pct": 8, "delivered_fraction": 1.0}],
    }}, "notes": []}
    text = run.table(report)
    row = next(line for line in text.splitlines() if line.startswith("chatservice-irc"))
    assert row.endswith("meets target (doubtful: see the runs' notes)")
    assert "no message sent in the measured window" in text


# Against real servers -----------------------------------------------------------

@pytest.fixture
def bench_options(tmp_path):
    o = options()
    o.certificate = run.make_certificate(tmp_path)
    return o


@pytest.fixture
def bench_server(tmp_path, bench_options):
    """C{bench_server(name, transport)}: a server started as bench/run.py starts it."""
    started = []

    def start(name: str, transport: str) -> run.Server:
        workdir = tmp_path / f"{name}-{transport}-{len(started)}"
        if name == "chatservice":
            server = run.Chatservice(bench_options, workdir, "memory", transport)
        else:
            server = run.SERVERS[name](bench_options, workdir, transport)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        alive = server.proc is not None and server.proc.poll() is None
        server.stop()
        log = (server.dir / f"{server.name}.log").read_text(errors="replace")
        assert alive, f"{server.name} died:\n{log[-2000:]}"
        assert "Traceback" not in log, log[-4000:]


def loadgen_run(*args: str, timeout: float = 60) -> dict:
    done = subprocess.run([sys.executable, str(BENCH / "loadgen.py"), *args],
                          capture_output=True, text=True, timeout=timeout)
    results = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert results, f"no result (exit {done.returncode}): {done.stderr[-2000:]}"
    return json.loads(results[-1][len("RESULT "):])


def assert_all_delivered(result: dict) -> None:
    assert "error" not in result, result
    assert result["deliveries"] > 0
    assert result["delivered_fraction"] == pytest.approx(1.0, abs=0.01), result
    assert result["dropped_conns"] == 0 and result["error_lines"] == 0, result
    assert result["lat_us"]["n"] > 0


def test_fanout_over_tls_against_chatservice(bench_server):
    """Over --irc ssl: every message reaches every member, and the result says tls."""
    server = bench_server("chatservice", "tls")
    result = loadgen_run(*server.loadgen_args("irc"), *SHORT)
    assert result["transport"] == "tls"
    assert_all_delivered(result)


def test_fanout_over_websocket_against_chatservice(bench_server):
    """Over the web listener: text.ircv3.net is agreed and every message is counted once."""
    server = bench_server("chatservice", "ws")
    result = loadgen_run(*server.loadgen_args("irc"), *SHORT, "--lat-receivers", "2")
    assert result["transport"] == "ws"
    assert result["ws_subprotocol"] == "text.ircv3.net"
    assert_all_delivered(result)


def test_binary_subprotocol_and_two_processes(bench_server):
    """binary.ircv3.net over WebSocket, with receivers spread over two generator processes."""
    server = bench_server("chatservice", "ws")
    result = loadgen_run(*server.loadgen_args("irc"), *SHORT, "--clients", "9",
                         "--ws-protocol", "binary.ircv3.net", "--procs", "2")
    assert result["ws_subprotocol"] == "binary.ircv3.net"
    assert result["gen_procs"] == 2 and len(result["gen_cpu_pcts"]) == 2
    assert_all_delivered(result)


def test_rate_over_tls_with_two_processes(bench_server):
    """The fixed-rate scenario over TLS, split over two processes, sends at the rate asked."""
    server = bench_server("chatservice", "tls")
    result = loadgen_run(*server.loadgen_args("irc"), *SHORT, "--scenario", "rate",
                         "--clients", "9", "--rate", "100", "--procs", "2")
    assert_all_delivered(result)
    assert result["sent_per_s"] == pytest.approx(100, rel=0.2)
    assert result["gen_procs"] == 2


def test_idle_tls_connections_are_held(bench_server):
    """conn over TLS: every connection signs in and the server's memory is read."""
    server = bench_server("chatservice", "tls")
    result = loadgen_run(*server.loadgen_args("irc"), "--scenario", "conn",
                         "--steps", "10,20", "--hold", "0.2", "--server-pid", str(server.pid))
    assert result["max_reached"] == 20 and not result["failed"], result
    assert result["kb_per_conn"] > 0


def test_websocket_refused_for_a_foreign_origin(bench_server):
    """A WebSocket from another origin is refused, and the run says so instead of measuring."""
    server = bench_server("chatservice", "ws")
    result = loadgen_run("--port", str(server.ws_port), "--ws",
                         "--ws-origin", "http://elsewhere.example", *SHORT)
    assert result["error"] == "setup incomplete"
    assert "WebSocket upgrade refused: HTTP/1.1 403" in result["first_error"]


def test_tls_client_on_a_plain_port_fails_cleanly(bench_server):
    """TLS to a plain IRC port ends in a handshake error for every client, not a hang."""
    server = bench_server("chatservice", "tcp")
    result = loadgen_run("--port", str(server.irc_port), "--tls", *SHORT, timeout=90)
    assert result["error"] == "setup incomplete"
    assert result["ready"] == 0
    assert "TLS handshake" in result["first_error"] or "EOF" in result["first_error"]


@pytest.mark.parametrize("name, transport", [("inspircd", "tls"), ("inspircd", "ws"),
                                             ("ngircd", "tls")])
def test_reference_servers_over_tls_and_websocket(bench_server, name, transport):
    """The configurations run.py writes give InspIRCd TLS and WebSocket, and ngIRCd TLS."""
    server = bench_server(name, transport)
    result = loadgen_run(*server.loadgen_args("irc"), *SHORT)
    assert result["transport"] == transport
    assert_all_delivered(result)


def test_certificate_is_self_signed_ecdsa(tmp_path):
    """The runner's certificate is an EC key and a certificate that openssl reads."""
    key, cert = run.make_certificate(tmp_path)
    text = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-text"],
                          capture_output=True, text=True, check=True).stdout
    assert "id-ecPublicKey" in text and "IP Address:127.0.0.1" in text
    assert key.read_text().startswith("-----BEGIN PRIVATE KEY-----")
