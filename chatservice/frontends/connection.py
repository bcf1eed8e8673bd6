"""
What every line-based front end does to defend itself, whatever its wire
format: frame lines, discard overlong ones, slow down and then drop flooders,
drop clients that stop reading, count connections per address and give
unregistered connections a deadline.

A front end subclasses L{GuardedLineReceiver} and implements the hooks at the
bottom of the class; it sends with L{GuardedLineReceiver.send} and hangs up
with L{GuardedLineReceiver.close}.
"""

from __future__ import annotations

from collections import deque
from typing import Callable

from twisted.internet import error
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime, ISSLTransport
from twisted.internet.protocol import ServerFactory
from twisted.logger import Logger
from twisted.protocols.basic import LineReceiver
from twisted.python.failure import Failure

from ..core.hub import Hub
from ..core.limits import AddressLimiter, Limits, TokenBucket
from ..core.stats import ConnectionStats
from .broadcast import Broadcasts
from .sendqueue import Flusher, SendQueue
from .tlsmemory import release_buffers


# The reason given to every client when the server stops.
SHUTTING_DOWN = "Server shutting down"


class GuardedFactory(ServerFactory):
    """
    Builds a front end's protocols, sharing the hub, the limits and the
    per-address counts among them.

    @ivar stats: the front end's counts of connections and bytes.
    @ivar connections: the connections open now, to say goodbye to when the
        server stops.
    @ivar shutting_down: the server is stopping; connections are closing.
    """

    shutting_down = False
    _all_gone: Deferred | None = None

    def __init__(self, hub: Hub, limits: Limits, addresses: AddressLimiter):
        self.hub = hub
        self.addresses = addresses
        self.set_limits(limits)
        self.stats = ConnectionStats()
        self.flusher = Flusher(hub.clock, self.stats)
        # Busy rooms' members share each turn's messages (see broadcast).
        Broadcasts.install(hub)
        self.connections: set[GuardedLineReceiver] = set()

    def shut_down(self) -> Deferred:
        """
        Tell every connection that the server is stopping and close it once
        its pending output is written; refuse new ones from now on.  The
        Deferred fires when every connection is gone.
        """
        self.shutting_down = True
        self._all_gone = Deferred()
        for connection in list(self.connections):
            try:
                connection.close(SHUTTING_DOWN)
            except Exception:
                # One connection's failure must not cost the others their goodbye.
                GuardedLineReceiver.log.failure("Closing {peer} failed",
                                                peer=connection.peer_host)
                connection.transport.abortConnection()
        self._connection_gone()
        return self._all_gone

    def _connection_gone(self) -> None:
        if self._all_gone is not None and not self.connections and not self._all_gone.called:
            self._all_gone.callback(None)

    def set_limits(self, limits: Limits) -> None:
        """
        Use C{limits} from now on (a reload may change them): new connections
        get all of them, existing ones those read per line.
        """
        self.limits = limits
        # One int shared by every connection rather than one each.
        self.max_length = limits.max_line_length + 1

    @property
    def clock(self) -> IReactorTime:
        return self.hub.clock


class GuardedLineReceiver(LineReceiver):
    """
    A C{LineReceiver} that accepts C{\\n} or C{\\r\\n}, keeps the connection
    when a line is too long, and enforces the limits in L{Limits}.
    """

    delimiter = b"\n"
    factory: GuardedFactory
    log = Logger()

    # Set when the connection was counted against its address.
    _counted = False
    # Why the server is closing the connection, once it has decided to.
    _closing_reason: str | None = None
    _discarding = False
    _leftover = b""
    _bucket: TokenBucket | None = None
    send: Callable[[bytes], None]  # set when the connection is made
    # Lines delayed by flood control.
    _pending: deque[bytes] | tuple = ()
    _drain_call: IDelayedCall | None = None
    _registration_deadline: IDelayedCall | None = None
    # Seconds a closing connection has to finish (deliver its last output,
    # complete a TLS shutdown) before it is dropped: a TLS client that never
    # completes its handshake, or never answers the close, would otherwise
    # keep its connection, and its place in the per-address count, for ever.
    close_timeout = 5.0
    _close_deadline: IDelayedCall | None = None
    _lost = False

    def __init__(self) -> None:
        # CPython (3.11) keeps an instance's attributes in a table of names
        # that all the class's instances share (at most 30) and an array of
        # values each, until an instance sets a name the table has no room
        # for: that instance then gets a dictionary of its own, 500 bytes
        # more.  The table takes new names only while the class has made
        # few instances, and a busy listener makes hundreds of connections
        # before the first of them reads a line; so every name that most
        # connections come to hold while open is set here (with a front
        # end's own in its __init__: 29 at most in all), when the first one
        # is made.  Names that few connections hold (flood control, labels)
        # or that are set as one closes stay class defaults until then.
        self.factory = None
        self.connected = 0
        self.transport = None
        self._busyReceiving = False
        self._buffer = b""
        self.peer_host = ""
        self.send_queue = None
        self.send = None
        self._counted = False
        self._registration_deadline = None

    # What every connection of a factory shares is read from the factory
    # rather than held by each (see above).

    @property
    def MAX_LENGTH(self) -> int:
        # LineReceiver lets a line run MAX_LENGTH bytes before its delimiter;
        # the factory's +1 leaves room for the \r of a \r\n ending.
        return self.factory.max_length

    @property
    def clock(self) -> IReactorTime:
        return self.factory.clock

    @property
    def transport_name(self) -> str:
        """What carries the connection, as monitoring labels it (see L{_transport_name})."""
        return _transport_name(self.transport)

    # Connection life

    def connectionMade(self) -> None:
        factory = self.factory
        limits = factory.limits
        self.peer_host = _host(self.transport)
        factory.stats.connected(self.transport_name)
        factory.connections.add(self)
        # Output is already coalesced per reactor turn; Nagle's algorithm
        # would only hold the next turn's bytes back for an acknowledgement.
        set_no_delay = getattr(self.transport, "setTcpNoDelay", None)
        if set_no_delay is not None:
            set_no_delay(True)
        self.send_queue = SendQueue(self.transport, limits.max_send_queue,
                                    self._send_queue_overflowed, self.factory.flusher)
        # What the hub calls once per delivery: the queue's own write.
        self.send = self.send_queue.write
        if limits.flood_control:
            self._bucket = TokenBucket(self.clock, limits.flood_rate, limits.flood_burst)
        if factory.shutting_down:
            self.close(SHUTTING_DOWN)
            return
        if not self.factory.addresses.acquire(self.peer_host):
            self.log.info("Refused {peer}: too many connections from its address",
                          peer=self.peer_host)
            self.refuse_too_many_connections(self.factory.addresses.limit)
            self.close("Too many connections from your address")
            return
        self._counted = True
        self._registration_deadline = self.clock.callLater(
            limits.registration_timeout, self._registration_timed_out)
        self.log.info("Connection from {peer}", peer=self.peer_host)
        self.connection_opened()

    def connectionLost(self, reason: Failure = None) -> None:
        self._lost = True
        for call in (self._registration_deadline, self._drain_call, self._close_deadline):
            if call is not None and call.active():
                call.cancel()
        self._pending = ()
        if self._counted:
            self._counted = False
            self.factory.addresses.release(self.peer_host)
        if self._closing_reason is not None:
            why = self._closing_reason
        elif reason is not None and reason.check(error.ConnectionDone):
            why = "Connection closed"
        else:
            why = "Connection reset"
        self.log.info("Disconnected {peer}: {why}", peer=self.peer_host, why=why)
        self.connection_closed(why)
        factory = self.factory
        factory.connections.discard(self)
        factory.stats.disconnected(self.transport_name, why)
        if factory.shutting_down:
            factory._connection_gone()

    def close(self, reason: str, abort: bool = False) -> None:
        """
        Hang up, telling the hub C{reason}; the first reason given is the one
        that counts.  C{abort} drops the connection without flushing output.
        """
        if self._closing_reason is None:
            self._closing_reason = reason
            self.connection_closing(reason)
        if abort:
            self.transport.abortConnection()
        else:
            self.send_queue.detach()
            self.transport.loseConnection()
            if self._close_deadline is None and not self._lost:
                self._close_deadline = self.clock.callLater(
                    self.close_timeout, self.transport.abortConnection)

    def registered(self) -> None:
        """
        The client has signed in: the registration deadline no longer
        applies, and once its welcome is written, what its TLS handshake and
        welcome made its connection's buffers grow to is given back (see
        L{release_buffers}): most connections sit idle from then on.
        """
        if self._registration_deadline is not None and self._registration_deadline.active():
            self._registration_deadline.cancel()
        self._registration_deadline = None
        if self._closing_reason is None:
            self.factory.flusher.after_flush(self._welcomed)

    def _welcomed(self) -> None:
        if self._closing_reason is None and not self._lost:
            release_buffers(getattr(self.transport, "carrier", self.transport))

    def _registration_timed_out(self) -> None:
        self._registration_deadline = None
        self.close("Registration timed out")

    # Output

    def _send_queue_overflowed(self) -> None:
        self.log.info("{peer} does not read its output; disconnecting", peer=self.peer_host)
        self.close("Send queue exceeded", abort=True)

    # Input: framing and overlong lines

    def dataReceived(self, data: bytes) -> None:
        data = self.filter_input(data)
        while data and self._closing_reason is None:
            if self._discarding:
                end = data.find(b"\n")
                if end < 0:
                    return
                data = data[end + 1:]
                self._discarding = False
            super().dataReceived(data)
            if not self._discarding:
                return
            # An overlong line was cut short: go on after it.
            data, self._leftover = self._leftover, b""

    def lineLengthExceeded(self, line: bytes) -> bytes:
        # LineReceiver hands over the overlong line and everything buffered
        # after it; dataReceived skips to the end of the overlong line and
        # goes on with the rest, so lines after it are not lost.  The client
        # hears of it now, once, not when (or if) its newline comes: a
        # sender of a megabyte of junk learns at the first 2 KiB.
        self._discarding = True
        self._leftover = line
        self.line_too_long()
        return b""

    def lineReceived(self, line: bytes) -> None:
        if line.endswith(b"\r"):
            line = line[:-1]
        if self._closing_reason is not None:
            return
        if len(line) > self.factory.limits.max_line_length:
            # MAX_LENGTH leaves room for a \r, so a \n-ended line may be one
            # byte over the limit when it gets here.
            self.line_too_long()
            return
        bucket = self._bucket
        if bucket is None or (not self._pending and bucket.take()):
            self._handle(line)
            return
        if not self._pending:
            # Made only for a client that floods: most never need one.
            self._pending = deque()
        self._pending.append(line)
        if len(self._pending) > self.factory.limits.flood_queue:
            self.log.info("{peer} flooded; disconnecting", peer=self.peer_host)
            self.close("Excess flood")
        elif self._drain_call is None:
            self._drain_call = self.clock.callLater(bucket.wait(), self._drain)

    def _drain(self) -> None:
        self._drain_call = None
        bucket = self._bucket
        while self._pending and self._closing_reason is None and bucket.take():
            self._handle(self._pending.popleft())
        if self._pending and self._closing_reason is None:
            self._drain_call = self.clock.callLater(bucket.wait(), self._drain)

    def _handle(self, line: bytes) -> None:
        try:
            self.handle_line(line)
        except Exception:
            # A bug in one command must not cost the client its connection.
            self.log.failure("Handling a line from {peer} failed", peer=self.peer_host)
            self.internal_error()

    # Hooks for front ends

    def internal_error(self) -> None:
        """Handling the client's last line failed because of a bug."""

    def filter_input(self, data: bytes) -> bytes:
        """Transform raw input before it is split into lines."""
        return data

    def connection_opened(self) -> None:
        """The connection was accepted."""

    def refuse_too_many_connections(self, limit: int) -> None:
        """Tell the client it is refused because its address has C{limit} connections."""

    def handle_line(self, line: bytes) -> None:
        """One line arrived, within the limits, without its line ending."""
        raise NotImplementedError

    def line_too_long(self) -> None:
        """
        A line passed the limit: it is discarded, up to its newline, which
        may not have arrived yet.  Called once per overlong line.
        """

    def connection_closing(self, reason: str) -> None:
        """The server decided to close the connection, for C{reason}."""

    def connection_closed(self, reason: str) -> None:
        """The connection is gone, for C{reason}; called exactly once."""


def _transport_name(transport) -> str:
    """
    What carries a connection, as monitoring labels it: tcp, tls, or what a
    transport that wraps another (a WebSocket's) calls itself.
    """
    name = getattr(transport, "transport_name", None)
    if name is not None:
        return name
    return "tls" if ISSLTransport.providedBy(transport) else "tcp"


def _host(transport) -> str:
    peer = transport.getPeer()
    return getattr(peer, "host", None) or str(peer)
