"""
The one thread that writes to the SQLite database.

The reactor's side only appends to a deque (see L{SQLiteStore.record}); this
thread takes what is queued in batches, turns events into rows, and commits
each batch in one transaction: when a batch is full, or every
C{batch_interval} seconds.  Room saves and forgets travel in the same queue,
so they keep their order with the events.

Between batches it deletes what the retention limits no longer keep, a few
hundred rows per statement, a bounded number of statements per round.

A batch that cannot be committed (a full disk, any database error) is logged
once, kept, and tried again every C{retry_interval} seconds until it goes in;
meanwhile the queue fills up to its limit and the reactor's side drops (and
counts) what does not fit.

Rows of a batch go in through multi-row INSERT statements of a few fixed
sizes rather than one statement per row: the sqlite3 module lets go of the
GIL around every statement step, and getting it back can take the reactor's
whole switch interval when the reactor is busy, so a step per row would let a
busy reactor slow the writer to a crawl.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import deque
from typing import Any

from twisted.logger import Logger

from .schema import (
    ENCODERS,
    EVENT_COLUMNS,
    FORGET_EVENT,
    FORGET_ROOM,
    MOVE_HISTORY,
    SAVE_FILE,
    SAVE_ROOM,
    encode_file,
    encode_room,
    rooms,
)

# The first item of a queued room operation, where an event has its room key.
ROOM_OP = object()
SAVE = "save"
FORGET = "forget"
SAVE_FILE_OP = "file"
FORGET_EVENT_OP = "forget-event"
MOVE_OP = "move-history"

# Rows per INSERT statement, largest first: a batch is split into statements
# of these sizes, so that only a few statements are ever prepared (and kept
# in the connection's statement cache).
CHUNKS = (1000, 100, 10, 1)
WIDTH = len(EVENT_COLUMNS.split(","))
_ROW = "(" + ", ".join("?" * WIDTH) + ")"


def _insert(rows: int) -> str:
    return f"INSERT INTO events ({EVENT_COLUMNS}) VALUES " + ", ".join([_ROW] * rows)


_INSERTS = {size: _insert(size) for size in CHUNKS}


class Batch:
    """
    What the writer took from the queue at once, as rows.

    @ivar count: queue items taken (the sequence numbers this batch covers).
    @ivar params: every event row's values, one flat list.
    @ivar rows: how many event rows.
    @ivar rooms: room and shared-file operations, in order, as (statement, row).
    @ivar max_id: the highest event id in the batch, or 0.
    @ivar touched: the rooms that got rows.
    """

    __slots__ = ("count", "params", "rows", "rooms", "max_id", "touched")

    def __init__(self, count: int, params: list, rows: int, rooms: list,
                 max_id: int, touched: set):
        self.count = count
        self.params = params
        self.rows = rows
        self.rooms = rooms
        self.max_id = max_id
        self.touched = touched


class Writer(threading.Thread):
    """
    The writing thread.  Everything but L{wait_for}, L{prune_now} and
    L{stop} runs in the thread itself.

    @ivar stored: rows committed.
    @ivar dropped: events given up on (unstorable, or still failing at close).
    @ivar failing: whether the last commit failed.
    @ivar pragmas: C{journal_mode} and C{synchronous} as the database
        reported them for the writer's connection.
    @ivar pruned: rows deleted by retention, in total.
    @ivar prune_steps: the rows each recent retention statement deleted.
    @ivar rounds: retention rounds finished.
    """

    log = Logger()

    def __init__(self, db: sqlite3.Connection, queue: deque, clock: Any, *,
                 batch_size: int, batch_interval: float, max_per_room: int,
                 max_age: float, retry_interval: float = 1.0,
                 prune_interval: float = 60.0, prune_chunk: int = 500,
                 prune_steps: int = 20, log: Logger | None = None):
        super().__init__(name="chatservice-store-writer", daemon=True)
        self.db = db
        self.queue = queue
        self.clock = clock
        self.batch_size = batch_size
        self.batch_interval = batch_interval
        self.max_per_room = max_per_room
        self.max_age = max_age
        self.retry_interval = retry_interval
        self.prune_interval = prune_interval
        self.prune_chunk = prune_chunk
        self.prune_step_limit = prune_steps
        if log is not None:
            self.log = log
        self.stored = 0
        self.dropped = 0
        self.last_id = 0
        self._saved_last_id = 0
        self.failing = False
        self.pruned = 0
        self.prune_steps: deque[int] = deque(maxlen=1000)
        self.rounds = 0
        self.wake = threading.Event()
        self._changed = threading.Condition()
        self._done = 0  # queue items written (or given up on)
        self._flush_to = 0  # items someone waits for
        self._stopping = False
        self._finished = False
        self._pending: Batch | None = None
        self._prune_requested = False
        self._next_prune = time.monotonic()
        # Rooms that got rows since they were last checked against
        # max_per_room; None: every room (at start).
        self._grown: set[str] | None = None
        self._unknown_types: set[type] = set()
        db.execute("PRAGMA synchronous = NORMAL")
        self.pragmas = {
            "journal_mode": db.execute("PRAGMA journal_mode").fetchone()[0],
            "synchronous": db.execute("PRAGMA synchronous").fetchone()[0],
        }

    # Called from other threads

    def wait_for(self, sequence: int, timeout: float, while_failing: bool = False) -> bool:
        """
        Ask for everything up to queue item C{sequence} to be committed now,
        and wait (at most C{timeout} seconds) until it is.  Unless
        C{while_failing}, give up at once while commits fail.  Whether it is.
        """
        changed = self._changed
        with changed:
            if self._done >= sequence:
                return True
            if self._finished or (self.failing and not while_failing):
                return False
            if sequence > self._flush_to:
                self._flush_to = sequence
        self.wake.set()
        deadline = time.monotonic() + timeout
        with changed:
            while self._done < sequence:
                if self._finished or (self.failing and not while_failing):
                    return False
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                changed.wait(remaining)
            return True

    def prune_now(self, timeout: float) -> bool:
        """Run a retention round now and wait (bounded) until it is done."""
        with self._changed:
            rounds = self.rounds
            self._prune_requested = True
        self.wake.set()
        deadline = time.monotonic() + timeout
        with self._changed:
            while self.rounds == rounds and not self._finished:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
            return self.rounds > rounds

    def stop(self, timeout: float) -> bool:
        """
        Write what is queued (one more try for a failing batch), then end the
        thread; wait at most C{timeout} seconds.  Whether it ended.
        """
        self._stopping = True
        self.wake.set()
        if self.is_alive():
            self.join(timeout)
        return not self.is_alive()

    # The thread

    def run(self) -> None:
        try:
            while not self._step():
                pass
        finally:
            try:
                self._save_last_id()
            except sqlite3.Error:
                pass
            try:
                self.db.close()
            except sqlite3.Error:
                pass
            with self._changed:
                self._finished = True
                self._changed.notify_all()

    def _step(self) -> bool:
        """One turn of the loop; whether the thread is done."""
        try:
            return self._turn()
        except Exception:
            # A bug, not a database error (those are handled where they
            # happen): keep the thread alive, but do not spin.
            self.log.failure("The history writer hit an unexpected error")
            if self._pending is not None:
                self._give_up(self._pending)
                self._pending = None
            self.wake.wait(self.retry_interval)
            return self._stopping and not self.queue

    def _turn(self) -> bool:
        queue = self.queue
        stopping = self._stopping
        if self._pending is None:
            if not (stopping or self._prune_requested or len(queue) >= self.batch_size
                    or (queue and self._flush_to > self._done)):
                self.wake.wait(self._wait_time())
            self.wake.clear()
            stopping = self._stopping
            self._pending = self._take()
        elif not stopping:
            self.wake.wait(self.retry_interval)
            self.wake.clear()
            stopping = self._stopping
        pending = self._pending
        if pending is not None:
            if self._commit(pending):
                self._pending = None
            elif stopping:
                self._give_up(pending)
                self._pending = None
        if self._pending is None and not self.failing and not stopping and (
                self._prune_requested or time.monotonic() >= self._next_prune):
            self._prune()
        return stopping and self._pending is None and not queue

    def _wait_time(self) -> float:
        until_prune = self._next_prune - time.monotonic()
        return max(0.0, min(self.batch_interval, until_prune))

    def _take(self) -> Batch | None:
        queue = self.queue
        count = min(len(queue), self.batch_size)
        if not count:
            return None
        popleft = queue.popleft
        params: list = []
        extend = params.extend
        rooms: list = []
        encoders = ENCODERS
        rows = 0
        for _ in range(count):
            item = popleft()
            room = item[0]
            if room is ROOM_OP:
                rooms.append(self._room_row(item))
                continue
            event = item[1]
            encoder = encoders.get(type(event))
            if encoder is None:
                self._unstorable(event)
                continue
            try:
                extend(encoder(room, event))
            except Exception:
                self._unstorable(event)
                continue
            rows += 1
        ids = params[0::WIDTH]
        touched = set(params[1::WIDTH]) if self.max_per_room else set()
        return Batch(count, params, rows, rooms, max(ids) if ids else 0, touched)

    def _room_row(self, item: tuple) -> tuple:
        _, operation, key, argument = item
        if operation == SAVE:
            return (SAVE_ROOM, encode_room(key, argument))
        if operation == SAVE_FILE_OP:
            return (SAVE_FILE, encode_file(argument))
        if operation == FORGET_EVENT_OP:
            return (FORGET_EVENT, (key, argument))
        if operation == MOVE_OP:
            new_key, new_name = argument
            return (MOVE_HISTORY, (new_key, None if new_name == new_key else new_name, key))
        return (FORGET_ROOM, (key,))

    def _unstorable(self, event: object) -> None:
        self.dropped += 1
        kind = type(event)
        if kind not in self._unknown_types:
            self._unknown_types.add(kind)
            self.log.error("History cannot store {kind} events; they are dropped",
                           kind=kind.__name__)

    def _commit(self, batch: Batch) -> bool:
        db = self.db
        try:
            if batch.rows in _INSERTS and not batch.rooms:
                # A full batch: one statement, its own transaction, and one
                # release of the GIL.
                db.execute(_INSERTS[batch.rows], batch.params)
            else:
                db.execute("BEGIN IMMEDIATE")
                self._insert(batch)
                for statement, row in batch.rooms:
                    db.execute(statement, row)
                db.execute("COMMIT")
        except Exception as problem:
            self._rollback()
            if not self.failing:
                self.failing = True
                self.log.error(
                    "History cannot be written ({problem}); chat goes on, and writing "
                    "is retried every {interval} s", problem=str(problem) or repr(problem),
                    interval=self.retry_interval)
                with self._changed:
                    self._changed.notify_all()
            return False
        self.stored += batch.rows
        if batch.max_id > self.last_id:
            self.last_id = batch.max_id
        if self.failing:
            self.failing = False
            self.log.info("History is written again")
        if self._grown is not None:
            self._grown |= batch.touched
        self._advance(batch.count)
        return True

    def _insert(self, batch: Batch) -> None:
        params = batch.params
        db = self.db
        start = 0
        left = batch.rows
        for size in CHUNKS:
            sql = _INSERTS[size]
            step = size * WIDTH
            while left >= size:
                db.execute(sql, params[start:start + step])
                start += step
                left -= size

    def _rollback(self) -> None:
        try:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    def _give_up(self, batch: Batch) -> None:
        self.dropped += batch.rows
        self.log.error("{count} events could not be stored and are lost", count=batch.rows)
        self._advance(batch.count)

    def _advance(self, count: int) -> None:
        with self._changed:
            self._done += count
            self._changed.notify_all()

    # Retention

    def _prune(self) -> None:
        """
        One retention round: delete, at most C{prune_chunk} rows per
        statement (each its own transaction) and C{prune_step_limit}
        statements per round, events older than C{max_age} and events beyond
        the newest C{max_per_room} of a room.  A round cut short by its limit,
        or by a batch waiting, goes on soon after.
        """
        self._prune_requested = False
        budget = [self.prune_step_limit]
        try:
            self._save_last_id()
            finished = self._prune_age(budget) and self._prune_count(budget)
        except sqlite3.Error as problem:
            self._rollback()
            self.log.warn("History retention failed ({problem}); retried later",
                          problem=str(problem))
            finished = True
        now = time.monotonic()
        self._next_prune = now + (self.prune_interval if finished else self.batch_interval)
        with self._changed:
            self.rounds += 1
            self._changed.notify_all()

    def _save_last_id(self) -> None:
        """
        Note the highest id written where retention cannot delete it (the
        events themselves tell it otherwise, see L{schema.last_id}).
        """
        if self.last_id > self._saved_last_id:
            self.db.execute("UPDATE meta SET value = max(value, ?) WHERE key = 'last_id'",
                            (self.last_id,))
            self._saved_last_id = self.last_id

    def _may_go_on(self, budget: list[int]) -> bool:
        """
        Whether a round may run another DELETE: within its budget, and, but
        for its first, only while no full batch waits.
        """
        left = budget[0]
        if left <= 0 or self._stopping:
            return False
        return left == self.prune_step_limit or len(self.queue) < self.batch_size

    def _delete_rows(self, sql: str, args: tuple, budget: list[int]) -> int:
        """Run one bounded DELETE (autocommit: its own transaction)."""
        budget[0] -= 1
        deleted = self.db.execute(sql, args).rowcount
        self.pruned += deleted
        self.prune_steps.append(deleted)
        return deleted

    def _prune_age(self, budget: list[int]) -> bool:
        if not self.max_age:
            return True
        cutoff = self.clock.seconds() - self.max_age
        chunk = self.prune_chunk
        sql = ("DELETE FROM events WHERE rowid IN (SELECT rowid FROM events "
               "WHERE room = ? AND time < ? LIMIT ?)")
        old = "SELECT 1 FROM events WHERE room = ? AND time < ? LIMIT 1"
        for room in rooms(self.db):
            # Only a DELETE that deletes counts against the budget, so that
            # every round gets further, however many rooms there are.
            while self.db.execute(old, (room, cutoff)).fetchone():
                if not self._may_go_on(budget):
                    return False
                if self._delete_rows(sql, (room, cutoff, chunk), budget) < chunk:
                    break
        return True

    def _prune_count(self, budget: list[int]) -> bool:
        keep = self.max_per_room
        if not keep:
            return True
        if self._grown is None:
            self._grown = set(rooms(self.db))
        chunk = self.prune_chunk
        sql = ("DELETE FROM events WHERE rowid IN (SELECT rowid FROM events "
               "WHERE room = ? AND id <= ? ORDER BY id LIMIT ?)")
        grown = self._grown
        for room in sorted(grown):
            while True:
                row = self.db.execute(
                    "SELECT id FROM events WHERE room = ? ORDER BY id DESC LIMIT 1 OFFSET ?",
                    (room, keep)).fetchone()
                if row is None:
                    grown.discard(room)
                    break
                if not self._may_go_on(budget):
                    return False
                self._delete_rows(sql, (room, row[0], chunk), budget)
        return True
