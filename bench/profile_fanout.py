#!/usr/bin/env python3
"""
Profile chatservice's fan-out path in one process, without sockets: the hub
and the real front-end protocols, over transports that count what is written
and throw it away, on a fake clock.

N members join one room (over IRC, line chat, or half and half); S of them
each send a batch of messages per round (``--batch``, like a sender's window
in L{loadgen}); after each round the clock is advanced by zero seconds, so
that output deferred to the next reactor turn (a per-turn flush) is written
too.  The figures:

- deliveries per second in process, without the profiler, and the Python
  cost of one delivery in microseconds (parsing the sender's line, the hub,
  rendering, queueing and writing, but no system calls);
- the functions with the most time of their own (cProfile, C{tottime}) for
  the same work under the profiler.

Transports (``--mode``): ``irc`` and ``line`` write to the transport
directly; ``tls`` is IRC over TLS (``ircs``): the server's real
L{TLSMemoryBIOProtocol} (the one ``ssl:`` listeners use) around the IRC
protocol, with real pyOpenSSL encryption; ``ws`` is IRC over WebSocket
(``text.ircv3.net``) through the real web site and autobahn; ``wss`` is that
over TLS.  Each TLS member has a pyOpenSSL client that decrypts what it is
sent after each round (so that deliveries are counted in what a client would
read), and the senders' lines are encrypted (and, over WebSocket, framed and
masked) as a client would, before the round; that client-side work is timed
apart (wall clock) and its share taken off the figures (it is shown on its
own line), though cProfile lists it (OpenSSL's recv, bio_write, and
C{bench/profile_fanout.py}).  No mode makes system calls: the bytes stop at
the transport under TLS or the WebSocket, which in the server is the TCP
socket's, so the figures are the Python cost per delivery of each path.

History (``--store``): ``none`` (the default, as before history existed: a
hub without a store), ``memory`` (what ``--no-persistence`` runs) or
``sqlite`` (the production default: the SQLite store in a fresh temporary
data directory, with its writer thread).  With ``sqlite`` the writer thread
runs beside the rounds, as it does in the server: the figures include the
time it takes from the main thread (the GIL), and ``--cpu 0`` pins the whole
process to one core as ``bench/run.py`` pins the server.  Afterwards the
store is flushed and its stored and dropped counts are printed, with the
time the final flush took.  cProfile sees only the main thread; for the
writer thread too, run with ``--no-profile`` under ``py-spy record
--threads`` (or ``py-spy top``) if it is installed.

    python bench/profile_fanout.py                         # 100 members, 10 senders, IRC
    python bench/profile_fanout.py --members 1000 --mode line --top 30
    python bench/profile_fanout.py --store sqlite --cpu 0  # with history on disk
    python bench/profile_fanout.py --mode tls              # IRC over TLS (ircs)
    python bench/profile_fanout.py --mode ws --members 1000  # IRC over WebSocket
"""

from __future__ import annotations

import argparse
import cProfile
import heapq
import io
import os
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from OpenSSL import SSL  # noqa: E402
from twisted.internet import ssl  # noqa: E402
from twisted.internet.address import IPv4Address  # noqa: E402
from twisted.internet.base import DelayedCall  # noqa: E402
from twisted.protocols.tls import TLSMemoryBIOFactory  # noqa: E402
from twisted.internet.task import Clock  # noqa: E402
from twisted.internet.testing import StringTransport  # noqa: E402

from chatservice.core.limits import Limits  # noqa: E402
from chatservice.frontends.irc import IRCFactory  # noqa: E402
from chatservice.frontends.line import LineChatFactory  # noqa: E402
from chatservice.frontends.web import web_site  # noqa: E402
from chatservice.service import HistorySettings, ServerConfig, chat_service  # noqa: E402
from chatservice.service import open_store  # noqa: E402

MARKER = b"QZBJQZBJQZBJQZBJ"
ROOM = "#lobby"  # line users are put there on signing in; IRC users join it


class HeapClock(Clock):
    """
    A fake clock whose timed calls sit in a heap, as the reactor's do:
    L{Clock} sorts all of its calls at every C{callLater}, which would make
    a timed call per connection per turn (Twisted's TLS transport makes
    one) look far dearer than it is in the server.
    """

    def __init__(self):
        super().__init__()
        self._heap: list = []
        self._count = 0

    def callLater(self, delay, f, *args, **kw):
        call = DelayedCall(self.seconds() + delay, f, args, kw, lambda c: None,
                           self._push, seconds=self.seconds)
        self._push(call)
        return call

    def _push(self, call) -> None:
        # A reset call is pushed again; its old entry is skipped.
        self._count += 1
        heapq.heappush(self._heap, (call.getTime(), self._count, call))

    def getDelayedCalls(self):
        return [c for _, _, c in self._heap if c.active()]

    def advance(self, amount: float) -> None:
        self.rightNow += amount
        heap = self._heap
        while heap and heap[0][0] <= self.rightNow:
            when, _, call = heapq.heappop(heap)
            if not call.active() or call.getTime() != when:
                continue
            call.called = 1
            call.func(*call.args, **call.kw)


class CountingTransport(StringTransport):
    """A transport that counts the messages written to it and keeps nothing."""

    deliveries = 0
    writes = 0
    bytes = 0
    # A pyOpenSSL client connection over memory BIOs: what is written is
    # TLS, kept until L{decrypt} (the client's work, timed apart).
    tls_client: SSL.Connection | None = None
    encrypted: list[bytes] | None = None

    def write(self, data: bytes) -> None:
        self.writes += 1
        self.bytes += len(data)
        if self.encrypted is not None:
            self.encrypted.append(data)
        else:
            self.deliveries += data.count(MARKER)

    def decrypt(self) -> None:
        """Be the TLS client: decrypt what arrived, count the messages in it."""
        if not self.encrypted:
            return
        client = self.tls_client
        client.bio_write(b"".join(self.encrypted))
        self.encrypted.clear()
        while True:
            try:
                self.deliveries += client.recv(1 << 20).count(MARKER)
            except SSL.WantReadError:
                break

    def writeSequence(self, seq) -> None:
        self.write(b"".join(seq))

    def setTcpNoDelay(self, enabled: bool) -> None:
        """As a TCP transport's (autobahn sets it)."""


def _ws_frame(payload: bytes) -> bytes:
    """A client's text frame, masked (with a zero key: the payload is as is)."""
    size = len(payload)
    if size < 126:
        head = bytes([0x81, 0x80 | size])
    else:
        head = bytes([0x81, 0x80 | 126]) + size.to_bytes(2, "big")
    return head + b"\0\0\0\0" + payload


def _certificate_options() -> ssl.CertificateOptions:
    """A fresh self-signed certificate for 127.0.0.1, as server options."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    from OpenSSL import crypto
    return ssl.CertificateOptions(privateKey=crypto.PKey.from_cryptography_key(key),
                                  certificate=crypto.X509.from_cryptography(cert))


class Bench:
    def __init__(self, o: argparse.Namespace):
        self.o = o
        self.clock = HeapClock()
        config = ServerConfig(
            line_endpoints=("tcp:0:interface=127.0.0.1",),
            irc_endpoints=("tcp:0:interface=127.0.0.1",),
            limits=Limits(flood_control=False, max_send_queue=10 ** 12,
                          max_per_address=10 ** 9, registration_timeout=10 ** 6))
        # The real wiring, never started: its factories share one hub.
        service = chat_service(self.clock, config)
        self.hub = service.hub
        # History as the server would keep it (open_store is the server's own
        # wiring), attached before anybody signs in, as the service does.
        self.store = None
        self.data_dir = None
        if o.store != "none":
            if o.store == "sqlite":
                self.data_dir = tempfile.mkdtemp(prefix="profile-fanout-")
            settings = HistorySettings(persistence=o.store == "sqlite",
                                       data_dir=self.data_dir or "unused")
            self.store = open_store(self.clock, settings)
            self.hub.attach_store(self.store, settings.since_join, settings.replay_lines)
        self.factories = {"irc": service.irc, "line": service.line}
        assert isinstance(service.irc, IRCFactory) and isinstance(service.line, LineChatFactory)
        self.server_tls = None
        self.client_seconds = 0.0
        self.members = []   # (mode, what sends to the server, transport)
        self.seq = 0

    def connect(self, i: int, mode: str):
        peer = IPv4Address("TCP", "127.0.0.1", 10000 + i)
        transport = CountingTransport(peerAddress=peer,
                                      hostAddress=IPv4Address("TCP", "127.0.0.1", 6697))
        if mode in ("irc", "tls"):
            factory = self.factories["irc"]
        elif mode in ("ws", "wss"):
            factory = self.web()
        else:
            factory = self.factories[mode]
        if mode in ("tls", "wss"):
            factory = self.tls(factory)
        protocol = factory.buildProtocol(peer)
        transport.protocol = protocol   # as a TCP transport's: autobahn takes it over
        protocol.makeConnection(transport)
        # A member is what its client makes of IRC lines (TLS records,
        # WebSocket frames: the client's work) and what hands that to the
        # server.
        prepare = _same
        if mode in ("tls", "wss"):
            prepare = self.tls_client(transport, protocol)

        def deliver(data: bytes) -> None:
            # transport.protocol, not protocol: a WebSocket takes the
            # connection over from the web site's HTTP channel.
            transport.protocol.dataReceived(data)
        if mode in ("ws", "wss"):
            prepare = self.ws_client(prepare, deliver)
        nick = b"p%x" % i
        if mode == "line":
            deliver(prepare(nick + b"\r\n"))
        else:
            deliver(prepare(b"NICK %s\r\nUSER %s 0 * :profile\r\nJOIN %s\r\n"
                            % (nick, nick, ROOM.encode())))
        self.clock.advance(0)
        transport.decrypt()
        self.members.append((mode, (prepare, deliver), transport))

    def web(self):
        """The web front end's site around the IRC factory (made once)."""
        if "web" not in self.factories:
            self.factories["web"] = web_site(self.factories["irc"])
        return self.factories["web"]

    def tls(self, factory):
        """What an ``ssl:`` listener wraps C{factory} in (one per factory)."""
        key = ("tls", id(factory))
        if key not in self.factories:
            if self.server_tls is None:
                self.server_tls = _certificate_options()
            self.factories[key] = TLSMemoryBIOFactory(self.server_tls, False, factory,
                                                      clock=self.clock)
        return self.factories[key]

    def tls_client(self, transport: CountingTransport, server):
        """
        Shake hands with the server protocol C{server} as a TLS client over
        memory BIOs; return what sends bytes to the server encrypted.
        """
        context = SSL.Context(SSL.TLS_CLIENT_METHOD)
        client = SSL.Connection(context, None)
        client.set_connect_state()
        written = []
        transport.write = written.append  # the handshake's bytes, to pass on
        for _ in range(10):
            try:
                client.do_handshake()
            except SSL.WantReadError:
                pass
            try:
                server.dataReceived(client.bio_read(1 << 16))
            except SSL.WantReadError:
                pass
            self.clock.advance(0)
            if written:
                client.bio_write(b"".join(written))
                written.clear()
            if server._handshakeDone and client.get_state_string() == b"SSL negotiation finished successfully":
                break
        del transport.write
        transport.tls_client = client
        transport.encrypted = []

        def encrypt(data: bytes) -> bytes:
            client.send(data)
            return client.bio_read(1 << 20)
        return encrypt

    def ws_client(self, prepare, deliver):
        """
        Open a WebSocket (text.ircv3.net) over C{prepare} and C{deliver};
        return what makes IRC lines masked text frames, one per line.
        """
        deliver(prepare(
            b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:6697\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: text.ircv3.net\r\n\r\n"))

        def frames(data: bytes) -> bytes:
            return prepare(b"".join(_ws_frame(line) for line in data.split(b"\r\n") if line))
        return frames

    def setup(self) -> None:
        o = self.o
        for i in range(o.members):
            mode = o.mode if o.mode != "mixed" else ("irc", "line")[i % 2]
            self.connect(i, mode)
        room = self.hub.find_room(ROOM)
        if len(room.members) != o.members:
            raise SystemExit(f"only {len(room.members)} of {o.members} members in {ROOM}")
        self.senders = self.members[:o.senders]
        self.pad = b"x" * o.size

    def line(self, mode: str, sid: int, seq: int) -> bytes:
        head = b"%s %d %d %d " % (MARKER, sid, seq, time.monotonic_ns())
        body = head + self.pad[:max(0, self.o.size - len(head))]
        if mode != "line":
            return b"PRIVMSG " + ROOM.encode() + b" :" + body + b"\r\n"
        return body + b"\r\n"

    def close(self) -> None:
        """Flush and close the store; print what it kept."""
        store = self.store
        if store is None:
            return
        t0 = time.perf_counter()
        flush = getattr(store, "flush", None)
        if flush is not None:
            flush(60)
        flushed = time.perf_counter() - t0
        print(f"store {self.o.store}: {store.stored:,} events stored, "
              f"{store.dropped:,} dropped; final flush {flushed:.2f}s")
        store.close()
        if self.data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def delivered(self) -> int:
        return sum(t.deliveries for _, _, t in self.members)

    def rounds(self, n: int) -> int:
        """
        Run n rounds; return the messages sent.  The clients' work (making
        the senders' TLS records and WebSocket frames, decrypting what the
        server sent) is timed apart, in C{self.client_seconds}.
        """
        o = self.o
        advance = self.clock.advance
        clock = time.perf_counter
        decrypting = [t for _, _, t in self.members if t.encrypted is not None]
        sent = 0
        client = 0.0
        for _ in range(n):
            t0 = clock()
            batches = [(deliver, prepare(b"".join(self.line(mode, sid, self.seq + k)
                                                  for k in range(o.batch))))
                       for sid, (mode, (prepare, deliver), _) in enumerate(self.senders)]
            client += clock() - t0
            for deliver, data in batches:
                deliver(data)
                sent += o.batch
            self.seq += o.batch
            advance(0)   # flush output deferred to the next reactor turn
            t0 = clock()
            for transport in decrypting:
                transport.decrypt()
            client += clock() - t0
        self.client_seconds += client
        return sent


def _same(data: bytes) -> bytes:
    """A plain client's bytes are the lines themselves."""
    return data


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--members", type=int, default=100)
    p.add_argument("--senders", type=int, default=10)
    p.add_argument("--mode", choices=("irc", "line", "mixed", "tls", "ws", "wss"),
                   default="irc", help="what members connect with (irc); see above")
    p.add_argument("--batch", type=int, default=32,
                   help="messages each sender sends per round (32)")
    p.add_argument("--size", type=int, default=64, help="payload bytes (64)")
    p.add_argument("--seconds", type=float, default=3,
                   help="about how long to time (and then to profile) (3)")
    p.add_argument("--top", type=int, default=25, help="profile entries to print (25)")
    p.add_argument("--sort", default="tottime", help="pstats sort key (tottime)")
    p.add_argument("--no-profile", action="store_true", help="only time it")
    p.add_argument("--store", choices=("none", "memory", "sqlite"), default="none",
                   help="history: none (no store, as before), memory (--no-persistence) "
                        "or sqlite (the default server's, in a temporary directory)")
    p.add_argument("--cpu", default="",
                   help="pin this process (all its threads) to these cores, e.g. 0")
    p.add_argument("--memory", action="store_true",
                   help="instead: the Python heap each member costs (tracemalloc), by "
                        "allocation site, transports excluded")
    o = p.parse_args(argv)
    if o.senders > o.members:
        p.error("more senders than members")

    if o.cpu:
        os.sched_setaffinity(0, {int(c) for c in o.cpu.split(",")})
    b = Bench(o)
    try:
        if o.memory:
            return memory(b, o)
        return timed(b, o)
    finally:
        b.close()


def timed(b: Bench, o: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    b.setup()
    setup_s = time.perf_counter() - t0
    fan = o.members - 1

    # Warm up, and size the timed run to about --seconds.
    start = b.delivered()
    t0 = time.perf_counter()
    b.rounds(3)
    per_round = (time.perf_counter() - t0) / 3
    if b.delivered() - start != 3 * o.senders * o.batch * fan:
        print(f"warning: {b.delivered() - start} deliveries in warm-up, expected "
              f"{3 * o.senders * o.batch * fan}", file=sys.stderr)
    n = max(3, int(o.seconds / per_round))

    start = b.delivered()
    writes0 = sum(t.writes for _, _, t in b.members)
    k0 = b.client_seconds
    c0 = time.process_time()
    m0 = time.thread_time()
    t0 = time.perf_counter()
    sent = b.rounds(n)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    main_cpu = time.thread_time() - m0
    # The clients' side (TLS, WebSocket frames) is not the server's work:
    # its share of the wall time is taken off, and the same share of the CPU
    # (timing each client step in CPU time would cost more than the step).
    client = b.client_seconds - k0
    server_share = 1 - client / wall
    wall, cpu, main_cpu = wall - client, cpu * server_share, main_cpu * server_share
    deliveries = b.delivered() - start
    writes = sum(t.writes for _, _, t in b.members) - writes0
    expected = sent * fan
    print(f"members={o.members} senders={o.senders} mode={o.mode} batch={o.batch} "
          f"size={o.size} store={o.store} (setup {setup_s:.2f}s, pid {os.getpid()})")
    print(f"in-process: {deliveries / wall:,.0f} deliveries/s, {sent / wall:,.0f} messages/s, "
          f"{wall / deliveries * 1e6:.3f} us per delivery, "
          f"{writes / deliveries:.3f} transport writes per delivery "
          f"({deliveries} of {expected} delivered; cpu {cpu / wall * 100:.0f}%)")
    # CPU rather than wall time: on a shared machine this process may get
    # only part of its core, and the CPU per delivery hardly depends on that.
    # The process's CPU includes the store's writer thread; the main thread's
    # is the reactor's share.
    print(f"CPU per delivery: {cpu / deliveries * 1e6:.3f} us (main thread "
          f"{main_cpu / deliveries * 1e6:.3f} us, other threads "
          f"{(cpu - main_cpu) / deliveries * 1e6:.3f} us); per message: "
          f"{cpu / sent * 1e6:.1f} us (main {main_cpu / sent * 1e6:.1f} us, "
          f"other threads {(cpu - main_cpu) / sent * 1e6:.1f} us)")
    if client:
        print(f"left out: {client:.2f}s as the clients (TLS, WebSocket frames)")
    if deliveries != expected:
        print(f"warning: {expected - deliveries} deliveries missing", file=sys.stderr)
    if o.no_profile:
        return 0

    profiler = cProfile.Profile()
    start = b.delivered()
    k0 = b.client_seconds
    t0 = time.perf_counter()
    profiler.enable()
    b.rounds(n)
    profiler.disable()
    wall = time.perf_counter() - t0 - (b.client_seconds - k0)
    deliveries = b.delivered() - start
    print(f"under cProfile: {deliveries / wall:,.0f} deliveries/s "
          f"(the profiler's own overhead included)")
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats(o.sort).print_stats(o.top)
    text = out.getvalue()
    # Shorten the paths: site-packages and the repository.
    root = str(Path(__file__).resolve().parent.parent) + os.sep
    text = text.replace(root, "")
    for path in sys.path:
        if path and "site-packages" in path:
            text = text.replace(path + os.sep, "")
    print(text.rstrip())
    return 0


def memory(b: Bench, o: argparse.Namespace) -> int:
    """Python heap per member: sign N members in, compare snapshots."""
    import gc
    import tracemalloc

    b.connect(0, "irc" if o.mode != "line" else "line")  # the room and first-use caches
    gc.collect()
    tracemalloc.start(1)
    before = tracemalloc.take_snapshot()
    for i in range(1, o.members):
        mode = o.mode if o.mode != "mixed" else ("irc", "line")[i % 2]
        b.connect(i, mode)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    here = tracemalloc.Filter(False, __file__)
    testing = tracemalloc.Filter(False, "*/twisted/internet/testing.py")
    stats = after.filter_traces([here, testing]).compare_to(
        before.filter_traces([here, testing]), "lineno")
    n = o.members - 1
    total = sum(s.size_diff for s in stats)
    print(f"{n} members signed in ({o.mode}) and in {ROOM}: "
          f"{total / n:,.0f} bytes of Python heap per member "
          f"(without the transport, its socket and kernel buffers)")
    root = str(Path(__file__).resolve().parent.parent) + os.sep
    for s in sorted(stats, key=lambda s: -s.size_diff)[:o.top]:
        frame = s.traceback[0]
        where = f"{frame.filename.replace(root, '')}:{frame.lineno}"
        for path in sys.path:
            if path and "site-packages" in path:
                where = where.replace(path + os.sep, "")
        print(f"{s.size_diff / n:9.0f} B/member {s.count_diff / n:6.2f} blocks/member  {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
