"""
Tests for L{chatservice.frontends.deadlines.Deadlines}.
"""

from twisted.internet.task import Clock

from chatservice.frontends.deadlines import Deadlines


def make():
    clock = Clock()
    clock.advance(100)
    return clock, Deadlines(clock), []


def test_whole_second_deadline_is_on_time():
    """A deadline a whole number of seconds away fires exactly then."""
    clock, deadlines, fired = make()
    deadlines.schedule(5, "a", lambda: fired.append("a"))
    clock.advance(4.999)
    assert fired == []
    clock.advance(0.001)
    assert fired == ["a"]


def test_fraction_rounds_up_to_the_second():
    """A deadline in the middle of a second fires at the end of that second, never early."""
    clock, deadlines, fired = make()
    clock.advance(0.3)
    deadlines.schedule(2, "a", lambda: fired.append("a"))
    clock.advance(2)
    assert fired == []
    clock.advance(0.7)
    assert fired == ["a"]


def test_same_second_shares_one_call():
    """Deadlines due in the same second share one timed call, and all fire."""
    clock, deadlines, fired = make()
    for key in range(100):
        clock.advance(0.001)
        deadlines.schedule(10, key, lambda key=key: fired.append(key))
    assert len(clock.getDelayedCalls()) == 1
    clock.advance(10)
    assert fired == []
    clock.advance(1)
    assert sorted(fired) == list(range(100))
    assert clock.getDelayedCalls() == []


def test_cancel():
    """A cancelled deadline does not fire; the last one of its second takes the timed call with it."""
    clock, deadlines, fired = make()
    slot_a = deadlines.schedule(3, "a", lambda: fired.append("a"))
    slot_b = deadlines.schedule(3, "b", lambda: fired.append("b"))
    deadlines.cancel(slot_a, "a")
    assert len(clock.getDelayedCalls()) == 1
    deadlines.cancel(slot_b, "b")
    assert clock.getDelayedCalls() == []
    clock.advance(5)
    assert fired == []


def test_cancel_unknown_is_harmless():
    """Cancelling a deadline that already fired, or never existed, does nothing."""
    clock, deadlines, fired = make()
    slot = deadlines.schedule(1, "a", lambda: fired.append("a"))
    clock.advance(1)
    deadlines.cancel(slot, "a")
    deadlines.cancel(12345, "nobody")
    assert fired == ["a"]


def test_callback_may_schedule_again():
    """A callback may schedule its next deadline, even in the same second."""
    clock, deadlines, fired = make()

    def again():
        fired.append(clock.seconds())
        if len(fired) < 3:
            deadlines.schedule(2, "a", again)

    deadlines.schedule(2, "a", again)
    clock.advance(2)
    clock.advance(2)
    clock.advance(2)
    assert fired == [102, 104, 106]


class Waiter:
    """A key that is called back itself (no callback given)."""

    def __init__(self, fired: list, name: str):
        self.fired, self.name = fired, name

    def deadline_passed(self) -> None:
        self.fired.append(self.name)


def test_key_called_without_a_callback():
    """Scheduled without a callback, the key's deadline_passed is called when it is due."""
    clock, deadlines, fired = make()
    deadlines.schedule(3, Waiter(fired, "a"))
    deadlines.schedule(3, Waiter(fired, "b"), lambda: fired.append("callback"))
    clock.advance(3)
    assert fired == ["a", "callback"]


def test_cancel_key_without_a_callback():
    """Cancelling the last key of a second (scheduled without a callback) drops its timed call."""
    clock, deadlines, fired = make()
    waiter = Waiter(fired, "a")
    slot = deadlines.schedule(3, waiter)
    deadlines.cancel(slot, waiter)
    assert clock.getDelayedCalls() == []
    clock.advance(5)
    assert fired == []


def test_keys_of_one_second_share_their_slot():
    """Every key due in the same second gets the very same slot object (one int, not one each)."""
    clock, deadlines, fired = make()
    slots = [deadlines.schedule(3.5, key, lambda: None) for key in ("a", "b", "c")]
    assert slots[0] is slots[1] is slots[2]
