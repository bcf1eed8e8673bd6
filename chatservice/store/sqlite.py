"""
History and rooms in one SQLite database in the data directory: the
embedded default store.

Nothing here blocks the reactor.  L{SQLiteStore.record}, L{save_room
<SQLiteStore.save_room>} and L{forget_room <SQLiteStore.forget_room>} only
append to a bounded queue that one writer thread (L{writer.Writer}) drains in
batches.  Reads run in threads (Twisted's L{adbapi.ConnectionPool}) and return
Deferreds; each first waits (briefly) until the writer has committed
everything queued before the read was asked for, so that a reader always sees
what was said before it asked.  Only L{last_id <SQLiteStore.last_id>} and
L{load_rooms <SQLiteStore.load_rooms>}, called once before the reactor runs,
read synchronously.

The database is in WAL mode with C{synchronous=NORMAL}: a crash of the
process (C{kill -9}) loses at most what was queued but not yet committed (the
last batch); the database itself stays sound.

Searches find what the in-memory store finds: every word, case-folded,
anywhere in a message.  An FTS5 index with trigrams (C{search_method ==
"fts5"}), or LIKE without one, picks candidates and the in-memory rule
decides; the candidates can miss a match only where case-folding changes a
text's length (C{ß} for C{ss}, ligatures).  Queries bounded by a time order
by time, then id: the same as by id unless the clock went back.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections import deque
from typing import Any, Callable, Protocol, Sequence

from twisted.enterprise import adbapi
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorThreads, IReactorTime
from twisted.logger import Logger

from ..core.events import Event
from ..core.files import SharedFile
from ..core.history import Point, Query, RoomState, contains_words
from . import StoreError, schema
from .writer import FORGET, FORGET_EVENT_OP, MOVE_OP, ROOM_OP, SAVE, SAVE_FILE_OP, Writer

DAY = 24 * 60 * 60
DATA_FILE = "chatservice.sqlite3"

# How long a read waits for the writer to commit what was queued before it.
READ_WAIT = 5.0
# How long close() waits for the writer to write what is queued.
CLOSE_WAIT = 30.0
# How often the reactor's side logs that events were dropped, at most.
DROP_LOG_INTERVAL = 60.0
# Shortest word the trigram index can look up; shorter words are checked
# only on the rows that the longer ones (or the room) select.
TRIGRAM = 3
# Words of a search given to the index or to LIKE, the longest first; every
# word is checked (by has_words) on the rows these select.
SIEVE_WORDS = 8
# Trigrams of those words asked of the index, at most: enough to make its
# candidates few, few enough to keep the query short.
SIEVE_TRIGRAMS = 32


def _has_words(text: str | None, words: str) -> bool:
    """
    The core's search rule (L{contains_words}) as an SQL function, so that
    every store finds the same messages.
    """
    return text is not None and contains_words(text, words)


def prepare_reader(db: sqlite3.Connection) -> None:
    """Set up a connection that reads: the SQL functions searches use."""
    db.create_function("has_words", 2, _has_words, deterministic=True)
    db.execute("PRAGMA query_only = 1")


def connect(path: str) -> sqlite3.Connection:
    """A connection to the database at C{path}, in autocommit mode."""
    return sqlite3.connect(path, timeout=10, isolation_level=None,
                           check_same_thread=False)


class Reads(Protocol):
    """
    Runs reads: C{reads(function, *args)} calls C{function(connection,
    *args)} somewhere and returns a Deferred of its result.
    """

    def __call__(self, function: Callable[..., Any], *args: Any) -> Deferred: ...

    def close(self) -> None: ...


class PooledReads:
    """Reads in threads, each with its own connection: the default."""

    def __init__(self, path: str, reactor: Any = None, threads: int = 3):
        self.pool = adbapi.ConnectionPool(
            "sqlite3", path, timeout=10, check_same_thread=False,
            cp_min=1, cp_max=threads, cp_openfun=prepare_reader, cp_noisy=False,
            cp_reactor=reactor)

    def __call__(self, function: Callable[..., Any], *args: Any) -> Deferred:
        return self.pool.runWithConnection(function, *args)

    def close(self) -> None:
        self.pool.close()


class DirectReads:
    """
    Reads run at once in the calling thread, on one connection: for tests,
    which need no reactor then.
    """

    def __init__(self, path: str):
        self.db = connect(path)
        prepare_reader(self.db)

    def __call__(self, function: Callable[..., Any], *args: Any) -> Deferred:
        try:
            return succeed(function(self.db, *args))
        except Exception:
            return fail()

    def close(self) -> None:
        self.db.close()


def _point(point: Point, comparison: str, where: list[str], args: list) -> None:
    if point.id is not None:
        where.append(f"id {comparison} ?")
        args.append(point.id)
    else:
        where.append(f"time {comparison} ?")
        args.append(point.time)


def _by_time(point: Point | None) -> bool:
    return point is not None and point.time is not None


def _query(db: sqlite3.Connection, room: str, query: Query) -> list[Event]:
    where = ["room = ?"]
    args: list = [room]
    if query.floor:
        where.append("id >= ?")
        args.append(query.floor)
    if query.messages_only:
        where.append(f"type = '{schema.MESSAGE}'")
    if query.after is not None:
        _point(query.after, ">", where, args)
    if query.before is not None:
        _point(query.before, "<", where, args)
    direction = "DESC" if query.newest else "ASC"
    if _by_time(query.after) or _by_time(query.before):
        # Along the (room, time) index: a time in the middle of a large room
        # would otherwise scan half of it.  Times and ids of a room increase
        # together unless the clock went back.
        order = f"time {direction}, id {direction}"
    else:
        # Newest first along the (room, id) index, then turned around: a
        # LATEST n reads n index entries whatever the room's size.
        order = f"id {direction}"
    args.append(query.limit)
    rows = db.execute(f"SELECT {schema.READ_COLUMNS} FROM events "
                      f"WHERE {' AND '.join(where)} ORDER BY {order} LIMIT ?",
                      args).fetchall()
    if query.newest:
        rows.reverse()
    return schema.decode_events(room, rows)


def _search(db: sqlite3.Connection, fts: bool, room: str, words: str, limit: int,
            floor: int) -> list[Event]:
    folded = " ".join(words.casefold().split())
    if not folded:
        return []
    columns = ", ".join(f"e.{column.strip()}" for column in schema.READ_COLUMNS.split(","))
    where = ["e.room = ?", f"e.type = '{schema.MESSAGE}'", "e.id >= ?"]
    args: list = [room, floor]
    # Longest first: they select the fewest rows.
    distinct = sorted(set(folded.split()), key=lambda word: (-len(word), word))
    long_words = [word for word in distinct if len(word) >= TRIGRAM][:SIEVE_WORDS]
    if fts and long_words:
        # The index gives candidates newest first (trigrams fold case
        # themselves), in every room: rows holding every trigram of the
        # words; each is looked up by rowid, and the search stops at the
        # limit.  CROSS JOIN keeps the index outermost.
        source = "events_fts f CROSS JOIN events e ON e.rowid = f.rowid"
        order = "f.rowid"
        where.insert(0, "events_fts MATCH ?")
        args.insert(0, schema.search_terms(long_words, SIEVE_TRIGRAMS))
    else:
        # The room's events newest first, each sieved.
        source = "events e"
        order = "e.id"
        for word in [word for word in distinct if word.isascii()][:SIEVE_WORDS]:
            # LIKE ignores the case of ASCII letters only: a cheap first
            # sieve for such words, before has_words().
            where.append("e.text LIKE ? ESCAPE '\\'")
            escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            args.append(f"%{escaped}%")
    # Last, so that it runs only on rows that passed everything else.
    where.append("has_words(e.text, ?)")
    args.append(folded)
    args.append(limit)
    rows = db.execute(f"SELECT {columns} FROM {source} WHERE {' AND '.join(where)} "
                      f"ORDER BY {order} DESC LIMIT ?", args).fetchall()
    rows.reverse()
    return schema.decode_events(room, rows)


def _targets(db: sqlite3.Connection, rooms: Sequence[str], start: float, end: float,
             limit: int) -> list[tuple[str, float]]:
    low, high = min(start, end), max(start, end)
    found = []
    for room in rooms:
        # The latest message, newest first along the (room, time) index.
        row = db.execute(
            f"SELECT time FROM events WHERE room = ? AND type = '{schema.MESSAGE}' "
            f"ORDER BY time DESC LIMIT 1", (room,)).fetchone()
        if row is not None and low < row[0] < high:
            found.append((room, row[0]))
    found.sort(key=lambda pair: pair[1])
    return found[:limit]


def _keys_starting(db: sqlite3.Connection, prefix: str) -> list[str]:
    """Every history key starting with C{prefix}: one index lookup per key."""
    # Every string that starts with prefix sorts below this one.
    end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    found: list[str] = []
    row = db.execute("SELECT min(room) FROM events WHERE room >= ? AND room < ?",
                     (prefix, end)).fetchone()
    while row[0] is not None:
        found.append(row[0])
        row = db.execute("SELECT min(room) FROM events WHERE room > ? AND room < ?",
                         (row[0], end)).fetchone()
    return found


def _refuse(path: str, problem: BaseException) -> StoreError:
    return StoreError(f"cannot use {path}: {problem}")


class SQLiteStore:
    """
    History and rooms in an SQLite database.  Each room keeps its newest
    C{max_per_room} events, none older than C{max_days} (0: no age limit);
    both are applied in the background, so a room may briefly hold more.

    @ivar search_method: C{"fts5"} (a trigram full-text index) or
        C{"like"}, whichever searches use.
    @ivar path: the database file.
    """

    log = Logger()

    @classmethod
    def open(cls, data_dir: str, clock: IReactorTime, max_per_room: int = 100_000,
             max_days: float = 90, batch_size: int = 1000, batch_interval: float = 0.2,
             queue_limit: int = 100_000, *, reads: Callable[[str], Reads] | None = None
             ) -> SQLiteStore:
        """
        Open (creating what is missing) the database C{chatservice.sqlite3}
        in C{data_dir}, and start writing.

        @raise StoreError: the directory cannot be created or written, the
            file is not a chatservice database, or a newer version wrote it.
        """
        data_dir = os.path.abspath(data_dir)
        try:
            # Private: it holds who said what, from which address, and room
            # passwords.
            os.makedirs(data_dir, mode=0o700, exist_ok=True)
        except OSError as problem:
            raise StoreError(f"cannot create the data directory {data_dir}: "
                             f"{problem.strerror or problem}") from None
        if not os.path.isdir(data_dir):
            raise StoreError(f"the data directory {data_dir} is not a directory")
        if not os.access(data_dir, os.W_OK | os.X_OK):
            raise StoreError(f"cannot write to the data directory {data_dir}")
        return cls(os.path.join(data_dir, DATA_FILE), clock, max_per_room=max_per_room,
                   max_days=max_days, batch_size=batch_size, batch_interval=batch_interval,
                   queue_limit=queue_limit, reads=reads)

    def __init__(self, path: str, clock: IReactorTime, *, max_per_room: int = 100_000,
                 max_days: float = 90, batch_size: int = 1000, batch_interval: float = 0.2,
                 queue_limit: int = 100_000, reads: Callable[[str], Reads] | None = None,
                 fts: bool = True, connect: Callable[[str], sqlite3.Connection] = connect,
                 log: Logger | None = None, **writer_options: Any):
        """
        @param reads: makes the read runner for the database's path;
            L{PooledReads} by default, L{DirectReads} in tests.
        @param fts: whether searches may use the full-text index.
        @param connect: opens the writer's connection (tests give faulty ones).
        @param writer_options: passed on to L{Writer} (retry and retention
            timing).
        """
        self.path = path
        self.clock = clock
        if log is not None:
            self.log = log
        self.max_per_room = max_per_room
        self.max_age = max_days * DAY
        self._queue: deque = deque()
        self._queue_limit = queue_limit
        self._batch_size = batch_size
        self._queued = 0  # items ever queued: the writer's sequence numbers
        self._dropped = 0  # events the reactor's side could not queue
        self._unreported = 0
        self._next_drop_log = float("-inf")
        self._closed = False
        db = self._open_database(connect)
        self.search_method = "fts5" if fts and schema.has_fts(db) else "like"
        self._writer = Writer(db, self._queue, clock, batch_size=batch_size,
                              batch_interval=batch_interval, max_per_room=max_per_room,
                              max_age=self.max_age, log=log, **writer_options)
        self._wake = self._writer.wake
        try:
            self._reads = (reads or self._pooled_reads)(path)
        except BaseException:
            db.close()
            raise
        self._writer.start()

    def _pooled_reads(self, path: str) -> PooledReads:
        # The pool's threads report to the reactor the store was given, if
        # it runs threads; to the global reactor otherwise.
        clock = self.clock
        return PooledReads(path, clock if IReactorThreads.providedBy(clock) else None)

    def _open_database(self, connect: Callable[[str], sqlite3.Connection]
                       ) -> sqlite3.Connection:
        path = self.path
        try:
            db = connect(path)
        except sqlite3.Error as problem:
            raise _refuse(path, problem) from None
        try:
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal":
                raise StoreError(f"cannot use {path}: SQLite refused WAL mode ({mode})")
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("PRAGMA journal_size_limit = 67108864")
            found = schema.migrate(db)
            if not schema.has_fts(db) and schema.fts_available(db):
                # Made by an SQLite without FTS5: index what is there now.
                db.execute("BEGIN IMMEDIATE")
                schema.create_fts(db)
                db.execute("COMMIT")
        except schema.NewerSchema as newer:
            db.close()
            raise StoreError(
                f"{path} was written by a newer chatservice (schema version {newer.args[0]}, "
                f"this one knows up to {schema.VERSION}); upgrade chatservice or use "
                f"another data directory") from None
        except schema.NotOurs:
            db.close()
            raise StoreError(f"{path} is an SQLite database, but not chatservice's") from None
        except sqlite3.DatabaseError as problem:
            db.close()
            if isinstance(problem, sqlite3.OperationalError):
                raise _refuse(path, problem) from None
            raise StoreError(f"{path} is not a chatservice database, or it is damaged "
                             f"({problem})") from None
        except BaseException:
            db.close()
            raise
        if found < schema.VERSION:
            self.log.info("History database {path} brought from schema version {old} to {new}",
                          path=path, old=found, new=schema.VERSION)
        return db

    # Counters

    @property
    def stored(self) -> int:
        """Rows committed."""
        return self._writer.stored

    @property
    def dropped(self) -> int:
        """Events given up on: a full queue, a failing disk at close, after close."""
        return self._dropped + self._writer.dropped

    @property
    def queued(self) -> int:
        """Items waiting for the writer."""
        return len(self._queue)

    @property
    def failing(self) -> bool:
        """Whether the writer's last commit failed (a full disk, say)."""
        return self._writer.failing

    @property
    def writer(self) -> Writer:
        return self._writer

    # Recording: the fan-out's hot path

    def record(self, room: str, event: Event) -> None:
        queue = self._queue
        if len(queue) < self._queue_limit:
            queue.append((room, event))
            self._queued += 1
            if len(queue) >= self._batch_size and not self._wake.is_set():
                self._wake.set()
        else:
            self._drop()

    def _record_closed(self, room: str, event: Event) -> None:
        self._drop()

    def _drop(self) -> None:
        self._dropped += 1
        self._unreported += 1
        now = self.clock.seconds()
        if now >= self._next_drop_log:
            self._report_drops(now)

    def _report_drops(self, now: float) -> None:
        if self._unreported:
            self.log.warn("{count} events could not be stored (history falls behind: "
                          "{queued} waiting); chat goes on", count=self._unreported,
                          queued=len(self._queue))
        self._unreported = 0
        self._next_drop_log = now + DROP_LOG_INTERVAL

    def last_id(self) -> int:
        self.flush()
        db = connect(self.path)
        try:
            return schema.last_id(db)
        finally:
            db.close()

    def flush(self, timeout: float = CLOSE_WAIT) -> bool:
        """
        Wait (at most C{timeout} seconds; keep trying if the disk fails)
        until everything queued so far is committed.  Whether it is.
        """
        return self._writer.wait_for(self._queued, timeout, while_failing=True)

    # Reading

    def _read(self, function: Callable[..., Any], *args: Any) -> Deferred:
        sequence = self._queued
        return self._reads(self._after_writes, sequence, function, *args)

    def _after_writes(self, db: sqlite3.Connection, sequence: int,
                      function: Callable[..., Any], *args: Any) -> Any:
        # In the read's thread: what was queued before the read was asked
        # for is committed first (or the writer is stuck: read what there is).
        self._writer.wait_for(sequence, READ_WAIT)
        return function(db, *args)

    def query(self, room: str, query: Query) -> Deferred[list[Event]]:
        return self._read(_query, room, query)

    def search(self, room: str, words: str, limit: int,
               floor: int = 0) -> Deferred[list[Event]]:
        return self._read(_search, self.search_method == "fts5", room, words, limit, floor)

    def targets(self, rooms: Sequence[str], start: float, end: float,
                limit: int) -> Deferred[list[tuple[str, float]]]:
        return self._read(_targets, list(rooms), start, end, limit)

    def keys_starting(self, prefix: str) -> Deferred[list[str]]:
        return self._read(_keys_starting, prefix)

    # Rooms

    def load_rooms(self) -> list[RoomState]:
        self.flush()
        db = connect(self.path)
        try:
            rows = db.execute("SELECT name, created, topic, topic_by, topic_time, flags, "
                              "password, member_limit, bans, exceptions, ban_exceptions FROM rooms "
                              "ORDER BY rowid").fetchall()
        finally:
            db.close()
        return [schema.decode_room(row) for row in rows]

    def save_room(self, key: str, state: RoomState) -> None:
        if not self._closed:
            self._queue.append((ROOM_OP, SAVE, key, state))
            self._queued += 1

    def forget_room(self, key: str) -> None:
        if not self._closed:
            self._queue.append((ROOM_OP, FORGET, key, None))
            self._queued += 1

    # Shared files: their records travel in the writer's queue, in order
    # with the events that announce them.

    def load_files(self) -> list[SharedFile]:
        self.flush()
        db = connect(self.path)
        try:
            rows = db.execute(f"SELECT {schema.FILE_COLUMNS} FROM files").fetchall()
        finally:
            db.close()
        return [schema.decode_file(row) for row in rows]

    def save_file(self, file: SharedFile) -> None:
        if not self._closed:
            self._queue.append((ROOM_OP, SAVE_FILE_OP, file.id, file))
            self._queued += 1

    # Editing history

    def forget_event(self, room: str, event_id: int) -> None:
        if not self._closed:
            self._queue.append((ROOM_OP, FORGET_EVENT_OP, room, event_id))
            self._queued += 1

    def move_history(self, room: str, new_room: str, new_name: str) -> None:
        if not self._closed:
            self._queue.append((ROOM_OP, MOVE_OP, room, (new_room, new_name)))
            self._queued += 1

    # Retention

    def prune(self, timeout: float = CLOSE_WAIT) -> bool:
        """Apply the retention limits now (one bounded round); for tests."""
        return self._writer.prune_now(timeout)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.record = self._record_closed  # type: ignore[method-assign]
        started = time.monotonic()
        if not self._writer.stop(CLOSE_WAIT):
            self.log.error("The history writer did not finish within {seconds} s",
                           seconds=round(time.monotonic() - started))
        self._reads.close()
        self._report_drops(self.clock.seconds())
