"""
Tests for L{chatservice.frontends.sendqueue.SendQueue}.
"""

from twisted.internet.interfaces import IPushProducer
from twisted.internet.testing import StringTransport

from chatservice.frontends.sendqueue import SendQueue


def queue(limit=10):
    transport = StringTransport()
    overflows = []
    sendq = SendQueue(transport, limit, lambda: overflows.append(True))
    return transport, sendq, overflows


def test_registers_as_streaming_producer():
    """A send queue registers itself with its transport as a push producer."""
    transport, sendq, _ = queue()
    assert transport.producer is sendq
    assert transport.streaming is True
    assert IPushProducer.providedBy(sendq)


def test_writes_through():
    """While the transport is not paused, writes go straight to it."""
    transport, sendq, _ = queue()
    sendq.write(b"abc")
    sendq.write(b"def" * 10)
    assert transport.value() == b"abc" + b"def" * 10
    assert sendq.held_bytes == 0


def test_holds_while_paused():
    """While the transport is paused, writes are held and counted."""
    transport, sendq, overflows = queue()
    sendq.write(b"a")
    sendq.pauseProducing()
    sendq.write(b"bc")
    sendq.write(b"def")
    assert transport.value() == b"a"
    assert sendq.held_bytes == 5
    assert overflows == []


def test_flushes_on_resume():
    """Resuming writes everything held, in order, and later writes go straight through."""
    transport, sendq, _ = queue()
    sendq.pauseProducing()
    sendq.write(b"one ")
    sendq.write(b"two ")
    sendq.resumeProducing()
    assert transport.value() == b"one two "
    assert sendq.held_bytes == 0
    sendq.write(b"three")
    assert transport.value() == b"one two three"


def test_resume_with_nothing_held():
    """Resuming with nothing held writes nothing."""
    transport, sendq, _ = queue()
    sendq.pauseProducing()
    sendq.resumeProducing()
    assert transport.value() == b""


def test_exactly_limit_is_fine():
    """Holding exactly the limit does not overflow."""
    transport, sendq, overflows = queue(limit=10)
    sendq.pauseProducing()
    sendq.write(b"x" * 6)
    sendq.write(b"y" * 4)
    assert overflows == []
    assert sendq.held_bytes == 10


def test_overflow_once():
    """Passing the limit calls overflow once, drops what was held, and holds nothing more."""
    transport, sendq, overflows = queue(limit=10)
    sendq.pauseProducing()
    sendq.write(b"x" * 10)
    sendq.write(b"y")
    assert overflows == [True]
    assert sendq.held_bytes == 0
    sendq.write(b"z" * 100)
    sendq.write(b"z" * 100)
    assert overflows == [True]
    assert sendq.held_bytes == 0
    assert transport.value() == b""


def test_single_big_write_overflows():
    """One write bigger than the limit while paused overflows at once."""
    transport, sendq, overflows = queue(limit=10)
    sendq.pauseProducing()
    sendq.write(b"x" * 11)
    assert overflows == [True]


def test_no_overflow_while_writing_through():
    """Writes to a transport that is not paused never overflow, however big."""
    transport, sendq, overflows = queue(limit=10)
    sendq.write(b"x" * 1000)
    assert overflows == []
    assert len(transport.value()) == 1000


def test_limit_counts_since_resume():
    """Output flushed on resume no longer counts towards the limit."""
    transport, sendq, overflows = queue(limit=10)
    sendq.pauseProducing()
    sendq.write(b"x" * 8)
    sendq.resumeProducing()
    sendq.pauseProducing()
    sendq.write(b"y" * 8)
    assert overflows == []
    assert transport.value() == b"x" * 8


def test_stop_producing_drops():
    """stopProducing drops what was held and everything written afterwards."""
    transport, sendq, overflows = queue()
    sendq.pauseProducing()
    sendq.write(b"held")
    sendq.stopProducing()
    assert sendq.held_bytes == 0
    sendq.write(b"later")
    assert sendq.held_bytes == 0
    assert transport.value() == b""
    assert overflows == []


def test_detach_flushes_and_unregisters():
    """detach hands held output to the transport and unregisters the queue as its producer."""
    transport, sendq, overflows = queue()
    sendq.pauseProducing()
    sendq.write(b"bye")
    sendq.detach()
    assert transport.value() == b"bye"
    assert transport.producer is None
    assert sendq.held_bytes == 0


def test_detach_drops_later_writes():
    """After detach, writes are dropped, whether or not the transport was paused."""
    transport, sendq, overflows = queue()
    sendq.detach()
    sendq.write(b"late")
    assert transport.value() == b""
    assert overflows == []


def test_detach_after_overflow():
    """detach after an overflow writes nothing of what was dropped."""
    transport, sendq, overflows = queue(limit=3)
    sendq.pauseProducing()
    sendq.write(b"toolong")
    sendq.detach()
    assert transport.value() == b""
    assert overflows == [True]
