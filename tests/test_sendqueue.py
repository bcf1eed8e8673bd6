"""
Tests for L{chatservice.frontends.sendqueue}: output coalesced per reactor
turn, and bounded for clients that stop reading.
"""

from twisted.internet.interfaces import IPushProducer
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from chatservice.frontends.sendqueue import Flusher, SendQueue

from unit_helpers import CountingTransport


def queue(limit=10, clock=None):
    clock = clock or Clock()
    flusher = Flusher(clock)
    transport = CountingTransport()
    overflows = []
    sendq = SendQueue(transport, limit, lambda: overflows.append(True), flusher)
    return clock, transport, sendq, overflows


def test_registers_as_streaming_producer():
    """A send queue registers itself with its transport as a push producer."""
    _, transport, sendq, _ = queue()
    assert transport.producer is sendq
    assert transport.streaming is True
    assert IPushProducer.providedBy(sendq)


def test_output_waits_for_the_turn():
    """Output is pending until the reactor turn ends, then written in one write call, in order."""
    clock, transport, sendq, _ = queue()
    sendq.write(b"abc")
    sendq.write(b"def" * 3)
    assert transport.value() == b""
    clock.advance(0)
    assert transport.writes == [b"abc" + b"def" * 3]
    assert sendq.held_bytes == 0


def test_single_write_is_passed_as_is():
    """A turn with one piece of output writes that very bytes object."""
    clock, transport, sendq, _ = queue()
    data = b"shared by every member"
    sendq.write(data)
    clock.advance(0)
    assert transport.writes[0] is data


def test_one_call_flushes_every_queue():
    """Queues sharing a flusher are all flushed by one timed call per turn."""
    clock = Clock()
    flusher = Flusher(clock)
    transports = [StringTransport() for _ in range(3)]
    queues = [SendQueue(t, 100, lambda: None, flusher) for t in transports]
    for sendq in queues:
        sendq.write(b"x")
        sendq.write(b"y")
    assert len(clock.getDelayedCalls()) == 1
    clock.advance(0)
    assert [t.value() for t in transports] == [b"xy"] * 3
    assert clock.getDelayedCalls() == []


def test_next_turn_schedules_again():
    """Output after a flush is flushed in the next turn."""
    clock, transport, sendq, _ = queue()
    sendq.write(b"1")
    clock.advance(0)
    sendq.write(b"2")
    assert transport.value() == b"1"
    clock.advance(0)
    assert transport.value() == b"12"


def test_after_flush_runs_once_after_the_turns_output():
    """A callback given to after_flush runs once, after that turn's output was written, even when no output was due."""
    clock, transport, sendq, _ = queue(limit=100)
    seen = []
    sendq.write(b"hello\r\n")
    sendq._flusher.after_flush(lambda: seen.append(transport.value()))
    clock.advance(0)
    assert seen == [b"hello\r\n"]
    clock.advance(0)
    assert seen == [b"hello\r\n"]
    sendq._flusher.after_flush(lambda: seen.append(b"alone"))
    clock.advance(0)
    assert seen == [b"hello\r\n", b"alone"]


def test_holds_while_paused():
    """While the transport is paused, output is held and counted, including what was pending."""
    clock, transport, sendq, overflows = queue()
    sendq.write(b"a")
    sendq.pauseProducing()
    sendq.write(b"bc")
    sendq.write(b"def")
    clock.advance(0)
    assert transport.value() == b""
    assert sendq.held_bytes == 6
    assert overflows == []


def test_flushes_on_resume():
    """Resuming writes everything held, in order; later output waits for its turn again."""
    clock, transport, sendq, _ = queue()
    sendq.pauseProducing()
    sendq.write(b"one ")
    sendq.write(b"two ")
    sendq.resumeProducing()
    assert transport.value() == b"one two "
    assert sendq.held_bytes == 0
    sendq.write(b"three")
    clock.advance(0)
    assert transport.value() == b"one two three"


def test_resume_with_nothing_held():
    """Resuming with nothing held writes nothing."""
    _, transport, sendq, _ = queue()
    sendq.pauseProducing()
    sendq.resumeProducing()
    assert transport.writes == []


def test_exactly_limit_is_fine():
    """Holding exactly the limit does not overflow."""
    _, _, sendq, overflows = queue(limit=10)
    sendq.pauseProducing()
    sendq.write(b"x" * 10)
    assert overflows == []


def test_overflow_once():
    """Passing the limit calls overflow once and drops what was held; later output is dropped."""
    clock, transport, sendq, overflows = queue(limit=10)
    sendq.pauseProducing()
    sendq.write(b"x" * 6)
    sendq.write(b"y" * 6)
    sendq.write(b"z" * 20)
    assert overflows == [True]
    assert sendq.held_bytes == 0
    clock.advance(0)
    assert transport.value() == b""


def test_pending_counts_towards_limit_on_pause():
    """Output pending when the transport pauses counts towards the limit."""
    _, _, sendq, overflows = queue(limit=10)
    sendq.write(b"x" * 8)
    sendq.pauseProducing()
    sendq.write(b"y" * 3)
    assert overflows == [True]


def test_limit_counts_since_resume():
    """After a resume the count starts again from zero."""
    _, _, sendq, overflows = queue(limit=10)
    sendq.pauseProducing()
    sendq.write(b"x" * 8)
    sendq.resumeProducing()
    sendq.pauseProducing()
    sendq.write(b"y" * 8)
    assert overflows == []


def test_no_overflow_while_writing_through():
    """However much is written in one turn while the transport accepts data, nothing overflows."""
    clock, transport, sendq, overflows = queue(limit=10)
    for _ in range(100):
        sendq.write(b"0123456789")
    clock.advance(0)
    assert overflows == []
    assert len(transport.value()) == 1000


def test_stop_producing_drops():
    """stopProducing drops whatever is held or pending."""
    clock, transport, sendq, _ = queue()
    sendq.write(b"pending")
    sendq.stopProducing()
    clock.advance(0)
    assert transport.value() == b""


def test_detach_flushes_and_unregisters():
    """detach writes what is pending and held at once, then unregisters as the producer."""
    _, transport, sendq, _ = queue(limit=100)
    sendq.write(b"pending ")
    sendq.pauseProducing()
    sendq.write(b"held")
    sendq.detach()
    assert transport.value() == b"pending held"
    assert transport.producer is None


def test_detach_drops_later_writes():
    """Writes after detach are dropped."""
    clock, transport, sendq, _ = queue()
    sendq.detach()
    sendq.write(b"late")
    clock.advance(0)
    assert transport.value() == b""


def test_detach_after_overflow():
    """detach after an overflow does nothing more."""
    _, transport, sendq, overflows = queue(limit=1)
    sendq.pauseProducing()
    sendq.write(b"xx")
    sendq.detach()
    assert overflows == [True]
    assert transport.value() == b""
    assert transport.producer is sendq


# The direct path for plain TCP connections

import socket

from twisted.internet import tcp
from twisted.internet.protocol import Protocol
from twisted.internet.testing import MemoryReactor


def tcp_pair():
    """A real Twisted TCP transport on one end of a socket pair, and the other end."""
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    theirs.settimeout(1)
    transport = tcp.Connection(ours, Protocol(), MemoryReactor())
    transport.connected = True
    return transport, theirs


def test_idle_tcp_transport_gets_bytes_at_once():
    """On an idle TCP transport a flush puts the bytes on the socket at once, leaving Twisted's buffer empty."""
    transport, theirs = tcp_pair()
    clock = Clock()
    sendq = SendQueue(transport, 100, lambda: None, Flusher(clock))
    sendq.write(b"hello ")
    sendq.write(b"world")
    clock.advance(0)
    assert theirs.recv(100) == b"hello world"
    assert transport.dataBuffer == b"" and transport._tempDataLen == 0


def test_busy_tcp_transport_keeps_order():
    """When Twisted's buffer already holds output, a flush queues behind it instead of overtaking it."""
    transport, theirs = tcp_pair()
    clock = Clock()
    sendq = SendQueue(transport, 100, lambda: None, Flusher(clock))
    transport.write(b"first ")
    sendq.write(b"second")
    clock.advance(0)
    theirs.setblocking(False)
    try:
        early = theirs.recv(100)
    except BlockingIOError:
        early = b""
    assert early == b""
    transport.doWrite()
    theirs.setblocking(True)
    assert theirs.recv(100) == b"first second"


def test_full_socket_leaves_the_rest_to_twisted():
    """What the socket does not take goes to Twisted's buffer, in order."""
    transport, theirs = tcp_pair()
    transport.getHandle().setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    clock = Clock()
    sendq = SendQueue(transport, 10 ** 9, lambda: None, Flusher(clock))
    data = bytes(range(256)) * 4096
    sendq.write(data)
    clock.advance(0)
    assert transport._tempDataLen > 0
    received = b""
    for _ in range(10000):
        if len(received) == len(data):
            break
        transport.doWrite()
        received += theirs.recv(1 << 20)
    assert received == data
