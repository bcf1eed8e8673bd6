"""
Output for clients: coalesced per reactor turn, and bounded for clients that
stop reading.

Fan-out is the server's hot path: one message in, one copy out per member.
Writing each copy to its transport at once would cost a trip through the
transport's bookkeeping per copy; instead a copy is appended to the
connection's pending list (a few attribute lookups), and a L{Flusher} hands
each connection's pending output on once per reactor turn, as one write
(over TCP and TLS straight to the socket when it can: see L{directwrite}).
Every message that arrived in that turn reaches each member in one system
call.  A WebSocket's transport frames the pending lines itself (one frame
per line, made once per turn for everybody: see C{Flusher.shared}).

The transport tells its producer to pause when its own buffer is full; from
then on output waits here, counted, until the transport asks for more.  When
more than the limit is waiting the client is not reading, and the connection
is dropped rather than letting its backlog eat the server's memory.
"""

from __future__ import annotations

from typing import Callable

from twisted.internet.interfaces import IDelayedCall, IPushProducer, IReactorTime, ITransport
from zope.interface import implementer

from ..core.stats import ConnectionStats
from .directwrite import sender_for


class Flusher:
    """
    Flushes, once per reactor turn, every send queue that has output
    pending, and counts the bytes it hands over in C{stats.bytes_out}.

    @ivar shared: what the queues' transports make of a piece of output
        during one turn, for the others to reuse: the same event is the same
        bytes object for every member, so a WebSocket's frame for it is made
        once.  Emptied after each turn, so that it holds only that turn's.
    """

    def __init__(self, clock: IReactorTime, stats=None):
        self._clock = clock
        self.stats = stats if stats is not None else ConnectionStats()
        self._due: list[SendQueue] = []
        self._call: IDelayedCall | None = None
        self.shared: dict = {}
        self._after: list[Callable[[], None]] = []

    def add(self, queue: SendQueue) -> None:
        self._due.append(queue)
        if self._call is None:
            self._call = self._clock.callLater(0, self.flush)

    def after_flush(self, callback: Callable[[], None]) -> None:
        """Call C{callback} once, right after the next flush has written."""
        self._after.append(callback)
        if self._call is None:
            self._call = self._clock.callLater(0, self.flush)

    def flush(self) -> None:
        """Hand every pending output to its transport now."""
        if self._call is not None:
            if self._call.active():
                self._call.cancel()
            self._call = None
        due, self._due = self._due, []
        shared = self.shared
        for queue in due:
            queue._flush(shared)
        if shared:
            self.shared = {}
        if self._after:
            after, self._after = self._after, []
            for callback in after:
                callback()


@implementer(IPushProducer)
class SendQueue:
    """
    Output to one transport: pending until the flusher's turn while the
    transport accepts data, held and counted while it is paused, and given
    up (C{overflow} is called, once) when more than C{limit} bytes are held.
    """

    __slots__ = ("_transport", "_limit", "_overflow", "_flusher", "_pending",
                 "_held_bytes", "_paused", "_stopped", "_send", "_frame")

    def __init__(self, transport: ITransport, limit: int, overflow: Callable[[], None],
                 flusher: Flusher):
        self._transport = transport
        self._limit = limit
        self._overflow = overflow
        self._flusher = flusher
        # A list only while output is pending: an idle connection holds none.
        self._pending: list[bytes] | tuple = ()
        self._held_bytes = 0
        self._paused = False
        self._stopped = False
        # A WebSocket's transport frames the lines; the frames (or anything
        # else) go to the connection underneath by the shortest way.
        self._frame = getattr(transport, "frame_lines", None)
        self._send = sender_for(transport.carrier if self._frame is not None else transport)
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
        if pending:
            pending.append(data)
        else:
            self._pending = [data]
            self._flusher.add(self)

    def _hold(self, data: bytes) -> None:
        if self._stopped:
            return
        if self._pending:
            self._pending.append(data)
        else:
            self._pending = [data]
        self._held_bytes += len(data)
        if self._held_bytes > self._limit:
            self._stopped = True
            self._pending, self._held_bytes = (), 0
            self._overflow()

    def flush(self) -> None:
        """Write what is pending, unless the transport is paused."""
        self._flush({})

    def _flush(self, shared: dict) -> None:
        if self._paused or not self._pending:
            return
        pending, self._pending = self._pending, ()
        frame = self._frame
        if frame is None:
            data = pending[0] if len(pending) == 1 else b"".join(pending)
            self._flusher.stats.bytes_out += len(data)
            self._send(data)
            return
        self._flusher.stats.bytes_out += sum(map(len, pending))
        data = frame(pending, shared)
        if data is None:
            # The WebSocket cannot take frames made here now: its own way.
            self._transport.writeSequence(pending)
        elif data:
            self._send(data)

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
        self._pending, self._held_bytes = (), 0
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
        self._flush({})

    def stopProducing(self) -> None:
        self._paused = self._stopped = True
        self._pending, self._held_bytes = (), 0
