"""
Input held while a command's answer is worked out in a thread.

A password is hashed (and an account read) off the reactor, so its answer
comes later; the connection takes no further message meanwhile, and takes
the ones that arrived, in order, once the answer is out: replies stay in
the order of the commands, and one connection cannot start a second slow
check before the first ended.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from twisted.internet.defer import Deferred

# Messages kept while a check is pending; a client that sends more
# meanwhile is flooding.
MAX_WAITING = 100


class WaitsForChecks:
    """
    Mixed into a L{GuardedLineReceiver}: C{hold(message)} in its line
    handler queues the message while a check is pending, and L{wait_for}
    starts such a wait.  The class calls C{self.session.received(message)}
    for each queued message afterwards.
    """

    _paused = 0
    _waiting: deque | None = None

    def connected_still(self) -> bool:
        """Whether the connection is open (an answer computed later checks this)."""
        return self._closing_reason is None and not self._lost  # type: ignore[attr-defined]

    def wait_for(self, check: Deferred) -> None:
        """Take no further message until C{check} has fired."""
        self._paused += 1

        def resume(result: Any) -> Any:
            self._paused -= 1
            if not self._paused and self.connected_still():
                self._take_waiting()
            return result
        check.addBoth(resume)
        # Failures were told to the client by the check's own errback.
        check.addErrback(lambda failure: None)

    def hold(self, message: Any) -> bool:
        """Queue C{message} if a check is pending (or others wait); whether it was."""
        if not self._paused and not self._waiting:
            return False
        if self._waiting is None:
            self._waiting = deque()
        if len(self._waiting) >= MAX_WAITING:
            self.close("Excess flood")  # type: ignore[attr-defined]
        else:
            self._waiting.append(message)
        return True

    def _take_waiting(self) -> None:
        waiting = self._waiting
        while waiting and not self._paused and self.connected_still():
            self.session.received(waiting.popleft())  # type: ignore[attr-defined]
