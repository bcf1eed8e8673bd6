"""
A store that keeps history and rooms in the process: for tests, and for
servers run with C{--no-persistence}, which forget everything on restart but
still offer history while they run.
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from typing import Sequence

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime

from ..core.events import Event, Message, Signal
from ..core.files import SharedFile
from ..core.history import Point, Query, RoomState, contains_words

DAY = 24 * 60 * 60


def _after(event: Event, point: Point) -> bool:
    return event.id > point.id if point.id is not None else event.time > point.time


def _before(event: Event, point: Point) -> bool:
    return event.id < point.id if point.id is not None else event.time < point.time


def selects(query: Query, event: Event) -> bool:
    """Whether C{query} selects C{event}, before its limit applies."""
    if event.id < query.floor:
        return False
    if query.messages_only and not isinstance(event, Message):
        return False
    if query.after is not None and not _after(event, query.after):
        return False
    return query.before is None or _before(event, query.before)


def _found(event: Event, words: str) -> bool:
    """Whether C{event} is a message containing every one of C{words}."""
    return isinstance(event, Message) and contains_words(event.text, words)


class MemoryStore:
    """
    History and rooms in memory.  Each room keeps its newest
    C{max_per_room} events, none older than C{max_days} (0: no age limit).
    """

    def __init__(self, clock: IReactorTime, max_per_room: int = 100_000,
                 max_days: float = 90):
        self.clock = clock
        self.max_per_room = max_per_room
        self.max_age = max_days * DAY
        self.stored = 0
        self.dropped = 0
        self._events: dict[str, deque[Event]] = {}
        # The messages among each room's events, in the same order: a
        # replay on joining reads a few messages, and must not walk past
        # the thousands of joins a big room collects.
        self._messages: dict[str, deque[Event]] = {}
        self._rooms: dict[str, RoomState] = {}
        self._files: dict[str, SharedFile] = {}
        self._last_id = 0

    # Recording

    def record(self, room: str, event: Event) -> None:
        events = self._events.get(room)
        if events is None:
            events = self._events[room] = deque(maxlen=self.max_per_room)
            self._messages[room] = deque()
        messages = self._messages[room]
        if len(events) == self.max_per_room and events and isinstance(events[0], Message):
            messages.popleft()  # the room's oldest event is about to go
        events.append(event)
        if isinstance(event, Message) and events:  # (a room keeping nothing keeps none)
            messages.append(event)
        self.stored += 1
        if event.id > self._last_id:
            self._last_id = event.id
        if self.max_age:
            oldest = event.time - self.max_age
            while events and events[0].time < oldest:
                if isinstance(events.popleft(), Message):
                    messages.popleft()

    def last_id(self) -> int:
        return self._last_id

    # Editing

    def forget_event(self, room: str, event_id: int) -> None:
        events = self._events.get(room)
        if events:
            kept = [event for event in events if event.id != event_id]
            if len(kept) != len(events):
                self._keep(room, kept)

    def move_history(self, room: str, new_room: str, new_name: str) -> None:
        events = self._events.pop(room, None)
        if events is not None:
            moved = [replace(event, room=new_name) if hasattr(event, "room")
                     else replace(event, target=new_name) if isinstance(event, Signal)
                     else event for event in events]
            self._messages.pop(room, None)
            merged = sorted([*self._events.get(new_room, ()), *moved], key=lambda e: e.id)
            self._keep(new_room, merged)

    def _keep(self, room: str, events: list[Event]) -> None:
        """Make C{events} (in id order) the events of C{room}."""
        kept = self._events[room] = deque(events, maxlen=self.max_per_room)
        self._messages[room] = deque(event for event in kept if isinstance(event, Message))

    # Reading

    def query(self, room: str, query: Query) -> Deferred[list[Event]]:
        events = (self._messages if query.messages_only else self._events).get(room, ())
        if not query.newest:
            chosen = [event for event in events if selects(query, event)]
            return succeed(chosen[:query.limit])
        # The newest: from the end, up to the limit (ids increase along a room).
        chosen = []
        for event in reversed(events):
            if event.id < query.floor or len(chosen) >= query.limit:
                break
            if selects(query, event):
                chosen.append(event)
        chosen.reverse()
        return succeed(chosen)

    def search(self, room: str, words: str, limit: int,
               floor: int = 0) -> Deferred[list[Event]]:
        found = [event for event in self._events.get(room, ())
                 if event.id >= floor and _found(event, words)]
        return succeed(found[-limit:])

    def targets(self, rooms: Sequence[str], start: float, end: float,
                limit: int) -> Deferred[list[tuple[str, float]]]:
        low, high = min(start, end), max(start, end)
        found = []
        for room in rooms:
            times = [event.time for event in self._events.get(room, ())
                     if isinstance(event, Message)]
            if times and low < max(times) < high:
                found.append((room, max(times)))
        found.sort(key=lambda pair: pair[1])
        return succeed(found[:limit])

    def keys_starting(self, prefix: str) -> Deferred[list[str]]:
        return succeed(sorted(key for key, events in self._events.items()
                              if key.startswith(prefix) and events))

    # Rooms

    def load_rooms(self) -> list[RoomState]:
        return list(self._rooms.values())

    def save_room(self, key: str, state: RoomState) -> None:
        self._rooms[key] = state

    def forget_room(self, key: str) -> None:
        self._rooms.pop(key, None)

    # Shared files

    def load_files(self) -> list[SharedFile]:
        return list(self._files.values())

    def save_file(self, file: SharedFile) -> None:
        self._files[file.id] = file

    def close(self) -> None:
        pass
