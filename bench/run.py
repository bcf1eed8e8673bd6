#!/usr/bin/env python3
"""
Run the benchmarks: start each server, pinned to one core, drive it with
L{loadgen} pinned to another, a few times per scenario, and print a table of
medians and of each run's ratio to ngIRCd.

Servers
=======
``chatservice``
    This repository's ``twistd -n chat`` with IRC and line chat on free
    loopback ports, flood control off, a huge send queue and per-address
    limit (the documented options), measured over IRC and over line chat.
    History is on, as in production: each run gets a fresh, empty
    ``--data-dir`` inside its work directory (the SQLite store; nothing is
    ever written to the current directory).  ``--stores sqlite,memory`` adds
    ``chatservice-irc-nopersist``, the same server with ``--no-persistence``
    (history in memory only, nothing on disk).  After a SQLite run the
    database's rows are counted and compared with the messages the generator
    sent: events the store dropped show up there.
``ngircd``, ``inspircd``
    The Debian packages (``apt-get install ngircd inspircd``), each from a
    configuration written here: loopback only, flood control relaxed, no DNS
    or ident lookups.  A server that is not installed is skipped with a note.

Each run of each scenario gets a freshly started server, so that one run's
leftovers (memory, closing connections) cannot colour the next.  Runs are
interleaved (run 1 of every server, then run 2, ...), so that a noisy
neighbour affects all servers alike, and each run's figure is compared with
ngIRCd's figure from the same run.

Scenarios
=========
``fanout100``, ``fanout1000``
    100 (1000) clients in one room, 10 senders each keeping 32 messages in
    flight: deliveries per second.
``rate``
    1000 messages per second into a room of 100: latency p50/p99/max.
``conn``
    Idle registered IRC connections in steps (1000, 5000, 10000): KB per
    connection from the server's VmRSS, registrations per second, whether
    all of them were held.  Target: <= 2.5 KB per connection, >= 2,000
    sign-ins per second.
``fanout100-tls``, ``fanout1000-tls``, ``rate-tls``, ``conn-tls``
    The same over TLS (``--irc ssl:`` for chatservice, ``ssl_gnutls`` for
    InspIRCd, ngIRCd's ``[SSL]`` ports), with a self-signed certificate made
    in the work directory; each run is compared with InspIRCd's run of the
    same round.  Targets: fan-out >= 1.0 x InspIRCd, p99 <= InspIRCd's, KB per
    connection <= InspIRCd's.
``fanout100-ws``, ``fanout1000-ws``
    The fan-out over IRC over WebSocket (text.ircv3.net; chatservice's
    ``--web`` listener, InspIRCd's ``websocket`` module; ngIRCd has none and
    is skipped with a note); target >= 1.0 x InspIRCd.
``history100``, ``history1000``
    fanout100 and fanout1000 for chatservice over IRC only, with history in
    a fresh SQLite data directory (``chatservice-irc``) and with
    ``--no-persistence`` (``chatservice-irc-nopersist``), interleaved (the
    order alternates from round to round); each run's ratio is to the
    ``--no-persistence`` run of the same round.  Target: history on >= 0.9
    x history off.  Also the server's CPU per delivery and its on/off ratio,
    in the measured window and over each server's whole life (from wait4:
    history written after the window included); CPU per delivery is far
    steadier than throughput on a shared machine, where the server often
    gets only part of its core.  The database's newest row is sampled while
    the load runs (rows stored per second against messages sent: a writer
    falling behind shows there), and after the server stopped its message
    rows are compared with the messages sent (drops show there).
    ``--experiment-nofts`` adds ``chatservice-irc-nofts``: SQLite history
    without full-text indexing of new messages (an experiment, not a
    configuration).
``writer``
    One room flooded as fast as the server accepts: 20 senders and the
    probe (no other receivers), 64 messages in flight each, over IRC with
    the SQLite store.  While it runs the database's newest row is sampled
    every 0.25 s (a second, read-only connection): stored events per second
    while the generator measures, and after the server stopped, message rows
    against messages sent.  Target: >= 20,000 stored events/s (and no
    drops).  The server's intake bounds the figure, so it also prints stored
    events per second of server CPU: what one whole core would store at that
    pace.  ``bench/history.py store`` measures the store alone.

The history scenarios are not in the default ``--scenarios`` (the
comparison with ngIRCd and InspIRCd); the general scenarios run chatservice
with SQLite history, as deployed.

When one generator process is the bottleneck (its CPU near 100 %, flagged in
the table), ``--gen-procs 2 --gen-cpu 1,2`` spreads the receivers over two
processes on two cores (the server keeps ``--server-cpu``).

Absolute figures depend on the machine and on whatever else runs on it; the
ratios to ngIRCd measured in the same run are what count.

    python bench/run.py                      # everything, 3 runs each
    python bench/run.py --quick              # a smoke test: 1 short run
    python bench/run.py --servers chatservice,ngircd --scenarios fanout1000 --runs 5
    python bench/run.py --servers chatservice --scenarios history100,history1000,writer
    python bench/run.py --scenarios fanout100-tls,fanout1000-tls,fanout100-ws,rate-tls,conn-tls

The latency of ``CHATHISTORY LATEST`` on a big room, and the store's own
write and read rates, are measured by ``bench/history.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LOADGEN = HERE / "loadgen.py"

# ngIRCd: penalties off (MaxPenaltyTime = 0), no connection limits; senders
# also OPER up and set user mode +F, which exempts them from throttling.
NGIRCD_CONF = """\
[Global]
\tName = bench.ngircd.local
\tInfo = chatservice benchmark
\tListen = 127.0.0.1
\tPorts = {port}
\tMotdPhrase = bench
\tServerUID = {uid}
\tServerGID = {gid}

[Limits]
\tMaxConnections = 0
\tMaxConnectionsIP = 0
\tMaxJoins = 0
\tMaxNickLength = 16
\tMaxPenaltyTime = 0
\tPingTimeout = 600
\tPongTimeout = 120

[Options]
\tDNS = no
\tIdent = no
\tPAM = no
\tOperCanUseMode = yes
\tConnectIPv6 = no
\tConnectIPv4 = yes

[Operator]
\tName = bench
\tPassword = benchpass
"""

# InspIRCd 3: command rate and flood threshold out of reach, no fake lag,
# large send and receive queues, no clone limits, no DNS or ident lookups.
INSPIRCD_CONF = """\
<server name="bench.inspircd.local" description="chatservice benchmark" network="Bench">
<admin name="bench" nick="bench" email="bench@localhost">
<bind address="127.0.0.1" port="{port}" type="clients">
<connect name="main" allow="*" timeout="60" pingfreq="600" maxchans="100"
         hardsendq="64M" softsendq="64M" recvq="8M"
         threshold="1000000000" commandrate="1000000000" fakelag="no"
         localmax="100000" globalmax="100000" maxconnwarn="no"
         resolvehostnames="no" useident="no" limit="100000">
<performance netbuffersize="65536" somaxconn="4096" softlimit="{softlimit}"
             clonesonconnect="no" quietbursts="yes">
<pid file="{dir}/inspircd.pid">
<path configdir="/etc/inspircd" datadir="{dir}" logdir="{dir}" moduledir="{moduledir}">
<options allowzerolimit="no">
<security hideserver="" announceinvites="dynamic" hidesplits="no" hidebans="no"
          maxtargets="20" hidewhois="">
<dns server="127.0.0.1" timeout="1">
"""

# InspIRCd over TLS (Debian's ssl_gnutls module) and over WebSocket (its
# websocket module, text frames by default, any origin), each on a port of
# its own beside the plain one.
INSPIRCD_TLS = """\
<module name="ssl_gnutls">
<sslprofile name="bench" provider="gnutls" certfile="{cert}" keyfile="{key}"
            dhfile="" hash="sha256" requestclientcert="no">
<bind address="127.0.0.1" port="{tls_port}" type="clients" sslprofile="bench">
"""
INSPIRCD_WS = """\
<module name="sha1">
<module name="websocket">
<websocket defaultmode="text">
<wsorigin allow="*">
<bind address="127.0.0.1" port="{ws_port}" type="clients" hook="websocket">
"""

# ngIRCd over TLS, on a port of its own beside the plain one.
NGIRCD_TLS = """\

[SSL]
\tCertFile = {cert}
\tKeyFile = {key}
\tPorts = {tls_port}
"""


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    args: tuple[str, ...]
    metric: str            # what the table shows
    unit: str
    higher_is_better: bool
    target: str            # what chatservice should reach, in words
    irc_only: bool = False
    # The targets this scenario runs (labels), if not every one selected.
    only: tuple[str, ...] = ()
    # The target each run is compared with (its run in the same round).
    reference: str = "ngircd"
    # Sample the database's newest row while the generator runs.
    sample_db: bool = False
    # How the generator reaches the server: tcp, tls (IRC over TLS) or ws
    # (IRC over WebSocket, text.ircv3.net).
    transport: str = "tcp"

    @property
    def kind(self) -> str:
        """fanout, rate, conn, history or writer: what is measured, and how."""
        return self.name.split("-")[0].rstrip("0123456789")


SCENARIOS = {
    "fanout100": Scenario(
        "fanout100", "fan-out, 100 clients / 10 senders",
        ("--scenario", "fanout", "--clients", "100", "--senders", "10", "--window", "32"),
        "deliveries/s", "", True, ">= 1.52 x ngIRCd (miniircd's ratio)"),
    "fanout1000": Scenario(
        "fanout1000", "fan-out, 1000 clients / 10 senders",
        ("--scenario", "fanout", "--clients", "1000", "--senders", "10", "--window", "32"),
        "deliveries/s", "", True, ">= 1.0 x ngIRCd"),
    "rate": Scenario(
        "rate", "latency at 1000 msg/s into 100 clients",
        ("--scenario", "rate", "--clients", "100", "--senders", "10", "--rate", "1000"),
        "p99 latency", "ms", False, "p99 <= 1.5 x ngIRCd"),
    "conn": Scenario(
        "conn", "idle registered connections",
        ("--scenario", "conn",),
        "KB/conn", "KB", False, "<= 2.5 KB/conn at 10,000 held; >= 2,000 registrations/s",
        irc_only=True),
    "fanout100-tls": Scenario(
        "fanout100-tls", "fan-out over TLS, 100 clients / 10 senders",
        ("--scenario", "fanout", "--clients", "100", "--senders", "10", "--window", "32"),
        "deliveries/s", "", True, ">= 1.0 x InspIRCd", irc_only=True,
        reference="inspircd", transport="tls"),
    "fanout1000-tls": Scenario(
        "fanout1000-tls", "fan-out over TLS, 1000 clients / 10 senders",
        ("--scenario", "fanout", "--clients", "1000", "--senders", "10", "--window", "32"),
        "deliveries/s", "", True, ">= 1.0 x InspIRCd", irc_only=True,
        reference="inspircd", transport="tls"),
    "fanout100-ws": Scenario(
        "fanout100-ws", "fan-out over WebSocket, 100 clients / 10 senders",
        ("--scenario", "fanout", "--clients", "100", "--senders", "10", "--window", "32"),
        "deliveries/s", "", True, ">= 1.0 x InspIRCd", irc_only=True,
        reference="inspircd", transport="ws"),
    "fanout1000-ws": Scenario(
        "fanout1000-ws", "fan-out over WebSocket, 1000 clients / 10 senders",
        ("--scenario", "fanout", "--clients", "1000", "--senders", "10", "--window", "32"),
        "deliveries/s", "", True, ">= 1.0 x InspIRCd", irc_only=True,
        reference="inspircd", transport="ws"),
    "rate-tls": Scenario(
        "rate-tls", "latency over TLS at 1000 msg/s into 100 clients",
        ("--scenario", "rate", "--clients", "100", "--senders", "10", "--rate", "1000"),
        "p99 latency", "ms", False, "p99 <= 1.0 x InspIRCd", irc_only=True,
        reference="inspircd", transport="tls"),
    "conn-tls": Scenario(
        "conn-tls", "idle registered connections over TLS",
        ("--scenario", "conn",),
        "KB/conn", "KB", False, "<= 1.0 x InspIRCd's KB/conn, all 10,000 held",
        irc_only=True, reference="inspircd", transport="tls"),
    "history100": Scenario(
        "history100", "fan-out with history on (SQLite) and off, 100 clients / 10 senders",
        ("--scenario", "fanout", "--clients", "100", "--senders", "10", "--window", "32"),
        "deliveries/s", "", True, ">= 0.9 x --no-persistence",
        only=("chatservice-irc", "chatservice-irc-nopersist"),
        reference="chatservice-irc-nopersist", sample_db=True),
    "history1000": Scenario(
        "history1000", "fan-out with history on (SQLite) and off, 1000 clients / 10 senders",
        ("--scenario", "fanout", "--clients", "1000", "--senders", "10", "--window", "32"),
        "deliveries/s", "", True, ">= 0.9 x --no-persistence",
        only=("chatservice-irc", "chatservice-irc-nopersist"),
        reference="chatservice-irc-nopersist", sample_db=True),
    "writer": Scenario(
        "writer", "one room flooded: 20 senders + the probe, SQLite history",
        ("--scenario", "fanout", "--clients", "21", "--senders", "20", "--window", "64"),
        "stored events/s", "", True, ">= 20,000 stored events/s, none dropped",
        only=("chatservice-irc",), reference="", sample_db=True),
}
RATIO_TARGETS = {"fanout100": (">=", 1.52), "fanout1000": (">=", 1.0), "rate": ("<=", 1.5),
                 "history100": (">=", 0.9), "history1000": (">=", 0.9),
                 "fanout100-tls": (">=", 1.0), "fanout1000-tls": (">=", 1.0),
                 "fanout100-ws": (">=", 1.0), "fanout1000-ws": (">=", 1.0),
                 "rate-tls": ("<=", 1.0), "conn-tls": ("<=", 1.0)}
# Plain idle connections: KB per connection, and sign-ins per second.
CONN_KB_TARGET = 2.5
CONN_REGS_TARGET = 2000
WRITER_TARGET = 20_000


# Servers ---------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with status {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"not listening on port {port} after {timeout:.0f} s")


TRANSPORT_NAMES = {"tcp": "plain TCP", "tls": "TLS", "ws": "WebSocket"}


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """
    A self-signed certificate (ECDSA P-256, valid for two days) for the
    servers' TLS ports: (key path, certificate path).  The generator checks
    no certificate, so that nothing but the TLS itself is measured.
    """
    key, cert = directory / "key.pem", directory / "cert.pem"
    openssl = shutil.which("openssl")
    if openssl is None:
        raise SystemExit("the TLS scenarios need openssl (apt-get install openssl)")
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-days", "2",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return key, cert


def pinned(cpu: str | None, argv: list[str]) -> list[str]:
    if cpu is None or cpu == "" or not shutil.which("taskset"):
        return argv
    return ["taskset", "-c", cpu, *argv]


class Server:
    """A server process started for one run of one scenario."""

    name = ""
    proc: subprocess.Popen | None = None
    stop_timeout = 10
    stop_s = 0.0
    # The server's CPU over its whole life, all threads (from wait4), once
    # it has stopped: the work done after the generator's window (a history
    # writer catching up, the final flush) included.
    cpu_total_s: float | None = None
    database: Path | None = None

    def reap(self, timeout: float) -> float | None:
        """Wait for the process to end (killing it after C{timeout}); its CPU seconds."""
        proc = self.proc
        deadline = time.monotonic() + timeout
        while True:
            try:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            except ChildProcessError:
                proc.wait()
                return None
            if pid:
                proc.returncode = os.waitstatus_to_exitcode(status)
                return usage.ru_utime + usage.ru_stime
            if time.monotonic() > deadline:
                proc.kill()
                _, status, usage = os.wait4(proc.pid, 0)
                proc.returncode = os.waitstatus_to_exitcode(status)
                return usage.ru_utime + usage.ru_stime
            time.sleep(0.02)

    # The transports (Scenario.transport) this server speaks.
    transports = ("tcp", "tls")

    def __init__(self, o: argparse.Namespace, workdir: Path, transport: str = "tcp"):
        self.o = o
        self.dir = workdir
        self.log = None
        self.transport = transport
        # The port the generator is pointed at, beside the plain ones.
        self.tls_port = free_port() if transport == "tls" else 0
        self.ws_port = free_port() if transport == "ws" else 0

    @classmethod
    def missing(cls, o) -> str | None:
        """Why this server cannot run here, or None."""
        return None

    @property
    def certificate(self) -> tuple[Path, Path]:
        """(key, certificate): the run's self-signed pair (L{make_certificate})."""
        return self.o.certificate

    def transport_args(self, port: int) -> list[str]:
        """The generator's options for this server's transport: port and TLS or WS."""
        if self.transport == "tls":
            return ["--port", str(self.tls_port), "--tls"]
        if self.transport == "ws":
            # As from a page of the server's own origin: InspIRCd refuses a
            # WebSocket without an Origin, chatservice one from elsewhere.
            return ["--port", str(self.ws_port), "--ws",
                    "--ws-origin", f"http://127.0.0.1:{self.ws_port}"]
        return ["--port", str(port)]

    def extra_ports(self) -> list[int]:
        return [p for p in (self.tls_port, self.ws_port) if p]

    def command(self) -> list[str]:
        raise NotImplementedError

    def ports(self) -> list[int]:
        raise NotImplementedError

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log = open(self.dir / f"{self.name}.log", "ab")
        self.proc = subprocess.Popen(pinned(self.o.server_cpu, self.command()),
                                     cwd=self.dir, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     env=self.env(), start_new_session=True)
        try:
            for port in self.ports():
                wait_port(port, self.proc)
        except RuntimeError as problem:
            self.stop()
            tail = (self.dir / f"{self.name}.log").read_bytes()[-600:].decode("utf-8", "replace")
            raise RuntimeError(f"{self.name} {problem}; log ends:\n{tail}") from None

    def env(self) -> dict:
        return dict(os.environ)

    @property
    def pid(self) -> int:
        return self.proc.pid  # taskset execs the server: same process

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            t0 = time.monotonic()
            self.proc.send_signal(signal.SIGTERM)
            self.cpu_total_s = self.reap(self.stop_timeout)
            self.stop_s = time.monotonic() - t0
        self.proc = None
        if self.log:
            self.log.close()

    def loadgen_args(self, mode: str) -> list[str]:
        raise NotImplementedError


def prepare_without_fts(data_dir: Path) -> None:
    """
    An experiment, not a configuration (--experiment-nofts): a fresh
    database made by the store itself, whose full-text index then loses its
    insert trigger, so that the server writes history without indexing
    messages for search (the store keeps the index table, so it does not
    build it again on start).  What the index costs the fan-out.
    """
    sys.path.insert(0, str(REPO))
    from twisted.internet.task import Clock

    from chatservice.store.sqlite import SQLiteStore

    SQLiteStore.open(str(data_dir), Clock()).close()
    con = sqlite3.connect(data_dir / "chatservice.sqlite3")
    try:
        con.execute("DROP TRIGGER IF EXISTS events_fts_insert")
        con.commit()
    finally:
        con.close()


class Chatservice(Server):
    """
    chatservice with its history in a fresh SQLite data directory inside the
    run's work directory (C{history="sqlite"}, the production default) or in
    memory (C{"memory"}: C{--no-persistence}, nothing on disk).
    """

    name = "chatservice"
    # Stopping writes what the store still has queued: give it time.
    stop_timeout = 120

    transports = ("tcp", "tls", "ws")

    def __init__(self, o, workdir, history="sqlite", transport="tcp"):
        super().__init__(o, workdir, transport)
        self.line_port = free_port()
        self.irc_port = free_port()
        self.history = history
        self.data_dir = workdir / "data"

    @property
    def database(self) -> Path | None:
        return self.data_dir / "chatservice.sqlite3" if self.history != "memory" else None

    def start(self) -> None:
        if self.history == "sqlite-nofts":
            prepare_without_fts(self.data_dir)
        super().start()

    @classmethod
    def twistd(cls, o) -> str | None:
        if o.twistd:
            return o.twistd
        beside = Path(sys.executable).parent / "twistd"
        return str(beside) if beside.exists() else shutil.which("twistd")

    @classmethod
    def missing(cls, o):
        return None if cls.twistd(o) else "twistd not found (pip install twisted)"

    def command(self):
        return [self.twistd(self.o), "-n", "--pidfile=", "chat",
                "--port", f"tcp:{self.line_port}:interface=127.0.0.1",
                "--irc", f"tcp:{self.irc_port}:interface=127.0.0.1",
                "--no-flood-control", "--max-send-queue", "1000000000",
                "--max-per-address", "1000000", "--registration-timeout", "600",
                *(["--data-dir", str(self.data_dir)] if self.history != "memory"
                  else ["--no-persistence"]),
                *self.listeners()]

    def listeners(self) -> list[str]:
        """IRC over TLS (--irc ssl:) or the web listener (IRC over WebSocket)."""
        if self.tls_port:
            key, cert = self.certificate
            return ["--irc", f"ssl:{self.tls_port}:privateKey={key}:certKey={cert}"
                             ":interface=127.0.0.1"]
        if self.ws_port:
            return ["--web", f"tcp:{self.ws_port}:interface=127.0.0.1"]
        return []

    def env(self):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
        return env

    def ports(self):
        return [self.line_port, self.irc_port, *self.extra_ports()]

    def loadgen_args(self, mode):
        if mode == "line":
            return ["--mode", "line", "--port", str(self.line_port)]
        return ["--mode", "irc", *self.transport_args(self.irc_port)]


class Ngircd(Server):
    name = "ngircd"
    # ngIRCd has no WebSocket.
    transports = ("tcp", "tls")

    def __init__(self, o, workdir, transport="tcp"):
        super().__init__(o, workdir, transport)
        self.port = free_port()

    @classmethod
    def missing(cls, o):
        return None if shutil.which("ngircd") or Path("/usr/sbin/ngircd").exists() \
            else "not installed (apt-get install ngircd)"

    def command(self):
        conf = self.dir / "ngircd.conf"
        text = NGIRCD_CONF.format(port=self.port, uid=os.getuid(), gid=os.getgid())
        if self.tls_port:
            key, cert = self.certificate
            text += NGIRCD_TLS.format(cert=cert, key=key, tls_port=self.tls_port)
        conf.write_text(text)
        return [shutil.which("ngircd") or "/usr/sbin/ngircd", "-n", "-f", str(conf)]

    def ports(self):
        return [self.port, *self.extra_ports()]

    def loadgen_args(self, mode):
        return ["--mode", "irc", *self.transport_args(self.port),
                "--oper", "bench:benchpass", "--oper-umode", "+F"]


class Inspircd(Server):
    name = "inspircd"
    transports = ("tcp", "tls", "ws")

    def __init__(self, o, workdir, transport="tcp"):
        super().__init__(o, workdir, transport)
        self.port = free_port()

    @classmethod
    def binary(cls):
        return shutil.which("inspircd") or (
            "/usr/sbin/inspircd" if Path("/usr/sbin/inspircd").exists() else None)

    @classmethod
    def missing(cls, o):
        return None if cls.binary() else "not installed (apt-get install inspircd)"

    def command(self):
        conf = self.dir / "inspircd.conf"
        moduledir = next((d for d in ("/usr/lib/inspircd/modules",
                                      "/usr/lib/x86_64-linux-gnu/inspircd/modules")
                          if Path(d).is_dir()), "/usr/lib/inspircd/modules")
        softlimit = max(1024, resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 64)
        text = INSPIRCD_CONF.format(port=self.port, dir=self.dir, moduledir=moduledir,
                                    softlimit=softlimit)
        if self.tls_port:
            key, cert = self.certificate
            text += INSPIRCD_TLS.format(cert=cert, key=key, tls_port=self.tls_port)
        if self.ws_port:
            text += INSPIRCD_WS.format(ws_port=self.ws_port)
        conf.write_text(text)
        argv = [self.binary(), "--nofork", "--config", str(conf)]
        if os.geteuid() == 0:
            argv.append("--runasroot")
        return argv

    def ports(self):
        return [self.port, *self.extra_ports()]

    def loadgen_args(self, mode):
        # InspIRCd completes registrations in a once-a-second background
        # pass: with only 64 sign-ins in flight it registers 64 a second.
        return ["--mode", "irc", *self.transport_args(self.port), "--conc", "1000"]


SERVERS = {"chatservice": Chatservice, "ngircd": Ngircd, "inspircd": Inspircd}


@dataclass(frozen=True)
class Target:
    """A server measured over one wire mode (chatservice: with one history store)."""

    server: str
    mode: str
    history: str = "sqlite"   # chatservice: "sqlite" (fresh --data-dir) or "memory"

    @property
    def label(self) -> str:
        if self.server != "chatservice":
            return self.server
        return f"{self.server}-{self.mode}" + {"memory": "-nopersist",
                                               "sqlite-nofts": "-nofts"}.get(self.history, "")

    def make(self, o, workdir: Path, transport: str = "tcp") -> Server:
        if self.server == "chatservice":
            return Chatservice(o, workdir, self.history, transport)
        return SERVERS[self.server](o, workdir, transport)


# The database ------------------------------------------------------------------

def db_connect(path: Path) -> sqlite3.Connection:
    """A read-only connection to a chatservice database (the server may be running)."""
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)


def db_summary(path: Path | None) -> dict:
    """
    What a stopped server's database holds: rows of history, and of those
    the messages (the generator's messages, as opposed to joins and quits).
    """
    if path is None:
        return {}
    if not path.exists():
        return {"db_error": f"no database at {path}"}
    try:
        con = db_connect(path)
        try:
            return history_rows(con)
        finally:
            con.close()
    except sqlite3.Error as problem:
        return {"db_error": f"{path}: {problem}"}


def history_rows(con: sqlite3.Connection) -> dict:
    """Rows of the events table (chatservice/store/schema.py), by type."""
    by_type = dict(con.execute("SELECT type, COUNT(*) FROM events GROUP BY type"))
    return {"db_rows": sum(by_type.values()), "db_messages": by_type.get("message", 0),
            "db_by_type": by_type}


# Rows of history inserted so far, cheap enough to run four times a second:
# the events table is a rowid table, and rowids grow by one per insert.
ROWS_SQL = "SELECT MAX(rowid) FROM events"


class RowSampler(threading.Thread):
    """
    Samples a running server's database every C{every} seconds, through its
    own read-only connection: (wall time, rows of history).
    """

    def __init__(self, path: Path, every: float = 0.25):
        super().__init__(daemon=True)
        self.path = path
        self.every = every
        self.samples: list[tuple[float, int]] = []
        self.errors = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        con = None
        last = False
        while not last:
            # One more sample once asked to stop: the generator has finished,
            # so the last one comes after the end of its measured window.
            last = self.stopping.wait(self.every)
            try:
                if con is None:
                    con = db_connect(self.path)
                n = con.execute(ROWS_SQL).fetchone()[0] or 0
                self.samples.append((time.time(), n))
            except sqlite3.Error:
                self.errors += 1
        if con is not None:
            con.close()

    def stop(self) -> None:
        self.stopping.set()
        self.join()

    def rate(self, start: float, end: float) -> float | None:
        """Rows stored per second between the wall times C{start} and C{end}."""
        a, b = self.at(start), self.at(end)
        return (b - a) / (end - start) if a is not None and b is not None and end > start \
            else None

    def at(self, when: float) -> float | None:
        """Rows at C{when}, interpolated between the samples around it."""
        s = self.samples
        for (t0, n0), (t1, n1) in zip(s, s[1:]):
            if t0 <= when <= t1:
                return n0 + (n1 - n0) * (when - t0) / (t1 - t0) if t1 > t0 else n1
        return None


# Running ---------------------------------------------------------------------

@dataclass
class Outcome:
    result: dict | None = None
    human: str = ""
    error: str = ""
    extra: dict = field(default_factory=dict)


def run_loadgen(o, scenario: Scenario, server: Server, target: Target, run: int) -> Outcome:
    args = list(scenario.args) + server.loadgen_args(target.mode)
    if scenario.kind == "conn":
        args += ["--steps", o.steps]
    else:
        args += ["--duration", str(o.duration), "--warmup", str(o.warmup)]
        if o.gen_procs > 1:
            args += ["--procs", str(o.gen_procs)]
    args += ["--server-pid", str(server.pid), "--label", f"{target.label}#{run}"]
    args += o.loadgen_args.split()
    if o.chatbench:
        argv = [o.chatbench, *chatbench_args(args)]
    else:
        argv = [sys.executable, str(LOADGEN), *args]
    if o.verbose:
        print("  $", " ".join(argv), file=sys.stderr)
    try:
        done = subprocess.run(pinned(o.gen_cpu, argv), capture_output=True, text=True,
                              timeout=o.timeout)
    except subprocess.TimeoutExpired:
        return Outcome(error=f"load generator timed out after {o.timeout} s")
    outcome = Outcome()
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            outcome.result = json.loads(line[len("RESULT "):])
        elif line.strip():
            outcome.human = line.strip()
    if outcome.result is None:
        outcome.error = (f"no result (exit {done.returncode}): "
                         + (done.stderr.strip().splitlines() or ["?"])[-1][:300])
    elif "error" in outcome.result:
        outcome.error = f"{outcome.result['error']}: {outcome.result.get('first_error', '')}"
    if done.stderr.strip() and o.verbose:
        print(done.stderr, file=sys.stderr)
    return outcome


def writer_figures(entry: dict, sampler: RowSampler) -> dict:
    """Stored rows per second while the generator measured, from the samples."""
    start, end = entry.get("measure_start_unix"), entry.get("measure_end_unix")
    out: dict = {"db_samples": len(sampler.samples), "db_sample_errors": sampler.errors}
    if start is None or end is None:
        return out
    rate = sampler.rate(start, end)
    if rate is not None:
        out["stored_per_s"] = round(rate, 1)
    s = sampler.samples
    steps = [(n1 - n0) / (t1 - t0) for (t0, n0), (t1, n1) in zip(s, s[1:])
             if t0 >= start and t1 <= end and t1 > t0]
    if steps:
        out["stored_per_s_best_sample"] = round(max(steps), 1)
    return out


def store_line(entry: dict) -> str:
    """The database after a run, for people."""
    if entry.get("db_error"):
        return f"database: {entry['db_error']}"
    parts = []
    sent = entry.get("total_sent")
    msgs = entry.get("db_messages")
    if msgs is not None and sent is not None:
        parts.append(f"messages sent {sent}, message rows {msgs}")
        if sent is not None:
            parts.append(f"missing {sent - msgs}")
    if entry.get("db_rows") is not None:
        parts.append(f"rows {entry['db_rows']}")
    elif entry.get("db_tables"):
        parts.append("tables " + " ".join(f"{k}={v}" for k, v in entry["db_tables"].items()))
    if entry.get("stored_per_s") is not None:
        parts.append(f"stored {entry['stored_per_s']:.0f}/s while measured "
                     f"(sent {entry.get('sent_per_s', 0):.0f}/s)")
    parts.append(f"stop (final flush) {entry.get('stop_s', 0):.1f}s")
    return "database: " + ", ".join(parts)


def chatbench_args(args: list[str]) -> list[str]:
    """The same run for the reference C generator (to cross-check loadgen.py)."""
    out, it = [], iter(args)
    for a in it:
        if a == "--scenario":
            value = next(it)
            out += ["--scenario", "conn" if value == "conn" else "fanout"]
        else:
            out.append(a)
    if "line" in args:
        out += ["--prompt", "nickname", "--ack", "*** You joined"]
    if "--steps" not in args and "--rate" not in args:
        out += ["--min-poll-us", "500"]
    return out


def value_of(scenario: Scenario, result: dict | None) -> float | None:
    if not result or "error" in result:
        return None
    if scenario.kind in ("fanout", "history"):
        return result.get("deliveries_per_s")
    if scenario.kind == "writer":
        return result.get("stored_per_s")
    if scenario.kind == "rate":
        p99 = result.get("lat_us", {}).get("p99", -1)
        return p99 / 1000 if p99 is not None and p99 >= 0 else None
    if scenario.kind == "conn":
        kb = result.get("kb_per_conn")
        if kb is None:  # chatbench: the last step's figure
            steps = result.get("steps") or [{}]
            kb = steps[-1].get("kb_per_conn")
        return kb if kb is not None and kb >= 0 else None
    return None


def cpu_cost(scenario: Scenario, result: dict | None) -> float | None:
    """
    Server CPU per unit of work, in microseconds: per delivery (fan-out),
    per stored event (writer).  On a shared machine the server often gets
    only part of its core, and throughput then measures the neighbours; the
    CPU the server spent per delivery is far less sensitive to them.  With
    history on it includes the writer thread (same process).
    """
    if not result or "error" in result:
        return None
    cpu = result.get("server_cpu_pct")
    per_s = value_of(scenario, result) if scenario.kind in ("writer", "fanout", "history") \
        else None
    if cpu is None or cpu < 0 or not per_s:
        return None
    return cpu / 100 / per_s * 1e6


def cpu_cost_total(result: dict | None) -> float | None:
    """
    Server CPU per delivery over the server's whole life, in microseconds:
    start, sign-ins, every message (warm-up and drain too) and the stop with
    its final flush, over every delivery the generator counted.  Unlike
    L{cpu_cost}, this includes history written after the measured window.
    """
    if not result or "error" in result:
        return None
    cpu, deliveries = result.get("server_cpu_total_s"), result.get("total_deliveries")
    return cpu / deliveries * 1e6 if cpu and deliveries else None


def registrations_per_s(result: dict | None, overall: bool = False) -> float | None:
    """
    Sign-ins per second: in the steady middle of each step (loadgen's figure),
    or over the steps' whole duration, stragglers included (a connection
    dropped by a full listen queue waits a second for its SYN to be resent).
    """
    if not result or "error" in result:
        return None
    key = "registrations_per_s_overall" if overall else "registrations_per_s"
    if key in result:
        return result[key]
    steps = result.get("steps") or []
    total = sum(s.get("setup_s", 0) for s in steps)
    return result.get("max_reached", 0) / total if total else None


def doubtful(result: dict | None) -> bool:
    """A run whose figure says little: not all delivered, or nothing measured."""
    if not result or "error" in result:
        return True
    return bool(result.get("flood_suspected") or result.get("delivered_fraction", 1) < 0.99
                or result.get("sent", 1) == 0)


def problems(scenario: Scenario, result: dict | None) -> list[str]:
    """What makes a run's figure doubtful."""
    if not result:
        return []
    notes = []
    if scenario.kind == "conn":
        steps = result.get("steps") or []
        want = steps[-1]["n"] if steps else 0
        if result.get("max_reached", 0) < want:
            notes.append(f"held {result.get('max_reached')} of {want}")
        if result.get("dropped") or result.get("failed"):
            notes.append(f"{result.get('failed', 0)} failed, {result.get('dropped', 0)} dropped")
        return notes
    busiest = result.get("gen_cpu_max_pct", result.get("gen_cpu_pct", 0))
    if busiest > 90:
        notes.append(f"generator CPU {busiest:.0f}% (its busiest process): it may be the "
                     "bottleneck (--gen-procs 2 with a core each: --gen-cpu 1,2)")
    if result.get("flood_suspected"):
        notes.append("flood control suspected (stalls, losses, notices or drops)")
    if result.get("delivered_fraction", 1) < 0.99:
        notes.append(f"delivered {result['delivered_fraction']:.3f}")
    if result.get("sent", 1) == 0:
        notes.append("no message sent in the measured window: every sender's window "
                     "was full (latency beyond --duration)")
    if "db_messages" in result or "db_error" in result or "stop_s" in result:
        notes.append(store_line(result))
    return notes


def choose(o, scenarios: list[Scenario]) -> tuple[dict[str, list[Target]], list[str]]:
    """
    The targets each scenario runs, by scenario name, and notes on what is
    left out (a server not installed, or without the scenario's transport).
    """
    servers = []
    notes = []
    for name in o.servers:
        why = SERVERS[name].missing(o)
        if why:
            notes.append(f"{name} skipped: {why}")
        else:
            servers.append(name)
    # The targets the general scenarios run: chatservice over each mode with
    # the production default (SQLite history), and --no-persistence over IRC
    # if --stores asks for it; ngIRCd and InspIRCd over IRC.
    general = []
    for name in servers:
        if name == "chatservice":
            general += [Target(name, m) for m in ("irc", "line") if m in o.modes]
            if "memory" in o.stores and "irc" in o.modes:
                general.append(Target(name, "irc", "memory"))
            if "sqlite" not in o.stores:
                general = [t for t in general if t.history != "sqlite"]
        else:
            general.append(Target(name, "irc"))
    known = {t.label: t for t in (Target("chatservice", "irc"),
                                  Target("chatservice", "irc", "memory"),
                                  Target("chatservice", "irc", "sqlite-nofts"))}
    chosen: dict[str, list[Target]] = {}
    for scenario in scenarios:
        if scenario.only:
            labels = list(scenario.only)
            if o.experiment_nofts and scenario.kind == "history":
                labels.insert(1, "chatservice-irc-nofts")
            chosen[scenario.name] = ([known[label] for label in labels]
                                     if "chatservice" in servers else [])
        else:
            chosen[scenario.name] = [t for t in general
                                     if not (scenario.irc_only and t.mode != "irc")
                                     and scenario.transport in SERVERS[t.server].transports]
            for t in general:
                if scenario.transport not in SERVERS[t.server].transports:
                    notes.append(f"{t.label} skipped in {scenario.name}: it has no "
                                 f"{TRANSPORT_NAMES[scenario.transport]}")
    return chosen, notes


def run_all(o) -> dict:
    workroot = Path(tempfile.mkdtemp(prefix="chatservice-bench-"))
    os.chmod(workroot, 0o755)
    scenarios = [SCENARIOS[s] for s in o.scenarios]
    chosen, notes = choose(o, scenarios)
    targets = list({t.label: t for ts in chosen.values() for t in ts}.values())
    o.certificate = None
    if any(s.transport == "tls" for s in scenarios):
        o.certificate = make_certificate(workroot)
    results: dict = {s.name: {t.label: [] for t in chosen[s.name]} for s in scenarios}
    for note in notes:
        print(f"note: {note}")
    for run in range(1, o.runs + 1):
        for scenario in scenarios:
            order = chosen[scenario.name]
            if scenario.only and run % 2 == 0:
                # A-B, B-A, ...: neither side always runs first in a round.
                order = order[::-1]
            for target in order:
                workdir = workroot / f"{scenario.name}-{target.label}-{run}"
                server = target.make(o, workdir, scenario.transport)
                print(f"[run {run}/{o.runs}] {scenario.name:11} {target.label:25} ",
                      end="", flush=True)
                try:
                    server.start()
                except RuntimeError as problem:
                    print(f"FAILED TO START: {problem}")
                    results[scenario.name][target.label].append(
                        {"error": f"start: {problem}"})
                    continue
                sampler = None
                if scenario.sample_db and server.database is not None:
                    sampler = RowSampler(server.database)
                    sampler.start()
                try:
                    time.sleep(o.settle)
                    outcome = run_loadgen(o, scenario, server, target, run)
                finally:
                    alive = server.proc is not None and server.proc.poll() is None
                    if sampler is not None:
                        sampler.stop()
                    server.stop()
                if not alive:
                    outcome.error = (outcome.error + "; " if outcome.error else "") + \
                        "the server died during the run"
                entry = outcome.result or {}
                if server.cpu_total_s is not None:
                    entry["server_cpu_total_s"] = round(server.cpu_total_s, 3)
                if server.database is not None:
                    entry.update(db_summary(server.database))
                    entry["stop_s"] = round(server.stop_s, 2)
                    if sampler is not None:
                        entry.update(writer_figures(entry, sampler))
                if outcome.error:
                    entry = dict(entry, error=outcome.error)
                print(outcome.error or outcome.human)
                if server.database is not None:
                    print(f"{'':50}{store_line(entry)}")
                results[scenario.name][target.label].append(entry)
                time.sleep(0.3)
    if not o.keep:
        shutil.rmtree(workroot, ignore_errors=True)
    else:
        print(f"logs kept in {workroot}")
    return {"results": results, "notes": notes, "targets": [t.label for t in targets],
            "options": {k: v for k, v in vars(o).items()}}


# The table -------------------------------------------------------------------

def fmt(value: float | None, scenario: Scenario) -> str:
    if value is None:
        return "-"
    if scenario.kind in ("fanout", "history"):
        return f"{value / 1e6:.3f}M" if value >= 1e6 else f"{value / 1e3:.0f}k"
    if scenario.kind == "writer":
        return f"{value / 1e3:.1f}k"
    if scenario.kind == "rate":
        return f"{value:.2f}ms"
    return f"{value:.2f}KB"


def median(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio_str(r: float | None) -> str:
    return "-" if r is None else f"{r:.2f}"


def table(report: dict) -> str:
    out = []
    results = report["results"]
    for name, by_target in results.items():
        scenario = SCENARIOS[name]
        better = "higher" if scenario.higher_is_better else "lower"
        out.append("")
        out.append(f"== {scenario.title}: {scenario.metric} ({better} is better); "
                   f"chatservice target: {scenario.target}")
        ref = scenario.reference
        base = by_target.get(ref, []) if ref else []
        base_values = [value_of(scenario, r) for r in base]
        ref_name = {"ngircd": "ngIRCd", "inspircd": "InspIRCd", "": "-",
                    "chatservice-irc-nopersist": "nopersist"}.get(ref, ref)
        head = (f"{'server':26} {'median':>9} {'per run':<30} "
                f"{'x ' + ref_name + ' per run':<22} {'median x':>8}")
        if scenario.kind == "conn":
            head += f" {'reg/s':>7} {'overall':>7} {'held':>6}"
        else:
            head += f" {'srv cpu':>7} {'gen cpu':>7}"
            if scenario.kind in ("fanout", "history") or scenario.kind == "writer":
                head += f" {'cpu us/' + ('ev' if scenario.kind == 'writer' else 'deliv'):>12}"
        out.append(head)
        for label, runs in by_target.items():
            if not runs:
                continue
            values = [value_of(scenario, r) for r in runs]
            ratios = []
            for i, v in enumerate(values):
                b = base_values[i] if i < len(base_values) else None
                ratios.append(v / b if v is not None and b else None)
            med_ratio = median(ratios)
            compared = ref and label != ref
            row = (f"{label:26} {fmt(median(values), scenario):>9} "
                   f"{' '.join(fmt(v, scenario) for v in values):<30} "
                   f"{' '.join(ratio_str(r) for r in ratios) if compared else '':<22} "
                   f"{ratio_str(med_ratio) if compared else '':>8}")
            if scenario.kind == "conn":
                regs = median([registrations_per_s(r) for r in runs])
                overall = median([registrations_per_s(r, overall=True) for r in runs])
                held = median([r.get("max_reached") for r in runs if r and "error" not in r])
                row += (f" {'-' if regs is None else round(regs):>7}"
                        f" {'-' if overall is None else round(overall):>7}"
                        f" {'-' if held is None else int(held):>6}")
            else:
                srv = median([r.get("server_cpu_pct") for r in runs if r and "error" not in r])
                gen = median([r.get("gen_cpu_pct") for r in runs if r and "error" not in r])
                row += (f" {'-' if srv is None else f'{srv:.0f}%':>7}"
                        f" {'-' if gen is None else f'{gen:.0f}%':>7}")
                if scenario.kind in ("fanout", "history") or scenario.kind == "writer":
                    cost = median([cpu_cost(scenario, r) for r in runs])
                    row += f" {'-' if cost is None else f'{cost:.3f}':>12}"
            if label.startswith("chatservice") and label != ref:
                said = verdict(scenario, med_ratio, runs)
                if said and any(doubtful(r) for r in runs + (base if compared else [])):
                    said += " (doubtful: see the runs' notes)"
                row += "  " + said
            out.append(row)
            for i, r in enumerate(runs):
                for note in ([r["error"]] if r.get("error") else []) + problems(scenario, r):
                    out.append(f"{'':26} run {i + 1}: {note}")
        if ref and scenario.kind == "history" and ref in by_target:
            out.extend(cost_ratios(scenario, by_target, ref))
        if scenario.kind == "writer":
            for label, runs in by_target.items():
                per_core = [1e6 / c if c else None for c in
                            (cpu_cost(scenario, r) for r in runs)]
                out.append(f"{label}: stored events per second of server CPU (what one "
                           f"whole core would store at this pace): "
                           f"{' '.join(fmt(v, scenario) for v in per_core)}; median "
                           f"{fmt(median(per_core), scenario)}")
        if scenario.kind == "conn":
            out.append("reg/s: sign-ins per second in the middle 80 % of each step; overall: "
                       "over whole steps, including sign-ins whose SYN a full listen queue "
                       "dropped (resent after 1 s)")
    out.append("")
    for note in report.get("notes", ()):
        out.append(f"note: {note}")
    out.append("Ratios compare each run with the reference's run in the same round "
               "(ngIRCd; InspIRCd for the -tls and -ws scenarios; for history*, "
               "--no-persistence); absolute figures vary with the machine and its load, "
               "the ratios are what count.")
    return "\n".join(out)


def cost_ratios(scenario: Scenario, by_target: dict, ref: str) -> list[str]:
    """
    Each run's server CPU per delivery of the reference over this target's:
    the throughput ratio the two would have if each had a whole core.
    """
    out = []
    base = [cpu_cost(scenario, r) for r in by_target[ref]]
    for label, runs in by_target.items():
        if label == ref:
            continue
        ratios = []
        for i, r in enumerate(runs):
            c = cpu_cost(scenario, r)
            b = base[i] if i < len(base) else None
            ratios.append(b / c if b and c else None)
        out.append(f"{label}: CPU per delivery, {ref} / {label}, per run: "
                   f"{' '.join(ratio_str(x) for x in ratios)}; median "
                   f"{ratio_str(median(ratios))} (the throughput ratio with a whole core "
                   f"each; >= 0.9 wanted)")
        whole = []
        for i, r in enumerate(runs):
            c = cpu_cost_total(r)
            b = cpu_cost_total(by_target[ref][i]) if i < len(by_target[ref]) else None
            whole.append(b / c if b and c else None)
        costs = [cpu_cost_total(r) for r in runs]
        base_costs = [cpu_cost_total(r) for r in by_target[ref]]
        out.append(f"{'':{len(label)}}  the same over each server's whole life (the "
                   f"history written after the window too): "
                   f"{' '.join(ratio_str(x) for x in whole)}; median "
                   f"{ratio_str(median(whole))}; us/delivery {label} "
                   f"{'-' if median(costs) is None else f'{median(costs):.3f}'}, {ref} "
                   f"{'-' if median(base_costs) is None else f'{median(base_costs):.3f}'}")
    return out


def verdict(scenario: Scenario, med_ratio: float | None, runs: list) -> str:
    if scenario.kind == "conn":
        good = [r for r in runs if r and "error" not in r]
        if not good:
            return ""
        kb = median([value_of(scenario, r) for r in good])
        regs = median([registrations_per_s(r) for r in good])
        steps = good[0].get("steps") or [{}]
        held = all(r.get("max_reached", 0) >= (r.get("steps") or [{}])[-1].get("n", 0)
                   and not r.get("failed") and not r.get("dropped") for r in good)
        if scenario.name in RATIO_TARGETS:
            # Compared with the reference's KB per connection.
            op, want = RATIO_TARGETS[scenario.name]
            ok = med_ratio is not None and med_ratio <= want and held
            if ok and steps[-1].get("n", 0) < 10000:
                return f"meets target at {steps[-1].get('n')} (it is set at 10,000)"
            return "meets target" if ok else "MISSES target (" + ", ".join(
                x for x, bad in ((f"KB/conn {op} {want} x {scenario.reference}",
                                  med_ratio is None or med_ratio > want),
                                 (f"not all {steps[-1].get('n')} held", not held)) if bad) + ")"
        ok = ((kb is not None and kb <= CONN_KB_TARGET)
              and (regs is not None and regs >= CONN_REGS_TARGET) and held)
        if ok and steps[-1].get("n", 0) < 10000:
            return f"meets target at {steps[-1].get('n')} (it is set at 10,000)"
        return ("meets target" if ok else
                "MISSES target (" + ", ".join(
                    x for x, bad in (("KB/conn", kb is None or kb > CONN_KB_TARGET),
                                     ("reg/s", regs is None or regs < CONN_REGS_TARGET),
                                     (f"not all {steps[-1].get('n')} held", not held)) if bad)
                + ")")
    if scenario.kind == "writer":
        good = [r for r in runs if r and "error" not in r]
        rate = median([value_of(scenario, r) for r in good])
        missing = [r["total_sent"] - r["db_messages"] for r in good
                   if r.get("db_messages") is not None and "total_sent" in r]
        if rate is None:
            return ""
        bad = [x for x, b in ((f"< {WRITER_TARGET:,}/s", rate < WRITER_TARGET),
                              (f"{max(missing)} missing", bool(missing) and max(missing) > 0))
               if b]
        return "meets target" if not bad else "MISSES target (" + ", ".join(bad) + ")"
    if scenario.name not in RATIO_TARGETS or med_ratio is None:
        return ""
    op, want = RATIO_TARGETS[scenario.name]
    ok = med_ratio >= want if op == ">=" else med_ratio <= want
    return "meets target" if ok else f"MISSES target ({op} {want})"


# Options ---------------------------------------------------------------------

def raise_nofile(wanted: int = 65536) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < wanted:
        try:  # root may raise the hard limit; the children inherit it
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
            return wanted
        except (ValueError, OSError):
            pass
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def options(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Benchmark chatservice against ngIRCd and InspIRCd (see README.rst).")
    p.add_argument("--servers", default="chatservice,ngircd,inspircd",
                   help="comma-separated, from chatservice, ngircd, inspircd")
    p.add_argument("--scenarios", default="fanout100,fanout1000,rate,conn",
                   help="comma-separated, from " + ", ".join(SCENARIOS))
    p.add_argument("--modes", default="irc,line",
                   help="chatservice's wire modes to measure (irc,line)")
    p.add_argument("--stores", default="sqlite",
                   help="chatservice's history in the general scenarios: sqlite (a fresh "
                        "--data-dir per run, the production default), memory "
                        "(--no-persistence, over IRC), or both: sqlite,memory.  The "
                        "history and writer scenarios choose their own")
    p.add_argument("--experiment-nofts", action="store_true",
                   help="history100/1000: also chatservice-irc-nofts, SQLite history "
                        "whose full-text index gets no new messages (its insert trigger "
                        "dropped before the start): what indexing costs the fan-out")
    p.add_argument("--runs", type=int, default=3, help="runs of each scenario (3)")
    p.add_argument("--duration", type=float, default=5, help="measured seconds (5)")
    p.add_argument("--warmup", type=float, default=2, help="seconds sending before (2)")
    p.add_argument("--steps", default="1000,5000,10000", help="conn: connection steps")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 1 run, 2 s measured, conn steps 1000,2000")
    p.add_argument("--server-cpu", default="0", help="core for the servers (taskset -c)")
    p.add_argument("--gen-cpu", default="1",
                   help="core(s) for the load generator (taskset -c: 1, or 1,2)")
    p.add_argument("--gen-procs", type=int, default=1,
                   help="generator processes in fanout and rate scenarios (loadgen "
                        "--procs), for when one is the limit; give them cores with "
                        "--gen-cpu (1)")
    p.add_argument("--settle", type=float, default=0.5,
                   help="seconds between a server's start and the load")
    p.add_argument("--timeout", type=float, default=900, help="per generator run, seconds")
    p.add_argument("--twistd", default="", help="twistd to run chatservice with")
    p.add_argument("--chatbench", default="",
                   help="run this reference C generator instead of loadgen.py "
                        "(to cross-check the figures)")
    p.add_argument("--loadgen-args", default="",
                   help="more options for every generator run, e.g. '--window 64'")
    p.add_argument("--json", default="", help="write every run's raw results here")
    p.add_argument("--keep", action="store_true", help="keep server configs and logs")
    p.add_argument("--verbose", action="store_true")
    o = p.parse_args(argv)
    o.servers = [s.strip() for s in o.servers.split(",") if s.strip()]
    o.scenarios = [s.strip() for s in o.scenarios.split(",") if s.strip()]
    o.modes = [m.strip() for m in o.modes.split(",") if m.strip()]
    o.stores = [m.strip() for m in o.stores.split(",") if m.strip()]
    for s in o.stores:
        if s not in ("sqlite", "memory"):
            p.error(f"unknown store {s!r}")
    for s in o.servers:
        if s not in SERVERS:
            p.error(f"unknown server {s!r}")
    for s in o.scenarios:
        if s not in SCENARIOS:
            p.error(f"unknown scenario {s!r}")
    if o.quick:
        o.runs, o.duration, o.warmup = 1, 2, 0.5
        if o.steps == "1000,5000,10000":
            o.steps = "1000,2000"
    return o


def main(argv=None) -> int:
    o = options(argv)
    want = max(int(s) for s in o.steps.split(",")) + 2048
    limit = raise_nofile(max(65536, want))
    if limit < want:
        print(f"note: RLIMIT_NOFILE is {limit}, below the {want} the conn steps need")
    if "ngircd" not in o.servers and any(not SCENARIOS[s].only for s in o.scenarios):
        print("note: without ngircd there are no ratios for the general scenarios")
    report = run_all(o)
    print(table(report))
    if o.json:
        Path(o.json).write_text(json.dumps(report, indent=1, default=str))
        print(f"raw results written to {o.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
