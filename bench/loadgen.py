#!/usr/bin/env python3
"""
A load generator for chat servers: one process, one thread, epoll and
non-blocking sockets, standard library only (no Twisted), so that it can be
pointed at chatservice and at other IRC servers alike.

Wire modes
==========
``irc``
    ``NICK``/``USER``, wait for ``001``; ``JOIN #bench``, wait for ``366``.
    Senders say ``PRIVMSG #bench :<payload>``.  PINGs are answered.
``line``
    chatservice's line chat: wait for data containing the prompt
    (``nickname``), send the nickname as one line, wait for a line containing
    the acknowledgement (``*** You joined``); from then on every line sent is
    said to the default room.

Transports
==========
Plain TCP by default.  ``--tls`` wraps each connection in TLS (the handshake
is non-blocking; no certificate is checked, as benchmarks use self-signed
ones); each wake-up reads TLS records until none is left or the buffer is
nearly full, so that reading costs the generator as few rounds as over TCP.
``--ws`` speaks IRC over WebSocket (RFC 6455, the IRCv3 WebSocket
specification): an HTTP upgrade to ``--ws-path`` asking for ``--ws-protocol``
(``text.ircv3.net``; the answer's ``Sec-WebSocket-Accept`` is checked), then
one IRC line per frame, without line ending.  Client frames are masked with a
fresh key each, as RFC 6455 requires.  Server frames are not masked, so the
receivers that only count deliveries count the marker in the raw stream,
frame headers and all, keeping the last ``len(marker) - 1`` bytes of each
read for the next; senders, latency receivers and check receivers parse the
frames (answering pings, noticing a close).  ``--ws --tls`` is WSS.

Scenarios
=========
``fanout``
    C clients in one room; the first S are senders, each keeping W messages in
    flight (the window).  Measures deliveries per second.
``rate``
    The same room, but the senders together send a fixed number of messages
    per second (each message is stamped with the time it was *due*, so a
    stalled server cannot hide its delay); measures latency p50/p99/max.
``conn``
    Opens idle registered connections in steps (``--steps 1000,5000,10000``),
    reading the server's VmRSS from /proc after each step: KB per connection,
    and registrations per second.

Every message carries ``<marker> <sender> <seq> <send-time-ns>`` padded with
``x`` to ``--size`` bytes.  Receivers do not parse what they read: each read
goes into one shared 256 KiB buffer, and the complete lines in it are counted
with one ``bytearray.count`` of the marker (a long marker of letters that are
rare on the wire is counted at ~3 GB/s), so a delivery costs next to nothing.
Only a sample of clients (``--lat-receivers``, spread evenly over the room,
senders included, and always the last client, the *probe*) parse timestamps
for the latency figures; the probe's view of each sender's sequence numbers
is what moves that sender's window forward.  Senders, latency receivers and
every ``--check-every``-th client also compare the number of lines with the
number of messages, so that flood notices, errors and PINGs are seen.

Reads are batched: in fan-out, at most one epoll round per ``--min-poll-us``
(500 us, as the reference C generator does), so that each read takes many
lines.  At a fixed rate every socket is read as soon as it is readable, as
an independent client would, and latency receivers are read first in each
round.  Source addresses can be spread over 127.0.x.y (``--src-ips``) when
one address runs out of ephemeral ports.

Several processes (``--procs N``, fanout and rate): when one generator
process's CPU is the limit, N - 1 helper processes, started by this one, hold
equal shares of the plain receivers; they sign in, then follow the main
process's commands over their standard input (fast path, measure, drain) and
report their counts and CPU as JSON.  The main process keeps the senders,
the probe and the latency receivers.  Give the processes cores of their own
(``taskset -c 1,2``), apart from the server's.

Output: one machine-readable line ``RESULT {json}`` and one human line.
"""

from __future__ import annotations

import argparse
import base64
import errno
import hashlib
import json
import os
import random
import resource
import select
import socket
import ssl
import struct
import subprocess
import sys
import time

CONNECTING, PROMPT, ACK, WELCOME, JOIN, READY, DEAD, HANDSHAKE, UPGRADE = range(9)
SETUP, SETTLE, WARMUP, MEASURE, DRAIN = range(5)

EPOLLIN = select.EPOLLIN
EPOLLOUT = select.EPOLLOUT
EPOLLERR = select.EPOLLERR | select.EPOLLHUP

BUFSIZE = 1 << 18          # one shared receive buffer, 256 KiB
MAX_PARTIAL = 1 << 16      # a "line" longer than this is dropped
MAX_FRAME = 1 << 16        # a WebSocket frame longer than this ends the connection
# TLS: read records until this much room is left in the shared buffer (a
# record holds at most 16 KiB of data).
TLS_ROOM = 17 << 10
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# What a non-blocking socket raises when it has nothing to give or take now.
WOULD_BLOCK = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)

# Words in a non-message line that suggest the server is throttling us.
FLOOD_WORDS = (b"flood", b"throttl", b"excess", b"too many", b"sendq", b"slow down")

CLK_TCK = os.sysconf("SC_CLK_TCK")


# /proc readers ---------------------------------------------------------------

def read_rss_kb(pid: int) -> int:
    if pid <= 0:
        return -1
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def read_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process C{pid} (all its threads)."""
    if pid <= 0:
        return -1.0
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return -1.0
    fields = data[data.rindex(b")") + 2:].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def listen_overflows() -> int:
    """The kernel's count of connections dropped because a listen queue was full."""
    try:
        with open("/proc/net/netstat") as f:
            lines = f.read().splitlines()
    except OSError:
        return -1
    for names, values in zip(lines[::2], lines[1::2]):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:]))
            return int(table.get("ListenOverflows", -1))
    return -1


def raise_nofile(wanted: int = 0) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if wanted > hard:
        try:  # root may raise the hard limit too
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
            return wanted
        except (ValueError, OSError):
            pass
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        return soft
    return hard


def percentile(values: list[int], p: float) -> float:
    if not values:
        return -1
    k = min(len(values) - 1, int(p * len(values)))
    return values[k]


# WebSocket (RFC 6455) ---------------------------------------------------------

def ws_accept(key: bytes) -> bytes:
    """The Sec-WebSocket-Accept a server must answer C{key} with."""
    return base64.b64encode(hashlib.sha1(key + WS_GUID).digest())


def ws_frame(payload: bytes, opcode: int = 1, mask: bytes | None = None) -> bytes:
    """
    One final client frame: masked, as RFC 6455 requires of clients, with a
    fresh random key unless C{mask} is given.  The XOR runs on one big
    integer, not byte by byte.
    """
    n = len(payload)
    if mask is None:
        mask = random.getrandbits(32).to_bytes(4, "little")
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0xFE, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0xFF, n)
    if not n:
        return head + mask
    key = (mask * (n // 4 + 1))[:n]
    body = (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(
        n, "little")
    return head + mask + body


class WSError(Exception):
    """The server broke the WebSocket framing (or closed the socket)."""


def ws_unframe(data: bytes) -> tuple[list[bytes], list[tuple[int, bytes]], bytes]:
    """
    Split server frames: (the payloads of data frames, each followed by
    C{b"\\n"} when its message ends; control frames as (opcode, payload);
    the bytes of an incomplete frame, to be given again with what follows).
    Raises L{WSError} for a masked server frame (RFC 6455 5.1), an opcode
    that does not exist, or a frame longer than L{MAX_FRAME}.
    """
    out: list[bytes] = []
    control: list[tuple[int, bytes]] = []
    i, n = 0, len(data)
    while n - i >= 2:
        b0, b1 = data[i], data[i + 1]
        size, head = b1 & 0x7F, 2
        if size == 126:
            if n - i < 4:
                break
            size, head = int.from_bytes(data[i + 2:i + 4], "big"), 4
        elif size == 127:
            if n - i < 10:
                break
            size, head = int.from_bytes(data[i + 2:i + 10], "big"), 10
        if b1 & 0x80:
            raise WSError("masked frame from the server")
        if size > MAX_FRAME:
            raise WSError(f"frame of {size} bytes from the server")
        if n - i < head + size:
            break
        payload = data[i + head:i + head + size]
        opcode = b0 & 0x0F
        if opcode in (0, 1, 2):
            out.append(payload)
            if b0 & 0x80:
                out.append(b"\n")
        elif opcode in (8, 9, 10):
            control.append((opcode, payload))
        else:
            raise WSError(f"frame with opcode {opcode} from the server")
        i += head + size
    return out, control, data[i:]


# Several generator processes --------------------------------------------------

class Helper:
    """
    A helper generator process (--procs), seen from the main one.  It holds
    a share of the room's plain receivers; the two talk in lines over the
    helper's standard input (commands: C{fast}, C{measure}, C{drain N}) and
    output (JSON: C{{"ready": ...}}, then C{{"result": ...}}).
    """

    def __init__(self, argv: list[str]):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.fd = self.proc.stdout.fileno()
        os.set_blocking(self.fd, False)
        self.partial = b""
        self.ready: dict | None = None
        self.result: dict | None = None
        self.ended = False

    def say(self, command: str) -> None:
        try:
            self.proc.stdin.write(command.encode() + b"\n")
            self.proc.stdin.flush()
        except OSError:
            self.ended = True

    def read(self) -> None:
        try:
            data = os.read(self.fd, 1 << 16)
        except BlockingIOError:
            return
        if not data:
            self.ended = True
            return
        *lines, self.partial = (self.partial + data).split(b"\n")
        for line in lines:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if "ready" in message:
                self.ready = message
            elif "result" in message:
                self.result = message["result"]

    def stop(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# The generator -----------------------------------------------------------------

class Conn:
    __slots__ = ("id", "sock", "fd", "state", "nick", "partial", "out", "sender",
                 "lat", "check", "sent", "acked", "last_prog", "next_ns", "retries", "epout",
                 "ep", "wsbuf", "wskey")

    def __init__(self, ident: int):
        self.id = ident
        self.sock = None
        self.fd = -1
        self.state = CONNECTING
        self.nick = b""
        self.partial = b""
        self.out = b""
        self.sender = False
        self.lat = False
        self.check = True
        self.sent = 0
        self.acked = 0
        self.last_prog = 0
        self.next_ns = 0
        self.retries = 0
        self.epout = False
        self.ep = None
        self.wsbuf = b""      # WebSocket: an incomplete frame
        self.wskey = b""      # WebSocket: the Sec-WebSocket-Key sent


class LoadGen:
    def __init__(self, o: argparse.Namespace):
        self.o = o
        self.irc = o.mode == "irc"
        # Transports: TLS (no certificate check: benchmarks use self-signed
        # ones) and IRC over WebSocket, either or both.
        self.tls_ctx = None
        if o.tls:
            self.tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            self.tls_ctx.check_hostname = False
            self.tls_ctx.verify_mode = ssl.CERT_NONE
        self.ws = o.ws
        self.ws_opcode = 2 if o.ws_protocol.startswith("binary.") else 1
        self.ws_subprotocol = ""      # what the server chose, from the first upgrade
        self.transport = ("wss" if o.tls else "ws") if o.ws else ("tls" if o.tls else "tcp")
        self.marker = o.marker.encode()
        self.mlen = len(self.marker)
        self.eol = b"\r\n" if (self.irc or o.crlf) else b"\n"
        self.channel = o.channel.encode()
        self.msg_prefix = b"PRIVMSG " + self.channel + b" :" if self.irc else b""
        self.pad = b"x" * max(o.size, 0)
        self.prompt = o.prompt.encode()
        self.ack = o.ack.encode()
        self.prefix = (o.prefix or "l" + random.choice("abcdefghijklmnopqrstuvwxyz")
                       + random.choice("abcdefghijklmnopqrstuvwxyz")).encode()
        self.ep = select.epoll()
        # Receivers that only count deliveries can be read in bulk, every few
        # milliseconds, from a second epoll set (--bulk-poll-ms).
        self.ep_bulk = select.epoll()
        self.bulk_ns = int(o.bulk_poll_ms * 1e6)
        self.next_bulk = 0
        self.bulk_active = False
        self.lat_first = False
        self.byfd: dict[int, Conn] = {}
        self.conns: list[Conn] = []
        self.buf = bytearray(BUFSIZE)
        self.mv = memoryview(self.buf)
        self.phase = SETUP
        self.target = 0
        self.nopened = self.npending = self.nready = self.nfailed = self.ndropped = 0
        self.peak_ready = 0
        self.connect_fatal = False
        self.first_error = ""
        self.total_sent = self.win_sent = 0
        self.total_deliv = self.win_deliv = 0
        self.total_accepted = self.win_accepted = 0
        self.stalls = self.lost_est = 0
        self.other_lines = 0          # non-message lines while sending
        self.other_samples: list[str] = []
        self.error_lines = self.flood_notices = 0
        self.pings = 0
        self.backlog_skips = 0
        self.lat: list[int] = []      # microseconds, measurement window only
        self.n_reads = self.n_polls = 0
        self.t_last_rx = 0
        self.ready_times: list[float] = []
        self.t_last_deliv = 0
        self.senders: list[Conn] = []
        self.probe: Conn | None = None
        self.interval_ns = 0
        src = max(1, o.src_ips)
        self.sources = [f"127.0.{k // 250}.{k % 250 + 1}" for k in range(src)] if src > 1 else []
        self.addr = (o.host, o.port)
        # Several generator processes (--procs): this one's first nickname
        # number, its helpers (main) or its pipe to the main one (helper).
        self.id_base = 0
        self.helpers: list[Helper] = []
        self.control = None

    # errors and connection life

    def note_error(self, why: str) -> None:
        if not self.first_error:
            self.first_error = why

    def dead(self, c: Conn, why: str) -> None:
        if c.state == DEAD:
            return
        if c.state == READY:
            self.ndropped += 1
            self.nready -= 1
        else:
            self.nfailed += 1
            self.npending -= 1
        if self.o.verbose and self.ndropped + self.nfailed <= 5:
            print(f"conn {c.id} lost in state {c.state}: {why}", file=sys.stderr)
        self.note_error(why)
        c.state = DEAD
        self.byfd.pop(c.fd, None)
        try:
            c.ep.unregister(c.fd)
        except OSError:
            pass
        self.reset_close(c.sock)
        c.sock = None

    @staticmethod
    def reset_close(sock) -> None:
        # RST rather than FIN: no TIME_WAIT left behind on our side.
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
        except OSError:
            pass
        sock.close()

    def become_ready(self, c: Conn) -> None:
        c.state = READY
        self.npending -= 1
        self.nready += 1
        if self.nready > self.peak_ready:
            self.peak_ready = self.nready
        self.ready_times.append(time.monotonic())

    def open_conn(self, ident: int) -> None:
        c = self.conns[ident]
        c.nick = self.prefix + b"%x" % (ident + self.id_base)
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        except OSError as e:
            self.note_error(str(e))
            self.connect_fatal = True
            c.state = DEAD
            self.nfailed += 1
            return
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            if self.sources:
                sock.bind((self.sources[ident % len(self.sources)], 0))
            err = sock.connect_ex(self.addr)
        except OSError as e:
            err = e.errno or errno.EIO
        if err not in (0, errno.EINPROGRESS):
            self.note_error(os.strerror(err))
            if err in (errno.EADDRNOTAVAIL, errno.EMFILE, errno.ENFILE):
                self.connect_fatal = True
            sock.close()
            c.state = DEAD
            self.nfailed += 1
            return
        c.sock = sock
        c.fd = sock.fileno()
        c.state = CONNECTING
        self.npending += 1
        self.byfd[c.fd] = c
        c.epout = True
        c.ep = self.ep
        self.ep.register(c.fd, EPOLLIN | EPOLLOUT)

    # output

    def write(self, c: Conn, data: bytes, raw: bool = False) -> None:
        """
        Send C{data} (lines; over WebSocket each becomes one frame unless
        C{raw}), queueing what the socket does not take.  TLS retries a
        write with the same bytes first, as OpenSSL requires: C{c.out} only
        grows at its end.
        """
        if self.ws and not raw:
            data = b"".join([ws_frame(line, self.ws_opcode)
                             for line in data.split(self.eol) if line])
        if c.out:
            c.out += data
            return
        try:
            n = c.sock.send(data)
        except WOULD_BLOCK:
            n = 0
        except OSError as e:
            self.dead(c, str(e))
            return
        if n < len(data):
            c.out = data[n:]
            if not c.epout:
                c.epout = True
                c.ep.modify(c.fd, EPOLLIN | EPOLLOUT)

    def flush(self, c: Conn) -> None:
        data = c.out
        if data:
            try:
                n = c.sock.send(data)
            except WOULD_BLOCK:
                return
            except OSError as e:
                self.dead(c, str(e))
                return
            c.out = data[n:]
        if not c.out and c.epout:
            c.epout = False
            c.ep.modify(c.fd, EPOLLIN)

    def connected(self, c: Conn) -> None:
        err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self.dead(c, os.strerror(err))
            return
        c.epout = False
        c.ep.modify(c.fd, EPOLLIN)
        if self.tls_ctx is not None:
            try:
                c.sock = self.tls_ctx.wrap_socket(c.sock, do_handshake_on_connect=False)
            except (ssl.SSLError, OSError) as e:
                self.dead(c, f"TLS: {e}")
                return
            c.state = HANDSHAKE
            self.handshake(c)
            return
        self.start_session(c)

    def handshake(self, c: Conn) -> None:
        """One step of the TLS handshake: on to the session once it is done."""
        try:
            c.sock.do_handshake()
        except ssl.SSLWantReadError:
            self.want(c, False)
            return
        except ssl.SSLWantWriteError:
            self.want(c, True)
            return
        except (ssl.SSLError, OSError) as e:
            self.dead(c, f"TLS handshake: {e}")
            return
        self.want(c, False)
        self.start_session(c)

    def want(self, c: Conn, out: bool) -> None:
        if c.epout != out:
            c.epout = out
            c.ep.modify(c.fd, EPOLLIN | (EPOLLOUT if out else 0))

    def start_session(self, c: Conn) -> None:
        """The connection (and its TLS) is up: upgrade to WebSocket, or sign in."""
        if self.ws:
            c.wskey = base64.b64encode(random.getrandbits(128).to_bytes(16, "little"))
            request = (f"GET {self.o.ws_path} HTTP/1.1\r\n"
                       f"Host: {self.o.host}:{self.o.port}\r\n"
                       "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                       f"Sec-WebSocket-Key: {c.wskey.decode()}\r\n"
                       "Sec-WebSocket-Version: 13\r\n"
                       + (f"Sec-WebSocket-Protocol: {self.o.ws_protocol}\r\n"
                          if self.o.ws_protocol else "")
                       + (f"Origin: {self.o.ws_origin}\r\n" if self.o.ws_origin else "")
                       + "\r\n")
            c.state = UPGRADE
            self.write(c, request.encode(), raw=True)
            return
        self.sign_in(c)

    def upgraded(self, c: Conn, data: bytes) -> bytes | None:
        """
        The server's answer to the upgrade, once its headers are complete:
        what follows them, or None while they are not (or if it refused).
        """
        data = c.partial + data
        end = data.find(b"\r\n\r\n")
        if end < 0:
            if len(data) > MAX_PARTIAL:
                self.dead(c, "WebSocket: no end to the server's HTTP headers")
            else:
                c.partial = data
            return None
        c.partial = b""
        head = data[:end].split(b"\r\n")
        words = head[0].split(None, 2)
        if len(words) < 2 or words[1] != b"101":
            self.dead(c, "WebSocket upgrade refused: " + head[0].decode("utf-8", "replace"))
            return None
        fields = {}
        for line in head[1:]:
            name, _, value = line.partition(b":")
            fields[name.strip().lower()] = value.strip()
        if fields.get(b"sec-websocket-accept") != ws_accept(c.wskey):
            self.dead(c, "WebSocket: wrong Sec-WebSocket-Accept")
            return None
        if not self.ws_subprotocol:
            self.ws_subprotocol = fields.get(b"sec-websocket-protocol", b"(none)").decode(
                "utf-8", "replace")
        self.sign_in(c)
        return data[end + 4:]

    def ws_lines(self, c: Conn, data: bytes) -> bytes | None:
        """
        Server frames to IRC lines (each ended by \\n); answers pings; None
        once the connection is dead (a close frame or broken framing).
        """
        try:
            out, control, c.wsbuf = ws_unframe(c.wsbuf + data)
        except WSError as e:
            self.dead(c, f"WebSocket: {e}")
            return None
        for opcode, payload in control:
            if opcode == 9:
                self.write(c, ws_frame(payload, 10), raw=True)
            elif opcode == 8:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                self.dead(c, f"WebSocket closed by the server ({code} "
                             f"{payload[2:].decode('utf-8', 'replace')})")
                return None
        return b"".join(out)

    def sign_in(self, c: Conn) -> None:
        if self.irc:
            out = b""
            if self.o.irc_pass:
                out += b"PASS " + self.o.irc_pass.encode() + b"\r\n"
            out += b"NICK %s\r\nUSER %s 0 * :loadgen\r\n" % (c.nick, c.nick)
            c.state = WELCOME
            self.write(c, out)
        else:
            c.state = PROMPT

    # input while signing in: parsed line by line (a handful of lines per client)

    def setup_read(self, c: Conn) -> None:
        try:
            data = c.sock.recv(BUFSIZE)
            if data and self.tls_ctx is not None:
                # One TLS record per read: take every one there is.
                more = [data]
                while sum(map(len, more)) < BUFSIZE:
                    try:
                        chunk = c.sock.recv(BUFSIZE)
                    except WOULD_BLOCK:
                        break
                    if not chunk:
                        break
                    more.append(chunk)
                data = b"".join(more)
        except WOULD_BLOCK:
            return
        except OSError as e:
            self.dead(c, str(e))
            return
        self.n_reads += 1
        if not data:
            self.dead(c, "EOF from server during sign-in")
            return
        self.t_last_rx = time.monotonic_ns()
        if c.state == UPGRADE:
            data = self.upgraded(c, data)
            if not data:
                return
        if self.ws:
            data = self.ws_lines(c, data)
            if data is None:
                return
        data = c.partial + data
        if c.state == PROMPT:
            # The prompt may come without a line ending.
            if self.prompt not in data:
                c.partial = data[-MAX_PARTIAL:]
                return
            data = data[data.index(self.prompt):]
            nl = data.find(b"\n")
            data = data[nl + 1:] if nl >= 0 else b""
            self.write(c, c.nick + self.eol)
            if self.ack:
                c.state = ACK
            else:
                self.become_ready(c)
        lines = data.split(b"\n")
        c.partial = lines.pop()[-MAX_PARTIAL:]
        for line in lines:
            if c.state == READY or c.state == DEAD:
                # Whatever follows the acknowledgement in the same chunk.
                if self.marker in line:
                    self.total_deliv += 1
                continue
            if self.irc:
                self.irc_setup_line(c, line.rstrip(b"\r"))
            else:
                self.line_setup_line(c, line)

    def line_setup_line(self, c: Conn, line: bytes) -> None:
        if self.ack in line:
            self.become_ready(c)
        elif self.prompt in line:
            # The nickname was refused: try another.
            c.retries += 1
            c.nick = self.prefix + b"%x%c" % (c.id + self.id_base, 97 + c.retries % 26)
            self.write(c, c.nick + self.eol)

    def irc_setup_line(self, c: Conn, line: bytes) -> None:
        words = line.split(None, 2)
        if not words:
            return
        if words[0].startswith(b":") or words[0].startswith(b"@"):
            words = line.split(None, 3)[1:] if not words[0].startswith(b"@") else \
                line.split(None, 4)[2:]
            if not words:
                return
        cmd = words[0]
        if cmd == b"PING":
            self.write(c, b"PONG " + (words[1] if len(words) > 1 else b"x") + b"\r\n")
            return
        if cmd == b"ERROR":
            self.error_lines += 1
            self.note_error(line.decode("utf-8", "replace")[:200])
            return
        if c.state == WELCOME:
            if cmd == b"001":
                self.after_welcome(c)
            elif cmd in (b"432", b"433", b"436"):
                c.retries += 1
                c.nick = self.prefix + b"%x%c" % (c.id + self.id_base, 97 + c.retries % 26)
                self.write(c, b"NICK " + c.nick + b"\r\n")
            elif cmd[:1] in (b"4", b"5") and self.o.verbose:
                print(f"[{c.id}] registration: {line[:200]!r}", file=sys.stderr)
        elif c.state == JOIN:
            if cmd == b"366":
                self.become_ready(c)
            elif cmd[:1] in (b"4", b"5") and self.channel.lower() in line.lower():
                self.note_error(line.decode("utf-8", "replace")[:200])
                if self.o.verbose:
                    print(f"[{c.id}] join: {line[:200]!r}", file=sys.stderr)

    def after_welcome(self, c: Conn) -> None:
        out = b""
        if c.sender and self.o.oper:
            name, _, password = self.o.oper.partition(":")
            out += b"OPER %s %s\r\n" % (name.encode(), password.encode())
            if self.o.oper_umode:
                out += b"MODE %s %s\r\n" % (c.nick, self.o.oper_umode.encode())
        if self.o.scenario != "conn":
            out += b"JOIN " + self.channel + b"\r\n"
            c.state = JOIN
        else:
            self.become_ready(c)
        if out:
            self.write(c, out)

    # input once signed in: the fast path

    def ready_read(self, c: Conn) -> None:
        if self.ws and (c.lat or c.check):
            self.ws_read(c)
            return
        buf = self.buf
        p = c.partial
        pl = len(p)
        if pl:
            buf[:pl] = p
        try:
            n = c.sock.recv_into(self.mv[pl:])
        except WOULD_BLOCK:
            return
        except OSError as e:
            self.dead(c, str(e))
            return
        self.n_reads += 1
        if not n:
            self.dead(c, "EOF from server")
            return
        end = pl + n
        if self.tls_ctx is not None:
            end = self.tls_more(c, end)
        if self.ws:
            # Server frames are not masked: the markers can be counted in the
            # raw stream, frame headers and all.  The last len(marker) - 1
            # bytes are kept, so that a marker cut in two by the reads is
            # counted once, with the read that completes it.
            k = buf.count(self.marker, 0, end)
            if k:
                self.total_deliv += k
                if self.phase == MEASURE:
                    self.win_deliv += k
            keep = min(end, self.mlen - 1)
            c.partial = bytes(buf[end - keep:end])
            return
        self.count_lines(c, end)

    def tls_more(self, c: Conn, end: int) -> int:
        """
        Read more TLS records into the shared buffer, past C{end}, while they
        come and there is room: one record per read, many per wake-up.
        Returns the new end; the next round sees an end of stream or error.
        """
        mv = self.mv
        sock = c.sock
        while end < BUFSIZE - TLS_ROOM:
            try:
                n = sock.recv_into(mv[end:])
            except (OSError, ValueError):
                break
            if not n:
                break
            self.n_reads += 1
            end += n
        return end

    def ws_read(self, c: Conn) -> None:
        """A WebSocket receiver that parses its frames (latency, checks)."""
        chunks = []
        size = 0
        while size < BUFSIZE // 4:
            try:
                data = c.sock.recv(BUFSIZE // 4 - size)
            except WOULD_BLOCK:
                break
            except OSError as e:
                self.dead(c, str(e))
                return
            self.n_reads += 1
            if not data:
                if not chunks:
                    self.dead(c, "EOF from server")
                    return
                break
            chunks.append(data)
            size += len(data)
            if self.tls_ctx is None:
                break
        if not chunks:
            return
        lines = self.ws_lines(c, b"".join(chunks))
        if lines is None:
            return
        blob = c.partial + lines
        self.buf[:len(blob)] = blob
        self.count_lines(c, len(blob))

    def count_lines(self, c: Conn, end: int) -> None:
        """Count the messages in the complete lines of C{buf[:end]}."""
        buf = self.buf
        last = buf.rfind(b"\n", 0, end) + 1
        if last:
            k = buf.count(self.marker, 0, last)
            if k:
                self.total_deliv += k
                if self.phase == MEASURE:
                    self.win_deliv += k
                if c.lat:
                    self.parse_deliveries(c, last)
            if c.check and buf.count(b"\n", 0, last) != k:
                self.other(c, last)
            c.partial = bytes(buf[last:end]) if last < end else b""
        else:
            c.partial = bytes(buf[:end]) if end < MAX_PARTIAL else b""

    def parse_deliveries(self, c: Conn, last: int) -> None:
        """Timestamps and sequence numbers from one chunk of a latency receiver."""
        now = time.monotonic_ns()
        self.t_last_deliv = now
        measuring = self.phase == MEASURE
        lat = self.lat
        probe = c is self.probe
        conns = self.conns
        nsenders = len(self.senders)
        for part in bytes(self.buf[:last]).split(self.marker)[1:]:
            f = part.split(None, 3)
            try:
                ts = int(f[2])
            except (IndexError, ValueError):
                continue
            if measuring:
                lat.append((now - ts) // 1000)
            if probe:
                sid = int(f[0])
                if sid < nsenders:
                    s = conns[sid]
                    seq = int(f[1])
                    self.total_accepted += 1
                    if measuring:
                        self.win_accepted += 1
                    if seq > s.acked:
                        s.acked = seq
                        s.last_prog = now

    def other(self, c: Conn, last: int) -> None:
        """Lines that are not messages: rare once the room has settled."""
        data = bytes(self.buf[:last])
        sending = self.phase >= WARMUP
        if not sending and b"PING" not in data and b"ERROR" not in data:
            return  # the join storm
        for line in data.split(b"\n"):
            if not line or self.marker in line:
                continue
            line = line.rstrip(b"\r")
            words = line.split(None, 3)
            if words and words[0].startswith(b":"):
                words = words[1:]
            cmd = words[0] if words else b""
            if self.irc and cmd == b"PING":
                self.pings += 1
                self.write(c, b"PONG " + (words[1] if len(words) > 1 else b"x") + b"\r\n")
                continue
            if cmd == b"ERROR":
                self.error_lines += 1
                self.note_error(line.decode("utf-8", "replace")[:200])
            if not sending:
                continue
            if self.irc and cmd in (b"PRIVMSG", b"JOIN", b"353", b"366", b"381", b"MODE",
                                    b"NOTICE", b"PONG"):
                if cmd != b"NOTICE":
                    continue
            self.other_lines += 1
            lower = line.lower()
            if any(w in lower for w in FLOOD_WORDS):
                self.flood_notices += 1
            if len(self.other_samples) < 5:
                self.other_samples.append(line.decode("utf-8", "replace")[:200])
                if self.o.verbose:
                    print(f"[{c.id}] {line[:200]!r}", file=sys.stderr)

    # the event loop

    def to_bulk(self, c: Conn) -> None:
        """Read this receiver in bulk from now on."""
        if c.ep is self.ep_bulk or c.state != READY:
            return
        self.ep.unregister(c.fd)
        c.ep = self.ep_bulk
        self.ep_bulk.register(c.fd, EPOLLIN | (EPOLLOUT if c.epout else 0))
        self.bulk_active = True

    def poll_once(self, timeout: float) -> None:
        if self.bulk_active:
            now = time.monotonic_ns()
            if now >= self.next_bulk:
                self.next_bulk = now + self.bulk_ns
                self.handle_events(self.ep_bulk.poll(0, 16384))
            timeout = min(timeout, max(0, self.next_bulk - time.monotonic_ns()) / 1e9)
        try:
            events = self.ep.poll(timeout, 4096)
        except InterruptedError:
            return
        self.n_polls += 1
        if self.lat_first and len(events) > 1:
            # Timestamps first: a latency receiver's figure should not include
            # the time spent reading the receivers that only count.
            byfd = self.byfd
            lat = [e for e in events if e[0] in byfd and byfd[e[0]].lat]
            if lat:
                self.handle_events(lat)
                events = [e for e in events if e[0] not in byfd or not byfd[e[0]].lat]
        self.handle_events(events)

    def handle_events(self, events) -> None:
        byfd = self.byfd
        for fd, ev in events:
            c = byfd.get(fd)
            if c is None:
                self.control_event(fd)
                continue
            st = c.state
            if st == READY:
                if ev & EPOLLOUT:
                    self.flush(c)
                    if c.state == DEAD:
                        continue
                if ev & (EPOLLIN | EPOLLERR):
                    self.ready_read(c)
                continue
            if st == CONNECTING:
                self.connected(c)
                continue
            if st == HANDSHAKE:
                self.handshake(c)
                continue
            if ev & EPOLLOUT:
                self.flush(c)
                if c.state == DEAD:
                    continue
            if ev & (EPOLLIN | EPOLLERR):
                if c.state == READY:
                    self.ready_read(c)
                else:
                    self.setup_read(c)

    def setup_to(self, target: int, timeout: float) -> bool:
        """Open connections until C{target} have been tried and none is pending."""
        self.target = target
        while len(self.conns) < target:
            self.conns.append(Conn(len(self.conns)))
        deadline = time.monotonic() + timeout
        conc = self.o.conc
        while True:
            while not self.connect_fatal and self.nopened < target and self.npending < conc:
                self.open_conn(self.nopened)
                self.nopened += 1
            if self.nopened >= target and self.npending == 0:
                return True
            if self.connect_fatal and self.npending == 0:
                return False
            if time.monotonic() > deadline:
                return False
            self.poll_once(0.005)

    def run_for(self, secs: float, sending: bool) -> None:
        end = time.monotonic_ns() + int(secs * 1e9)
        min_poll = self.o.min_poll_us * 1000 if self.o.rate <= 0 else 0
        fill = self.fill_window if self.o.rate <= 0 else self.fill_rate
        while True:
            now = time.monotonic_ns()
            if now >= end:
                return
            timeout = min(end - now, 5_000_000)
            if sending:
                due = fill(now)
                if due:
                    timeout = min(timeout, max(due - now, 0))
                else:
                    timeout = min(timeout, 1_000_000)
            self.poll_once(timeout / 1e9)
            if sending and min_poll:
                left = min_poll - (time.monotonic_ns() - now)
                if left > 0:
                    time.sleep(left / 1e9)

    # sending

    def message(self, c: Conn, seq: int, ts: int) -> bytes:
        head = b"%s %d %d %d " % (self.marker, c.id, seq, ts)
        return self.msg_prefix + head + self.pad[:self.o.size - len(head)] + self.eol

    def fill_window(self, now: int) -> int:
        window = self.o.window
        stall_ns = self.o.stall_ms * 1_000_000
        measuring = self.phase == MEASURE
        for c in self.senders:
            if c.state != READY:
                continue
            inflight = c.sent - c.acked
            if inflight and now - c.last_prog > stall_ns:
                self.stalls += 1
                self.lost_est += inflight
                c.acked = c.sent
                c.last_prog = now
                inflight = 0
            k = window - inflight
            if k <= 0 or c.out:
                continue
            if not inflight:
                c.last_prog = now
            first = c.sent + 1
            c.sent += k
            self.total_sent += k
            if measuring:
                self.win_sent += k
            self.write(c, b"".join([self.message(c, seq, now)
                                    for seq in range(first, first + k)]))
        return 0

    def fill_rate(self, now: int) -> int:
        interval = self.interval_ns
        measuring = self.phase == MEASURE
        due = 0
        for c in self.senders:
            if c.state != READY:
                continue
            if c.next_ns <= now:
                msgs = []
                while c.next_ns <= now:
                    if len(c.out) > (16 << 20):
                        self.backlog_skips += 1
                    else:
                        c.sent += 1
                        msgs.append(self.message(c, c.sent, c.next_ns))
                    c.next_ns += interval
                if msgs:
                    self.total_sent += len(msgs)
                    if measuring:
                        self.win_sent += len(msgs)
                    self.write(c, b"".join(msgs))
            if not due or c.next_ns < due:
                due = c.next_ns
        return due

    # several generator processes

    def control_event(self, fd: int) -> None:
        """Something from the main process (in a helper) or from a helper."""
        if self.control is not None and fd == self.control:
            self.helper_command()
            return
        for h in self.helpers:
            if h.fd == fd:
                h.read()
                if h.ended:
                    self.ep.unregister(fd)
                return

    def start_helpers(self) -> int:
        """
        --procs N: start N - 1 helpers, each holding an equal share of the
        room's plain receivers (this process keeps the senders, the probe,
        the latency receivers and the rest).  Returns this process's clients.
        """
        o = self.o
        extra = o.procs - 1
        if extra <= 0:
            return o.clients
        share = o.clients // o.procs
        local = o.clients - share * extra
        if share < 1 or local <= o.senders + 1:
            raise SystemExit("loadgen: too few clients for --procs "
                             f"{o.procs} with {o.senders} senders")
        for k in range(extra):
            argv = [sys.executable, os.path.abspath(__file__), *o.argv, "--procs", "1",
                    "--prefix", self.prefix.decode(), "--server-pid", "0",
                    "--helper", f"{local + k * share}:{share}",
                    "--label", f"{o.label}/helper{k + 1}"]
            h = Helper(argv)
            self.helpers.append(h)
            self.ep.register(h.fd, EPOLLIN)
        return local

    def wait_helpers(self, what: str, timeout: float) -> bool:
        """Serve this process's clients until every helper has said C{what}."""
        deadline = time.monotonic() + timeout
        while any(getattr(h, what) is None and not h.ended for h in self.helpers):
            if time.monotonic() > deadline:
                break
            self.poll_once(0.005)
        return all(getattr(h, what) is not None for h in self.helpers)

    def tell_helpers(self, command: str) -> None:
        for h in self.helpers:
            h.say(command)

    def stop_helpers(self) -> None:
        for h in self.helpers:
            h.stop()

    def scenario_helper(self) -> None:
        """A helper: sign in its share, then follow the main process's commands."""
        o = self.o
        first, count = (int(x) for x in o.helper.split(":"))
        self.id_base = first
        self.conns = [Conn(i) for i in range(count)]
        self.control = sys.stdin.fileno()
        os.set_blocking(self.control, False)
        self.control_partial = b""
        self.helper_done = False
        self.measure_from = None
        self.ep.register(self.control, EPOLLIN)
        self.setup_to(count, o.setup_timeout)
        self.report({"ready": self.nready, "failed": self.nfailed,
                     "first_error": self.first_error})
        self.phase = SETTLE
        min_poll = o.min_poll_us * 1000 if o.rate <= 0 else 0
        while not self.helper_done:
            t = time.monotonic_ns()
            self.poll_once(0.05)
            if min_poll and self.phase >= WARMUP:
                # Batched reads, as in the main process while it sends.
                left = min_poll - (time.monotonic_ns() - t)
                if left > 0:
                    time.sleep(left / 1e9)
        self.close_all()

    def report(self, message: dict) -> None:
        sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")
        sys.stdout.flush()

    def helper_command(self) -> None:
        try:
            data = os.read(self.control, 4096)
        except BlockingIOError:
            return
        if not data:  # the main process is gone
            self.helper_done = True
            self.ep.unregister(self.control)
            return
        *lines, self.control_partial = (self.control_partial + data).split(b"\n")
        for line in lines:
            words = line.split()
            if not words:
                continue
            if words[0] == b"fast":
                self.fast_path()
                self.phase = WARMUP
            elif words[0] == b"measure":
                self.phase = MEASURE
                self.measure_from = (os.times(), self.n_reads, time.monotonic_ns())
            elif words[0] == b"drain":
                end = (os.times(), self.n_reads, time.monotonic_ns())
                start = self.measure_from or end
                self.phase = DRAIN
                drain_s = self.drain(int(words[1]))
                cpu = (end[0].user + end[0].system) - (start[0].user + start[0].system)
                self.report({"result": {
                    "win_deliv": self.win_deliv, "total_deliv": self.total_deliv,
                    "gen_cpu_s": round(cpu, 3), "window_s": (end[2] - start[2]) / 1e9,
                    "reads": end[1] - start[1], "drain_s": round(drain_s, 2),
                    "ready": self.nready, "dropped": self.ndropped, "failed": self.nfailed,
                    "other_lines": self.other_lines, "other_samples": self.other_samples,
                    "error_lines": self.error_lines, "flood_notices": self.flood_notices,
                    "pings": self.pings, "first_error": self.first_error}})
                self.helper_done = True

    # scenarios

    def fast_path(self) -> None:
        """
        From now on leftovers of the sign-in lines are dropped, and only some
        receivers look for lines that are not messages.
        """
        every = max(1, self.o.check_every)
        for c in self.conns:
            c.partial = b""
            c.check = c.sender or c.lat or c.id % every == 0
        if self.bulk_ns > 0:
            for c in self.conns:
                if not (c.sender or c.lat):
                    self.to_bulk(c)

    def drain(self, expected: int) -> float:
        """Read until C{expected} deliveries, or a pause, or --drain-max: seconds."""
        o = self.o
        d0 = time.monotonic_ns()
        self.t_last_deliv = d0
        last_total = self.total_deliv
        last_change = d0
        while True:
            n2 = time.monotonic_ns()
            if self.total_deliv != last_total:
                last_total, last_change = self.total_deliv, n2
            if n2 - d0 > o.drain_max * 1e9 or n2 - last_change > o.drain_idle * 1e9:
                break
            if self.total_deliv >= expected:
                break
            self.poll_once(0.005)
        return (time.monotonic_ns() - d0) / 1e9

    def close_all(self) -> None:
        for c in self.conns:
            if c.sock is not None:
                self.reset_close(c.sock)
                c.sock = None

    def scenario_conn(self) -> dict:
        o = self.o
        steps = [int(s) for s in o.steps.split(",") if s.strip()]
        pid = o.server_pid
        rss0 = read_rss_kb(pid)
        cpu0 = read_cpu_s(pid)
        t0 = time.monotonic()
        out_steps = []
        max_reached = 0
        mid_total = [0, 0.0]
        for n in steps:
            ts = time.monotonic()
            g0 = time.process_time()
            c0 = read_cpu_s(pid)
            before = self.nready
            first = len(self.ready_times)
            lo0 = listen_overflows()
            ok = self.setup_to(n, o.setup_timeout)
            secs = time.monotonic() - ts
            lo = listen_overflows() - lo0 if lo0 >= 0 else -1
            # The steady rate: the middle 80 % of the step's sign-ins, so that
            # a few connections waiting for a SYN retransmission (a full
            # listen queue) do not decide the figure.
            times = self.ready_times[first:]
            mid_n, mid_s = 0, 0.0
            if len(times) >= 20:
                i10, i90 = len(times) // 10, len(times) * 9 // 10
                mid_n, mid_s = i90 - i10, times[i90] - times[i10]
            mid_total[0] += mid_n
            mid_total[1] += mid_s
            gen_pct = (time.process_time() - g0) / secs * 100 if secs > 0 else 0
            srv_pct = (read_cpu_s(pid) - c0) / secs * 100 if secs > 0 and c0 >= 0 else -1
            made = max(self.nready - before, 0)
            self.phase = SETTLE
            self.run_for(o.hold, False)
            rss = read_rss_kb(pid)
            alive = self.nready
            max_reached = max(max_reached, alive)
            kb = (rss - rss0) / alive if rss >= 0 and rss0 >= 0 and alive else -1
            out_steps.append({
                "n": n, "alive": alive, "setup_s": round(secs, 3),
                "setup_rate": round(made / secs, 1) if secs > 0 else 0,
                "steady_rate": round(mid_n / mid_s, 1) if mid_s > 0 else 0,
                "listen_overflows": lo,
                "rss_kb": rss, "kb_per_conn": round(kb, 2),
                "failed": self.nfailed, "dropped": self.ndropped,
                "gen_cpu_pct": round(gen_pct, 1), "server_cpu_pct": round(srv_pct, 1),
            })
            if not ok or alive < n:
                break
        total = time.monotonic() - t0
        setup_total = sum(s["setup_s"] for s in out_steps)
        result = {
            "scenario": "conn", "mode": o.mode, "rss_base_kb": rss0, "steps": out_steps,
            "max_reached": max_reached, "peak_ready": self.peak_ready,
            "failed": self.nfailed, "dropped": self.ndropped,
            # Sign-ins per second in the steady middle of the steps, and over
            # the steps' whole duration (stragglers included).
            "registrations_per_s": (round(mid_total[0] / mid_total[1], 1) if mid_total[1]
                                    else round(max_reached / setup_total, 1) if setup_total
                                    else 0),
            "registrations_per_s_overall": (round(max_reached / setup_total, 1)
                                            if setup_total else 0),
            "kb_per_conn": out_steps[-1]["kb_per_conn"] if out_steps else -1,
            "total_s": round(total, 3),
            "server_cpu_s": round(read_cpu_s(pid) - cpu0, 2) if pid > 0 else -1,
            "gen_cpu_s": round(time.process_time(), 2),
            "first_error": self.first_error,
        }
        human = f"conn {o.label}:" + "".join(
            f" n={s['n']} alive={s['alive']} {s['setup_rate']:.0f}/s "
            f"(steady {s['steady_rate']:.0f}/s, {s['listen_overflows']} listen overflows) "
            f"rss={s['rss_kb']}KB "
            f"{s['kb_per_conn']:.2f}KB/conn gen_cpu={s['gen_cpu_pct']:.0f}% "
            f"srv_cpu={s['server_cpu_pct']:.0f}%;" for s in out_steps)
        human += f" max={max_reached} regs/s={result['registrations_per_s']:.0f}"
        if self.first_error:
            human += f" err={self.first_error}"
        self.close_all()
        return result, human

    def scenario_fanout(self) -> dict:
        o = self.o
        if o.senders >= o.clients:
            raise SystemExit("loadgen: need more clients than senders "
                             "(the last client is the probe)")
        pid = o.server_pid
        n = self.start_helpers()
        self.conns = [Conn(i) for i in range(n)]
        self.senders = self.conns[:o.senders]
        for c in self.senders:
            c.sender = True
        self.probe = self.conns[-1]
        # Latency receivers: a systematic sample over the whole room, senders
        # included (they receive the other senders' messages, and a server
        # may treat them differently), so that each kind of member weighs in
        # the percentiles as it does in the room; and the probe.
        k = n if o.lat_receivers <= 0 else min(o.lat_receivers, n)
        for i in range(k):
            self.conns[n - 1 - (i * n) // k].lat = True
        self.probe.lat = True
        lat_count = sum(c.lat for c in self.conns)
        lat_senders = sum(c.lat for c in self.senders)

        rss0 = read_rss_kb(pid)
        t0 = time.monotonic()
        ok = self.setup_to(n, o.setup_timeout)
        if self.helpers:
            ok = self.wait_helpers("ready", max(1.0, o.setup_timeout - (time.monotonic() - t0))) \
                and ok
            for h in self.helpers:
                if h.ready:
                    self.nready += h.ready["ready"]
                    self.nfailed += h.ready["failed"]
                    if h.ready["first_error"]:
                        self.note_error(h.ready["first_error"])
        setup_s = time.monotonic() - t0
        if not ok or self.nready < o.clients:
            result = {"scenario": o.scenario, "mode": o.mode, "error": "setup incomplete",
                      "ready": self.nready, "clients": o.clients, "failed": self.nfailed,
                      "dropped": self.ndropped, "setup_s": round(setup_s, 2),
                      "first_error": self.first_error}
            return result, (f"{o.scenario} {o.label}: SETUP FAILED ready={self.nready}/"
                            f"{o.clients} failed={self.nfailed} err={self.first_error}")
        rss_ready = read_rss_kb(pid)
        # Settle: the join storm (O(C^2) lines) may trail the last 366.
        self.phase = SETTLE
        st0 = time.monotonic_ns()
        self.t_last_rx = st0
        while (time.monotonic_ns() - self.t_last_rx < o.settle * 1e9
               and time.monotonic_ns() - st0 < o.settle_max * 1e9):
            self.run_for(0.05, False)
        settle_s = (time.monotonic_ns() - st0) / 1e9
        self.fast_path()
        self.tell_helpers("fast")
        now = time.monotonic_ns()
        if o.rate > 0:
            self.interval_ns = int(1e9 * o.senders / o.rate)
            for i, c in enumerate(self.senders):
                c.next_ns = now + self.interval_ns * i // o.senders
        self.lat_first = o.rate > 0
        self.phase = WARMUP
        self.run_for(o.warmup, True)

        self.phase = MEASURE
        self.tell_helpers("measure")
        reads0, polls0 = self.n_reads, self.n_polls
        g0 = os.times()
        s0 = read_cpu_s(pid)
        t_start = time.monotonic_ns()
        wall_start = time.time()
        self.run_for(o.duration, True)
        t_end = time.monotonic_ns()
        wall_end = time.time()
        g1 = os.times()
        s1 = read_cpu_s(pid)
        reads1, polls1 = self.n_reads, self.n_polls
        rss_load = read_rss_kb(pid)

        self.phase = DRAIN
        fan = o.clients - 1 + (1 if o.echo else 0)
        local_fan = n - 1 + (1 if o.echo else 0)
        share = (o.clients - n) // len(self.helpers) if self.helpers else 0
        self.tell_helpers(f"drain {self.total_sent * share}")
        drain_s = self.drain(self.total_sent * local_fan)

        win = (t_end - t_start) / 1e9
        gen_user = g1.user - g0.user
        gen_sys = g1.system - g0.system
        gen_cpu = (gen_user + gen_sys) / win * 100
        gen_cpus = [round(gen_cpu, 1)]
        if self.helpers:
            self.wait_helpers("result", o.drain_max + 10)
            for h in self.helpers:
                r = h.result
                if r is None:
                    self.note_error("a helper process gave no result")
                    self.lost_est += 1
                    continue
                self.win_deliv += r["win_deliv"]
                self.total_deliv += r["total_deliv"]
                self.ndropped += r["dropped"]
                self.other_lines += r["other_lines"]
                self.other_samples += r["other_samples"][:5 - len(self.other_samples)]
                self.error_lines += r["error_lines"]
                self.flood_notices += r["flood_notices"]
                self.pings += r["pings"]
                self.n_reads += r["reads"]
                if r["first_error"]:
                    self.note_error(r["first_error"])
                gen_cpus.append(round(r["gen_cpu_s"] / win * 100, 1))
                drain_s = max(drain_s, r["drain_s"])
            gen_cpu = sum(gen_cpus)
        srv_cpu = (s1 - s0) / win * 100 if s0 >= 0 else -1
        frac = self.total_deliv / (self.total_sent * fan) if self.total_sent else 0
        lat = sorted(self.lat)
        lat_us = {"n": len(lat), "p50": percentile(lat, 0.5), "p90": percentile(lat, 0.9),
                  "p99": percentile(lat, 0.99), "p999": percentile(lat, 0.999),
                  "max": lat[-1] if lat else -1,
                  "mean": round(sum(lat) / len(lat)) if lat else -1}
        flood = bool(self.stalls or frac < 0.99 or self.flood_notices or self.ndropped
                     or self.error_lines)
        result = {
            "scenario": o.scenario, "mode": o.mode, "clients": o.clients,
            "senders": o.senders, "rate_target": o.rate, "window": o.window, "size": o.size,
            "duration_s": round(win, 3), "settle_s": round(settle_s, 3),
            # The measured window in wall-clock time, for figures taken from
            # outside (a database's rows sampled while the load ran).
            "measure_start_unix": round(wall_start, 4), "measure_end_unix": round(wall_end, 4),
            "setup_s": round(setup_s, 3), "setup_rate": round(o.clients / setup_s, 1),
            "ready": self.nready, "sent": self.win_sent,
            "sent_per_s": round(self.win_sent / win, 1),
            "accepted_per_s": round(self.win_accepted / win, 1),
            "deliveries": self.win_deliv, "deliveries_per_s": round(self.win_deliv / win, 1),
            "fanout": fan, "total_sent": self.total_sent,
            "total_deliveries": self.total_deliv, "delivered_fraction": round(frac, 5),
            "drain_s": round(drain_s, 2), "lat_receivers": lat_count,
            "lat_senders": lat_senders, "lat_us": lat_us,
            "stalls": self.stalls, "lost_est": self.lost_est,
            "dropped_conns": self.ndropped, "failed_conns": self.nfailed,
            "error_lines": self.error_lines, "flood_notices": self.flood_notices,
            "other_lines": self.other_lines, "other_samples": self.other_samples,
            "pings": self.pings, "gen_backlog_skips": self.backlog_skips,
            "gen_cpu_pct": round(gen_cpu, 1), "gen_sys_pct": round(gen_sys / win * 100, 1),
            # Per generator process (--procs): the busiest one is what could
            # hold the figure back.
            "gen_procs": len(gen_cpus), "gen_cpu_pcts": gen_cpus,
            "gen_cpu_max_pct": max(gen_cpus),
            "gen_reads_per_s": round((reads1 - reads0) / win),
            "gen_polls_per_s": round((polls1 - polls0) / win),
            "min_poll_us": o.min_poll_us if o.rate <= 0 else 0,
            "server_cpu_pct": round(srv_cpu, 1), "server_rss_kb_before": rss0,
            "server_rss_kb_ready": rss_ready, "server_rss_kb_load": rss_load,
            "flood_suspected": flood, "first_error": self.first_error,
        }
        human = (f"{o.scenario} {o.label}: mode={o.mode} C={o.clients} S={o.senders} "
                 f"rate={'%g/s' % o.rate if o.rate > 0 else 'max'} "
                 f"deliv/s={self.win_deliv / win:.0f} sent/s={self.win_sent / win:.0f} "
                 f"frac={frac:.4f} lat p50={lat_us['p50']}us p99={lat_us['p99']}us "
                 f"max={lat_us['max']}us gen_cpu={gen_cpu:.0f}% "
                 + (f"(per process {'/'.join(f'{x:.0f}' for x in gen_cpus)}%) "
                    if len(gen_cpus) > 1 else "") +
                 f"({(reads1 - reads0) / win:.0f} reads/s) srv_cpu={srv_cpu:.0f}% "
                 f"stalls={self.stalls} dropped={self.ndropped} "
                 f"flood={'yes' if flood else 'no'}")
        self.close_all()
        return result, human

    def run(self) -> int:
        o = self.o
        if o.helper:
            self.scenario_helper()
            return 0
        if o.scenario == "conn":
            result, human = self.scenario_conn()
        else:
            try:
                result, human = self.scenario_fanout()
            finally:
                self.stop_helpers()
        result["label"] = o.label
        result["transport"] = self.transport
        human += f" transport={self.transport}"
        if self.ws:
            result["ws_subprotocol"] = self.ws_subprotocol
            human += f" ({self.ws_subprotocol or '?'})"
        print("RESULT " + json.dumps(result, separators=(",", ":")))
        print(human)
        sys.stdout.flush()
        return 1 if "error" in result else 0


def options(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Load generator for chatservice and IRC servers (line chat and IRC).")
    p.add_argument("--mode", choices=("irc", "line"), default="irc")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=6667)
    p.add_argument("--tls", action="store_true",
                   help="connect with TLS (any certificate is taken: benchmarks use "
                        "self-signed ones)")
    p.add_argument("--ws", action="store_true",
                   help="IRC over WebSocket (with --tls: wss); one line per frame")
    p.add_argument("--ws-path", default="/", help="--ws: the request path (/)")
    p.add_argument("--ws-protocol", default="text.ircv3.net",
                   help="--ws: the subprotocol asked for (text.ircv3.net; "
                        "binary.ircv3.net sends binary frames; '' asks for none)")
    p.add_argument("--ws-origin", default="",
                   help="--ws: an Origin header to send (none by default, as from a "
                        "client that is not a browser)")
    p.add_argument("--scenario", choices=("fanout", "rate", "conn"), default="fanout")
    p.add_argument("--clients", type=int, default=100, help="clients in the room (100)")
    p.add_argument("--senders", type=int, default=10, help="senders among them (10)")
    p.add_argument("--duration", type=float, default=5, help="measured seconds (5)")
    p.add_argument("--warmup", type=float, default=1, help="seconds sending before measuring (1)")
    p.add_argument("--rate", type=float, default=None,
                   help="total messages/s for the rate scenario (1000); fanout sends "
                        "as fast as the window allows")
    p.add_argument("--window", type=int, default=32,
                   help="messages each sender keeps in flight in fanout (32)")
    p.add_argument("--size", type=int, default=64, help="payload bytes (64)")
    p.add_argument("--marker", default="QZBJQZBJQZBJQZBJ",
                   help="text that marks a message; a long one with letters that "
                        "are rare on the wire is counted fastest")
    p.add_argument("--channel", default="#bench")
    p.add_argument("--prefix", default="", help="nickname prefix (random by default)")
    p.add_argument("--prompt", default="nickname",
                   help="line mode: text the server sends when it wants a nickname")
    p.add_argument("--ack", default="*** You joined",
                   help="line mode: text of the line that confirms sign-in")
    p.add_argument("--crlf", action="store_true", help="line mode: end lines with CR LF")
    p.add_argument("--echo", action="store_true",
                   help="the server echoes messages to their sender")
    p.add_argument("--lat-receivers", type=int, default=None,
                   help="clients that parse timestamps, spread evenly over the room "
                        "(senders included) besides the probe; 0 = all (fanout: 4, rate: 20)")
    p.add_argument("--bulk-poll-ms", type=float, default=None,
                   help="read receivers that only count deliveries every this many "
                        "milliseconds, apart from the senders and latency receivers, "
                        "which are read at once; fewer reads, but the server is spared "
                        "waking readers up, unlike with real clients (0 = off)")
    p.add_argument("--min-poll-us", type=int, default=None,
                   help="fanout: at most one epoll round per this many microseconds, so "
                        "that each read takes many lines (500)")
    p.add_argument("--check-every", type=int, default=10,
                   help="fanout: besides senders and latency receivers, every N-th "
                        "client also looks for lines that are not messages (flood "
                        "notices, errors, PINGs) while sending (10)")
    p.add_argument("--steps", default="1000,5000,10000", help="conn: connections per step")
    p.add_argument("--hold", type=float, default=1, help="conn: seconds idle before RSS (1)")
    p.add_argument("--server-pid", type=int, default=0, help="read the server's CPU and RSS")
    p.add_argument("--conc", type=int, default=64, help="concurrent sign-ins (64)")
    p.add_argument("--setup-timeout", type=float, default=120)
    p.add_argument("--settle", type=float, default=0.5,
                   help="quiet seconds after the join storm before sending (0.5)")
    p.add_argument("--settle-max", type=float, default=60)
    p.add_argument("--drain-max", type=float, default=15,
                   help="at most this many seconds reading after the window (15)")
    p.add_argument("--drain-idle", type=float, default=5,
                   help="stop reading after the window once nothing came for this "
                        "many seconds: longer than the server's latency (5)")
    p.add_argument("--stall-ms", type=int, default=10000,
                   help="fanout: a window with no progress for this long is written off")
    p.add_argument("--irc-pass", default="")
    p.add_argument("--oper", default="", help="NAME:PASSWORD senders OPER with (ngIRCd +F)")
    p.add_argument("--oper-umode", default="", help="user mode senders set after OPER")
    p.add_argument("--src-ips", type=int, default=1,
                   help="spread source addresses over 127.0.x.y (N addresses)")
    p.add_argument("--procs", type=int, default=1,
                   help="fanout and rate: generator processes; the others hold equal "
                        "shares of the plain receivers, for when one process's CPU is "
                        "the limit (give them cores: taskset -c 1,2) (1)")
    p.add_argument("--helper", default="", help=argparse.SUPPRESS)
    p.add_argument("--label", default="")
    p.add_argument("--verbose", action="store_true")
    o = p.parse_args(argv)
    o.argv = list(sys.argv[1:] if argv is None else argv)
    if o.procs < 1:
        p.error("--procs must be 1 or more")
    if o.procs > 1 and o.scenario == "conn":
        p.error("--procs is for the fanout and rate scenarios")
    if o.ws and o.mode != "irc":
        p.error("--ws is IRC over WebSocket: it needs --mode irc")
    if o.rate is None:
        o.rate = 1000.0 if o.scenario == "rate" else 0.0
    if o.scenario == "rate" and o.rate <= 0:
        p.error("the rate scenario needs --rate above 0")
    if o.lat_receivers is None:
        o.lat_receivers = 20 if o.rate > 0 else 4
    if o.bulk_poll_ms is None:
        o.bulk_poll_ms = 0.0
    if o.min_poll_us is None:
        o.min_poll_us = 500
    return o


def main(argv=None) -> int:
    o = options(argv)
    want = (max(int(s) for s in o.steps.split(",")) if o.scenario == "conn" else o.clients) + 64
    limit = raise_nofile(want)
    if limit < want:
        print(f"loadgen: warning: RLIMIT_NOFILE {limit} < {want}", file=sys.stderr)
    return LoadGen(o).run()


if __name__ == "__main__":
    sys.exit(main())
