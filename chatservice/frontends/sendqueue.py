"""
Output for clients that may stop reading.

The transport tells its producer to pause when its own buffer is full; from
then on output waits here, counted, until the transport asks for more.  When
more than the limit is waiting the client is not reading, and the connection
is dropped rather than letting its backlog eat the server's memory.
"""

from __future__ import annotations

from typing import Callable

from twisted.internet.interfaces import IPushProducer, ITransport
from zope.interface import implementer


@implementer(IPushProducer)
class SendQueue:
    """
    Writes to C{transport} while it accepts data, holds output while it is
    paused, and calls C{overflow} once when more than C{limit} bytes are held.
    """

    def __init__(self, transport: ITransport, limit: int, overflow: Callable[[], None]):
        self._transport = transport
        self._limit = limit
        self._overflow = overflow
        self._held: list[bytes] = []
        self._held_bytes = 0
        self._paused = False
        self._stopped = False
        transport.registerProducer(self, True)

    @property
    def held_bytes(self) -> int:
        return self._held_bytes

    def write(self, data: bytes) -> None:
        if not self._paused:
            self._transport.write(data)
            return
        if self._stopped:
            return
        self._held.append(data)
        self._held_bytes += len(data)
        if self._held_bytes > self._limit:
            self._stopped = True
            self._held, self._held_bytes = [], 0
            self._overflow()

    def detach(self) -> None:
        """
        Hand whatever is held to the transport and stop being its producer,
        before it closes: a TLS transport does not close while a producer is
        registered.  Later writes are dropped.
        """
        if self._stopped:
            return
        self._paused = self._stopped = True
        held, self._held, self._held_bytes = self._held, [], 0
        if held:
            self._transport.writeSequence(held)
        self._transport.unregisterProducer()

    def pauseProducing(self) -> None:
        self._paused = True

    def resumeProducing(self) -> None:
        self._paused = False
        held, self._held, self._held_bytes = self._held, [], 0
        if held:
            self._transport.writeSequence(held)

    def stopProducing(self) -> None:
        self._paused = self._stopped = True
        self._held, self._held_bytes = [], 0
