"""
Output for clients: coalesced per reactor turn, and bounded for clients that
stop reading.

Fan-out is the server's hot path: one message in, one copy out per member.
Writing each copy to its transport at once would cost a trip through the
transport's bookkeeping per copy; instead a copy is appended to the
connection's pending list (a few attribute lookups), and a L{Flusher} hands
each connection's pending output to its transport once per reactor turn, as
one write.  Every message that arrived in that turn reaches each member in
one system call.

The transport tells its producer to pause when its own buffer is full; from
then on output waits here, counted, until the transport asks for more.  When
more than the limit is waiting the client is not reading, and the connection
is dropped rather than letting its backlog eat the server's memory.
"""

from __future__ import annotations

from typing import Callable

from twisted.internet import tcp
from twisted.internet.interfaces import IDelayedCall, IPushProducer, IReactorTime, ITransport
from zope.interface import implementer

from ..core.stats import ConnectionStats


def _idle(transport: tcp.Connection) -> bool:
    """
    Whether a TCP transport is connected and holds no output of its own.
    (This reads Twisted's FileDescriptor buffer attributes, which have no
    public accessor; a Twisted that renamed them would fail the tests.)
    """
    return (not transport._tempDataLen and not transport.dataBuffer
            and transport.connected and not transport.disconnecting)


class Flusher:
    """
    Flushes, once per reactor turn, every send queue that has output
    pending, and counts the bytes it hands over in C{stats.bytes_out}.
    """

    def __init__(self, clock: IReactorTime, stats=None):
        self._clock = clock
        self.stats = stats if stats is not None else ConnectionStats()
        self._due: list[SendQueue] = []
        self._call: IDelayedCall | None = None

    def add(self, queue: SendQueue) -> None:
        self._due.append(queue)
        if self._call is None:
            self._call = self._clock.callLater(0, self.flush)

    def flush(self) -> None:
        """Hand every pending output to its transport now."""
        if self._call is not None:
            if self._call.active():
                self._call.cancel()
            self._call = None
        due, self._due = self._due, []
        for queue in due:
            queue.flush()


@implementer(IPushProducer)
class SendQueue:
    """
    Output to one transport: pending until the flusher's turn while the
    transport accepts data, held and counted while it is paused, and given
    up (C{overflow} is called, once) when more than C{limit} bytes are held.
    """

    __slots__ = ("_transport", "_limit", "_overflow", "_flusher", "_pending",
                 "_held_bytes", "_paused", "_stopped", "_socket")

    def __init__(self, transport: ITransport, limit: int, overflow: Callable[[], None],
                 flusher: Flusher):
        self._transport = transport
        self._limit = limit
        self._overflow = overflow
        self._flusher = flusher
        self._pending: list[bytes] = []
        self._held_bytes = 0
        self._paused = False
        self._stopped = False
        # A plain TCP connection's socket, for flush's direct path.
        self._socket = transport.getHandle() if isinstance(transport, tcp.Connection) else None
        transport.registerProducer(self, True)

    @property
    def held_bytes(self) -> int:
        """Bytes waiting while the transport is paused."""
        return self._held_bytes if self._paused else 0

    def write(self, data: bytes) -> None:
        if self._paused:
            self._hold(data)
            return
        pending = self._pending
        if not pending:
            self._flusher.add(self)
        pending.append(data)

    def _hold(self, data: bytes) -> None:
        if self._stopped:
            return
        self._pending.append(data)
        self._held_bytes += len(data)
        if self._held_bytes > self._limit:
            self._stopped = True
            self._pending, self._held_bytes = [], 0
            self._overflow()

    def flush(self) -> None:
        """Write what is pending, unless the transport is paused."""
        if self._paused or not self._pending:
            return
        pending, self._pending = self._pending, []
        data = pending[0] if len(pending) == 1 else b"".join(pending)
        self._flusher.stats.bytes_out += len(data)
        transport = self._transport
        if self._socket is not None and _idle(transport):
            # Nothing is queued in Twisted's own buffer, so the bytes can go
            # to the socket now: one system call, where the transport would
            # register for writability, wait a reactor turn and send from
            # Python's doWrite.  Whatever the socket does not take (or an
            # error, which the transport then meets and reports) goes the
            # usual way.
            try:
                sent = self._socket.send(data)
            except OSError:
                sent = 0
            if sent == len(data):
                return
            data = data[sent:]
        transport.write(data)

    def detach(self) -> None:
        """
        Hand whatever is pending or held to the transport and stop being its
        producer, before it closes: a TLS transport does not close while a
        producer is registered.  Later writes are dropped.
        """
        if self._stopped:
            return
        pending = self._pending
        self._paused = self._stopped = True
        self._pending, self._held_bytes = [], 0
        if pending:
            self._flusher.stats.bytes_out += sum(map(len, pending))
            self._transport.writeSequence(pending)
        self._transport.unregisterProducer()

    def pauseProducing(self) -> None:
        if not self._paused:
            self._paused = True
            self._held_bytes = sum(map(len, self._pending))

    def resumeProducing(self) -> None:
        if self._stopped:
            return
        self._paused = False
        self._held_bytes = 0
        self.flush()

    def stopProducing(self) -> None:
        self._paused = self._stopped = True
        self._pending, self._held_bytes = [], 0
