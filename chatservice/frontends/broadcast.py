"""
A busy room's messages in one reactor turn, kept once for all its members
instead of once per member.

The hub gives each event to a room's members who share a renderer through
C{hub.send_to_group(sends, data, skip)}: by default one call per member,
each appending the bytes to the member's send queue.  In a busy room that is
most of the server's work: ten messages in a turn to a room of a hundred is a
thousand calls.  L{Broadcasts} replaces it.  The first message a group gets
in a turn still goes one call per member; from the second on, each member's
queue holds a L{Share<chatservice.frontends.sendqueue.Share>} of the group's
L{Broadcast} (the turn's messages, kept in one list) and a message costs one
append to that list, whatever the size of the room.  When the queues are
flushed, the members who took the whole turn are given one piece of bytes,
joined once for all of them.

What each member receives, and in which order, is exactly what the calls
one by one would have given:

- the member who caused an event (C{skip}) closes their share before it and
  takes a new one after it;
- anything else written to a queue in between (a private message, another
  room's message, a reply) closes the queue's share first; the broadcast
  then gives the queue a new share before its next message;
- a queue whose output is held (its client is not reading) takes no share:
  it is given each message by its C{write}, which counts what it holds;
- a send that is not a queue's own C{write} (a client that looks at its
  output first, a test's list) is called for each message, as before.

A membership change makes a new audience, hence a new broadcast: nobody
gets a message of a room from before they joined, or after they left.  At
the end of the turn the broadcasts are forgotten; shares still pending keep
theirs until they are written.
"""

from __future__ import annotations

from twisted.internet.interfaces import IDelayedCall, IReactorTime

from ..core.hub import Hub, send_to_each
from .sendqueue import SendQueue

# Smaller groups are given each message one call per member: a broadcast
# would cost them more than it saves.
SMALLEST_SHARED_GROUP = 8

_queue_write = SendQueue.write


class Broadcast:
    """
    One turn's messages to one group of a room's members (a list of their
    sends, as the room's audience has it), and who takes them how.

    @ivar chunks: each message's bytes, in order.
    @ivar calls: sends that are called for each message (see the module's
        docstring); C{None} until the second message.
    @ivar held: queues that could not take a share (their output is held):
        their C{write} is called for each message.
    @ivar loose: queues whose share was closed: each takes a new one before
        the next message.
    """

    __slots__ = ("sends", "chunks", "calls", "held", "loose", "_joined", "_joined_range")

    def __init__(self, sends: list):
        self.sends = sends
        self.chunks: list[bytes] = []
        self.calls: list | None = None
        self.held: list[SendQueue] = []
        self.loose: list[SendQueue] = []
        self._joined = b""
        self._joined_range = (0, 0)

    def add(self, data: bytes, skip: object) -> None:
        """Give C{data} to every member but C{skip}."""
        calls = self.calls
        if calls is None:
            if not self.chunks:
                # The first message of the turn: one call each, as without.
                self.chunks.append(data)
                send_to_each(self.sends, data, skip)
                return
            calls = self._start_sharing()
        skipped = getattr(skip, "__self__", None)
        if self.loose:
            self._take_back(skipped)
        if skipped is not None:
            share = getattr(skipped, "_share", None)
            if share is not None and share.broadcast is self:
                skipped._unshare()
        self.chunks.append(data)
        for send in calls:
            if send is not skip:
                send(data)
        for queue in self.held:
            if queue is not skipped:
                queue.write(data)

    def left(self, queue: SendQueue) -> None:
        """C{queue}'s share was closed: it is to take a new one."""
        self.loose.append(queue)

    def joined(self, start: int, end: int) -> bytes:
        """
        The messages from C{start} to C{end} as one piece of bytes, joined
        once for all the members who take the same ones (most take all).
        """
        if self._joined_range != (start, end):
            self._joined = b"".join(self.chunks[start:end])
            self._joined_range = (start, end)
        return self._joined

    def _start_sharing(self) -> list:
        calls: list = []
        first = self.chunks[0]
        for send in self.sends:
            queue = getattr(send, "__self__", None)
            if (getattr(send, "__func__", None) is not _queue_write
                    or not queue.share(self, first)):
                calls.append(send)
        self.calls = calls
        return calls

    def _take_back(self, skipped: object) -> None:
        loose, self.loose = self.loose, []
        for queue in loose:
            if queue is skipped:
                # Its share starts after this message.
                self.loose.append(queue)
            elif not queue.share(self):
                self.held.append(queue)


class Broadcasts:
    """
    The hub's C{send_to_group} for the front ends that queue output: groups
    of at least L{SMALLEST_SHARED_GROUP} share each turn's messages through
    a L{Broadcast}, forgotten at the end of the turn.
    """

    def __init__(self, clock: IReactorTime):
        self._clock = clock
        # Keyed by the group's list: an audience's lists never change, and a
        # broadcast holds its list, so the key is not reused while it is here.
        self._open: dict[int, Broadcast] = {}
        self._call: IDelayedCall | None = None

    @classmethod
    def install(cls, hub: Hub) -> None:
        """Make C{hub} share turns among its rooms' members, once per hub."""
        if not isinstance(getattr(hub.send_to_group, "__self__", None), cls):
            hub.send_to_group = cls(hub.clock).send

    def send(self, sends: list, data: bytes, skip: object = None) -> None:
        if len(sends) < SMALLEST_SHARED_GROUP:
            send_to_each(sends, data, skip)
            return
        broadcast = self._open.get(id(sends))
        if broadcast is None:
            broadcast = self._open[id(sends)] = Broadcast(sends)
            if self._call is None:
                self._call = self._clock.callLater(0, self._end_turn)
        broadcast.add(data, skip)

    def _end_turn(self) -> None:
        self._call = None
        self._open = {}
