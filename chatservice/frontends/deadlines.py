"""
Many per-connection deadlines on one clock, cheaply.

A timed call per idle connection costs a few hundred bytes each, which adds
up at ten thousand connections.  Deadlines here are rounded up to the whole
second, and every deadline due in the same second shares one timed call: a
connection's deadline then costs one dictionary entry.
"""

from __future__ import annotations

import math
from typing import Callable, Hashable

from twisted.internet.interfaces import IDelayedCall, IReactorTime

_MISSING = object()


class Deadlines:
    def __init__(self, clock: IReactorTime):
        self._clock = clock
        self._due: dict[int, dict[Hashable, Callable[[], None] | None]] = {}
        # Each second's timed call, beside the int that names the second:
        # every key of that second is given that one int (an int this large
        # is an object of its own, 32 bytes a connection otherwise).
        self._calls: dict[int, tuple[int, IDelayedCall]] = {}

    def schedule(self, delay: float, key: Hashable,
                 callback: Callable[[], None] | None = None) -> int:
        """
        Call C{callback} C{delay} seconds from now (up to a second later);
        return the slot to give L{cancel} with the same C{key}.  Without a
        callback, C{key.deadline_passed()} is called: a connection then
        costs no bound method of its own while it waits.
        """
        now = self._clock.seconds()
        # The epsilon keeps a whole-second deadline from rounding up a second.
        slot = math.ceil(now + delay - 1e-6)
        due = self._due.get(slot)
        if due is None:
            due = self._due[slot] = {}
            self._calls[slot] = (slot, self._clock.callLater(max(0.0, slot - now),
                                                             self._fire, slot))
        else:
            slot = self._calls[slot][0]
        due[key] = callback
        return slot

    def cancel(self, slot: int, key: Hashable) -> None:
        due = self._due.get(slot)
        if due is None or due.pop(key, _MISSING) is _MISSING or due:
            return
        del self._due[slot]
        self._calls.pop(slot)[1].cancel()

    def _fire(self, slot: int) -> None:
        del self._calls[slot]
        for key, callback in self._due.pop(slot).items():
            if callback is None:
                key.deadline_passed()
            else:
                callback()
