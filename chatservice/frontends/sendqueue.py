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

A busy room's members need not each be handed each message: a
L{Broadcast<chatservice.frontends.broadcast.Broadcast>} keeps a turn's
messages to them once, and a queue's pending output then holds a L{Share}
of it (a stretch of those messages) instead of a copy of each.  A queue has
at most one share open (growing with the broadcast) at a time; anything
else written to it closes the share first, so that the order in which
output was given is the order in which it is written.

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


class Share:
    """
    What one queue is to write of a L{Broadcast}'s messages: from C{start} to
    C{end}, or, while C{end} is C{None} (the share is open), to the last.
    """

    __slots__ = ("broadcast", "start", "end")

    def __init__(self, broadcast, start: int):
        self.broadcast = broadcast
        self.start = start
        self.end: int | None = None

    def chunks(self) -> list[bytes]:
        """The messages, as the bytes each was given as."""
        chunks = self.broadcast.chunks
        return chunks[self.start:self.end]

    def data(self) -> bytes:
        """The messages as one piece of bytes (joined once for everybody)."""
        broadcast = self.broadcast
        end = self.end
        return broadcast.joined(self.start, len(broadcast.chunks) if end is None else end)

    def size(self) -> int:
        return sum(map(len, self.chunks()))


def _size(item: bytes | Share) -> int:
    return len(item) if type(item) is bytes else item.size()


def _chunks(pending: list) -> list[bytes]:
    """Pending output with each share spelled out, one piece per write."""
    chunks: list[bytes] = []
    for item in pending:
        if type(item) is bytes:
            chunks.append(item)
        else:
            chunks += item.chunks()
    return chunks


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
                 "_held_bytes", "_paused", "_stopped", "_send", "_frame", "_share",
                 "_shared")

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
        # The share of a broadcast open at the end of the pending output, if
        # any; and whether any share is pending (then it is spelled out).
        self._share: Share | None = None
        self._shared = False
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
        if self._share is not None:
            self._unshare()
        if self._paused:
            self._hold(data)
            return
        pending = self._pending
        if pending:
            pending.append(data)
        else:
            self._pending = [data]
            self._flusher.add(self)

    def share(self, broadcast, first: bytes | None = None) -> bool:
        """
        Take C{broadcast}'s messages from its next one on, until something
        else is written here (or the output is written); return C{False},
        taking nothing, when the output is held (paused) or given up.

        @param first: the broadcast's first message, written here one call
            each: when nothing came after it, the share takes it back.
        """
        if self._paused:
            return False
        if self._share is not None:
            self._unshare()
        pending = self._pending
        self._shared = True
        if first is not None and pending and pending[-1] is first:
            self._share = pending[-1] = Share(broadcast, 0)
            return True
        share = self._share = Share(broadcast, len(broadcast.chunks))
        if pending:
            pending.append(share)
        else:
            self._pending = [share]
            self._flusher.add(self)
        return True

    def _unshare(self) -> None:
        """Close the open share where its broadcast is now."""
        share, self._share = self._share, None
        broadcast = share.broadcast
        share.end = len(broadcast.chunks)
        broadcast.left(self)

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
            self._pending, self._held_bytes, self._shared = (), 0, False
            self._overflow()

    def flush(self) -> None:
        """Write what is pending, unless the transport is paused."""
        self._flush({})

    def _flush(self, shared: dict) -> None:
        if self._paused or not self._pending:
            return
        pending, self._pending = self._pending, ()
        if self._shared:
            if self._share is not None:
                self._unshare()
            self._shared = False
            if len(pending) == 1 and self._frame is None:
                pending = [pending[0].data()]
            else:
                pending = _chunks(pending)
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
        if self._share is not None:
            self._unshare()
        pending = _chunks(self._pending) if self._shared else self._pending
        self._paused = self._stopped = True
        self._pending, self._held_bytes, self._shared = (), 0, False
        if pending:
            self._flusher.stats.bytes_out += sum(map(len, pending))
            self._transport.writeSequence(pending)
        self._transport.unregisterProducer()

    def pauseProducing(self) -> None:
        if not self._paused:
            if self._share is not None:
                self._unshare()
            self._paused = True
            self._held_bytes = sum(map(_size, self._pending))

    def resumeProducing(self) -> None:
        if self._stopped:
            return
        self._paused = False
        self._held_bytes = 0
        self._flush({})

    def stopProducing(self) -> None:
        if self._share is not None:
            self._unshare()
        self._paused = self._stopped = True
        self._pending, self._held_bytes, self._shared = (), 0, False
