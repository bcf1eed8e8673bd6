"""
Tests for what only the SQLite store (L{chatservice.store.sqlite}) does:
restarts, its settings and schema, refusing what it cannot use, crashes,
a full queue, a full disk, retention and reading what was just written.

The writer thread is real here; waits on it are bounded.
"""

from __future__ import annotations

import os
import queue
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from twisted.internet.task import Clock
from twisted.logger import Logger, formatEvent
from twisted.python.failure import Failure

from chatservice.core.events import Joined, Kind, Message, PrivateMessage, Quit, Source
from chatservice.core.history import Point, Query, RoomState
from chatservice.core.rooms import Ban, RoomMode
from chatservice.store import StoreError, schema
from chatservice.store.sqlite import DATA_FILE, DirectReads, PooledReads, SQLiteStore
from unit_helpers import result

ROOT = Path(__file__).resolve().parent.parent
BOB = Source("Bob", "bob", "bob.example")
DAY = 24 * 60 * 60


def say(id, text=None, room="#room", time=None):
    return Message(id, float(id) if time is None else time, BOB, room,
                   f"message {id}" if text is None else text, Kind.SAY)


def wait_until(predicate, timeout=10.0):
    """Poll C{predicate} (something a real thread changes) for at most C{timeout} s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


class Logged:
    """A log observer that keeps what it is given, from any thread."""

    def __init__(self):
        self.events = []
        self.lock = threading.Lock()

    def __call__(self, event):
        with self.lock:
            self.events.append(event)

    def lines(self, containing=""):
        with self.lock:
            texts = [formatEvent(event) for event in self.events]
        return [text for text in texts if containing in text]


class Setup:
    """Stores on one database file, a fake clock and a log."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.path = str(directory / DATA_FILE)
        self.clock = Clock()
        self.clock.advance(1_000_000)
        self.logged = Logged()
        self.stores = []

    def store(self, **options) -> SQLiteStore:
        options.setdefault("reads", DirectReads)
        options.setdefault("log", Logger(observer=self.logged))
        store = SQLiteStore(self.path, self.clock, **options)
        self.stores.append(store)
        return store

    def quiet_store(self, **options) -> SQLiteStore:
        """A store whose writer commits only full batches or when asked."""
        options.setdefault("batch_interval", 3600)
        options.setdefault("prune_interval", 3600)
        store = self.store(**options)
        assert store.prune(10)  # the first round, due at start, is over
        return store

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path)

    def rows(self, room="#room") -> list[int]:
        db = self.db()
        try:
            return [id for (id,) in db.execute(
                "SELECT id FROM events WHERE room = ? ORDER BY id", (room,))]
        finally:
            db.close()

    def close(self):
        for store in self.stores:
            store.close()


@pytest.fixture
def setup(tmp_path):
    made = Setup(tmp_path)
    yield made
    made.close()


def refusal(directory, clock=None) -> StoreError:
    with pytest.raises(StoreError) as raised:
        SQLiteStore.open(str(directory), clock or Clock())
    error = raised.value
    assert "\n" not in str(error)
    # Nothing chained to it: no traceback of another error comes with it.
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__
    return error


# Restarts

def test_restart_keeps_history_rooms_and_last_id(setup):
    """After close and reopen, the history, the rooms and the last id are what they were."""
    store = setup.store()
    events = [say(id) for id in range(1, 6)] + [Quit(6, 6.0, BOB, "bye")]
    for event in events:
        store.record("#room", event)
    state = RoomState("#Room", 5.0, "topic", "Bob", 6.0, frozenset({RoomMode.SECRET}))
    store.save_room("#room", state)
    store.close()
    again = setup.store()
    assert result(again.query("#room", Query(100))) == events
    assert [event.id for event in result(again.search("#room", "MESSAGE 3", 5))] == [3]
    assert again.load_rooms() == [state]
    assert again.last_id() == 6


def test_open_creates_the_directory(tmp_path):
    """open creates the data directory, parents too, and the database in it."""
    directory = tmp_path / "a" / "b"
    store = SQLiteStore.open(str(directory), Clock(), reads=DirectReads)
    try:
        assert (directory / DATA_FILE).is_file()
        assert store.path == str(directory / DATA_FILE)
    finally:
        store.close()


def test_settings(setup):
    """The database is in WAL mode and the writer commits with synchronous=NORMAL."""
    store = setup.store()
    assert store.writer.pragmas == {"journal_mode": "wal", "synchronous": 1}
    db = setup.db()
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    db.close()


def test_search_method(setup):
    """This SQLite has FTS5 with trigrams, and searches use it unless told not to."""
    assert setup.store().search_method == "fts5"
    assert setup.store(fts=False).search_method == "like"


# The schema

def test_schema_version(setup):
    """A new database records the number of migrations it has had."""
    setup.store()
    db = setup.db()
    assert db.execute("SELECT version FROM schema_version").fetchall() == [(schema.VERSION,)]
    assert schema.VERSION == len(schema.MIGRATIONS) >= 2
    db.close()


def test_migration_from_version_1(setup):
    """A version 1 database (no full-text index) is migrated, and its old messages are found."""
    db = sqlite3.connect(setup.path, isolation_level=None)
    schema.migrate(db, schema.MIGRATIONS[:1])
    db.executemany(schema.INSERT_EVENT, [schema.encode_event("#room", say(1, "old news")),
                                         schema.encode_event("#room", say(2, "other"))])
    db.close()
    store = setup.store()
    db = setup.db()
    assert db.execute("SELECT version FROM schema_version").fetchall() == [(schema.VERSION,)]
    db.close()
    assert store.search_method == "fts5"
    assert [event.id for event in result(store.search("#room", "NEWS", 5))] == [1]
    assert setup.logged.lines(f"brought from schema version 1 to {schema.VERSION}")
    store.record("#room", say(3, "more news"))
    assert [event.id for event in result(store.search("#room", "news", 5))] == [1, 3]


def test_migration_keeps_rooms_without_invite_exceptions(setup):
    """A room saved before invite exceptions were kept comes back with none, and keeps new ones."""
    db = sqlite3.connect(setup.path, isolation_level=None)
    schema.migrate(db, schema.MIGRATIONS[:2])
    db.execute("INSERT INTO rooms (key, name, created, topic, topic_by, topic_time, flags, "
               "password, member_limit, bans) VALUES ('#old', '#Old', 1.0, 't', 'a', 2.0, "
               "'[]', NULL, NULL, '[]')")
    db.close()
    store = setup.store()
    (room,) = store.load_rooms()
    assert room.name == "#Old" and room.exceptions == ()
    store.save_room("#old", RoomState("#Old", 1.0, exceptions=(Ban("bob!*@*", "op", 3.0),)))
    (room,) = store.load_rooms()
    assert room.exceptions == (Ban("bob!*@*", "op", 3.0),)


def test_migration_gives_each_account_its_copy_of_a_private_conversation(setup):
    """A conversation kept under the old pair key reaches both accounts' copies, searchable."""
    db = sqlite3.connect(setup.path, isolation_level=None)
    schema.migrate(db, schema.MIGRATIONS[:8])
    db.executemany(schema.INSERT_EVENT, [schema.encode_event("@alice,bob", say(1, "psst")),
                                         schema.encode_event("@alice,bob", say(2, "hush")),
                                         schema.encode_event("#room", say(3, "public"))])
    db.close()
    store = setup.store()
    for key in ("@alice>bob", "@bob>alice"):
        assert [event.text for event in result(store.query(key, Query(10)))] == [
            "psst", "hush"]
        assert [event.id for event in result(store.search(key, "HUSH", 5))] == [2]
    assert result(store.query("@alice,bob", Query(10))) == []
    assert [event.text for event in result(store.query("#room", Query(10)))] == ["public"]


def test_migration_makes_the_index_lighter_and_keeps_every_message_found(setup):
    """A version 10 database's index is made again without positions, and finds every old message."""
    db = sqlite3.connect(setup.path, isolation_level=None)
    schema.migrate(db, schema.MIGRATIONS[:10])
    assert "detail=none" not in db.execute(
        "SELECT sql FROM sqlite_master WHERE name = 'events_fts'").fetchone()[0]
    db.executemany(schema.INSERT_EVENT, [
        schema.encode_event("#room", say(id, f"old news {id}")) for id in range(1, 51)])
    db.execute(schema.INSERT_EVENT, schema.encode_event(
        "#room", Joined(51, 51.0, Source("bob", "b", "host"), "#room")))
    db.close()
    store = setup.store()
    db = setup.db()
    assert db.execute("SELECT version FROM schema_version").fetchall() == [(schema.VERSION,)]
    assert "detail=none, columnsize=0" in db.execute(
        "SELECT sql FROM sqlite_master WHERE name = 'events_fts'").fetchone()[0]
    db.execute("INSERT INTO events_fts (events_fts) VALUES ('integrity-check')")
    assert db.execute("SELECT count(*) FROM events").fetchone() == (51,)
    db.close()
    assert [event.id for event in result(store.search("#room", "NEWS 7", 100))] == [7, 17, 27,
                                                                                   37, 47]
    store.record("#room", say(52, "fresh news 7"))
    assert [event.id for event in result(store.search("#room", "news 47", 100))] == [47]
    assert [event.id for event in result(store.search("#room", "fresh NEWS", 100))] == [52]
    assert setup.logged.lines(f"brought from schema version 10 to {schema.VERSION}")


def test_migrations_run_once(setup):
    """Opening a database again runs no migration."""
    setup.store().close()
    calls = []
    found = schema.migrate(sqlite3.connect(setup.path, isolation_level=None),
                           schema.MIGRATIONS + [calls.append])
    assert found == schema.VERSION
    assert len(calls) == 1
    db = setup.db()
    assert db.execute("SELECT version FROM schema_version").fetchall() == [
        (schema.VERSION + 1,)]
    db.close()


# Refusals: one line each, and the service turns it into its exit message

def test_refuse_newer_schema(setup):
    """A database from a newer version is refused, saying so."""
    setup.store().close()
    db = setup.db()
    db.execute("UPDATE schema_version SET version = ?", (schema.VERSION + 1,))
    db.commit()
    db.close()
    error = refusal(setup.directory)
    assert str(error) == (
        f"{setup.path} was written by a newer chatservice (schema version "
        f"{schema.VERSION + 1}, this one knows up to {schema.VERSION}); upgrade chatservice "
        f"or use another data directory")


def test_refuse_garbage(setup):
    """A file that is not an SQLite database is refused."""
    Path(setup.path).write_bytes(b"this is not a database\n" * 200)
    error = refusal(setup.directory)
    assert str(error) == (f"{setup.path} is not a chatservice database, or it is damaged "
                          f"(file is not a database)")


def test_refuse_damaged_header(setup):
    """A database whose header is overwritten is refused."""
    store = setup.store()
    store.record("#room", say(1))
    store.close()
    with open(setup.path, "r+b") as file:
        file.write(b"\xff" * 100)
    assert "damaged" in str(refusal(setup.directory))


def test_refuse_other_database(setup):
    """An SQLite database of something else is refused, and left alone."""
    db = setup.db()
    db.execute("CREATE TABLE accounts (name TEXT)")
    db.commit()
    db.close()
    assert str(refusal(setup.directory)) == (
        f"{setup.path} is an SQLite database, but not chatservice's")
    db = setup.db()
    assert db.execute("SELECT name FROM sqlite_master").fetchall() == [("accounts",)]
    db.close()


def test_refuse_uncreatable_directory(tmp_path):
    """A data directory that cannot be created is refused."""
    (tmp_path / "file").write_text("")
    error = refusal(tmp_path / "file" / "data")
    assert str(error) == (f"cannot create the data directory {tmp_path / 'file' / 'data'}: "
                          f"Not a directory")
    assert str(refusal(tmp_path / "file")).startswith("cannot create the data directory ")


@pytest.fixture
def read_only_directory(tmp_path):
    """A directory no one may write to, even root: a read-only tmpfs."""
    directory = tmp_path / "read-only"
    directory.mkdir()
    if os.geteuid() != 0:
        directory.chmod(0o500)
        yield directory
        directory.chmod(0o700)
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs",
                              str(directory)], capture_output=True)
    if mounted.returncode:
        pytest.skip("cannot mount a read-only tmpfs here")
    yield directory
    subprocess.run(["umount", str(directory)], check=True)


def test_refuse_unwritable_directory(read_only_directory):
    """A data directory that cannot be written is refused."""
    assert str(refusal(read_only_directory)) == (
        f"cannot write to the data directory {read_only_directory}")


# A crash

CHILD = textwrap.dedent("""
    import os, signal, sys
    from twisted.internet.task import Clock
    from chatservice.core.events import Kind, Message, Source
    from chatservice.store.sqlite import DirectReads, SQLiteStore

    path, mode = sys.argv[1], sys.argv[2]
    clock = Clock()
    source = Source("Bob", "bob", "h")

    def event(id):
        return Message(id, float(id), source, "#room", f"message {id}", Kind.SAY)

    if mode == "between":
        store = SQLiteStore(path, clock, reads=DirectReads, batch_size=100,
                            batch_interval=3600, prune_interval=3600)
        store.prune(10)
        for id in range(1, 1001):
            store.record("#room", event(id))
        assert store.flush(30)
        for id in range(1001, 1051):  # less than a batch: still queued
            store.record("#room", event(id))
        print("recorded", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    else:  # "during": killed while the writer writes
        store = SQLiteStore(path, clock, reads=DirectReads, batch_size=100,
                            batch_interval=0.001)
        for id in range(1, 2_000_001):
            store.record("#room", event(id))
            if id % 500 == 0:
                print(store.stored, flush=True)
                while store.queued > 5000:
                    store.writer.wait_for(id - 5000, 1)
""")


def run_child(path, mode):
    environment = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-c", CHILD, path, mode], cwd=str(ROOT),
                            env=environment, stdout=subprocess.PIPE, text=True)


def assert_sound(setup, at_least, at_most=None):
    """The database opens cleanly and holds events 1 to n, n within bounds, and no gap."""
    db = setup.db()
    assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    db.execute("INSERT INTO events_fts (events_fts) VALUES ('integrity-check')")
    db.close()
    store = setup.store()
    ids = setup.rows()
    assert ids == list(range(1, len(ids) + 1))
    assert len(ids) >= at_least
    if at_most is not None:
        assert len(ids) <= at_most
    assert store.last_id() == len(ids)
    store.record("#room", say(len(ids) + 1))
    assert store.flush(10)
    assert setup.rows()[-1] == len(ids) + 1
    return len(ids)


def test_kill_between_batches(setup):
    """Killed with events still queued, the process loses at most that last batch."""
    child = run_child(setup.path, "between")
    try:
        output, _ = child.communicate(timeout=60)
    finally:
        child.kill()
    assert output == "recorded\n"
    assert child.returncode == -signal.SIGKILL
    assert_sound(setup, at_least=1000, at_most=1050)


def test_kill_while_writing(setup):
    """Killed while the writer commits, nothing committed is lost and the database is sound."""
    child = run_child(setup.path, "during")
    committed = 0
    try:
        for line in child.stdout:
            committed = int(line)
            if committed >= 3000:
                child.send_signal(signal.SIGKILL)
                break
        child.wait(timeout=60)
    finally:
        child.kill()
        child.stdout.close()
    assert committed >= 3000
    assert child.returncode == -signal.SIGKILL
    assert_sound(setup, at_least=committed)


# The queue

def test_full_queue_drops_and_counts(setup):
    """Past queue_limit, events are dropped and counted, and the rest are stored."""
    store = setup.quiet_store(queue_limit=10)
    for id in range(1, 101):
        store.record("#room", say(id))
    assert store.dropped == 90
    assert store.flush(10)
    assert (store.stored, store.dropped) == (10, 90)
    assert setup.rows() == list(range(1, 11))


def test_full_queue_logged_once_a_minute(setup):
    """Drops are logged at most once a minute, with how many there were."""
    store = setup.quiet_store(queue_limit=1)
    store.record("#room", say(1))
    for id in range(2, 6):
        store.record("#room", say(id))
    setup.clock.advance(59)
    store.record("#room", say(6))
    assert len(setup.logged.lines("could not be stored")) == 1
    setup.clock.advance(1)
    store.record("#room", say(7))
    assert [line.split(" events")[0] for line in setup.logged.lines("could not be stored")] == [
        "1", "5"]


def test_rooms_are_never_dropped(setup):
    """Room saves go through a full queue."""
    store = setup.quiet_store(queue_limit=1)
    store.record("#room", say(1))
    store.save_room("#room", RoomState("#room", 1.0, "topic"))
    assert store.dropped == 0
    assert store.load_rooms() == [RoomState("#room", 1.0, "topic")]


def test_batches(setup):
    """The writer commits a full batch without being asked, and the rest at the interval."""
    store = setup.quiet_store(batch_size=10)
    for id in range(1, 26):
        store.record("#room", say(id))
    assert wait_until(lambda: store.stored == 20)
    assert store.queued == 5
    quick = setup.store(batch_size=1000, batch_interval=0.01)
    quick.record("#other", say(100, room="#other"))
    assert wait_until(lambda: quick.stored == 1)


def test_unstorable_events(setup):
    """An event the store cannot keep is dropped, counted and logged once per type."""
    store = setup.store()
    private = PrivateMessage(1, 1.0, BOB, "alice", "psst", Kind.SAY)
    store.record("#room", private)
    store.record("#room", private)
    store.record("#room", say(2))
    assert store.flush(10)
    assert (store.stored, store.dropped) == (1, 2)
    assert len(setup.logged.lines("cannot store PrivateMessage")) == 1


# A full disk

class FillingDisk(sqlite3.Connection):
    """A connection whose writes fail, as on a full disk, while C{full} is set."""

    full = False
    failures = 0

    def execute(self, sql, *args):
        if self.full and not sql.startswith(("PRAGMA", "ROLLBACK", "SELECT")):
            self.failures += 1
            raise sqlite3.OperationalError("database or disk is full")
        return super().execute(sql, *args)


def filling_disk(path):
    return sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False,
                           factory=FillingDisk)


def test_disk_full(setup):
    """
    While commits fail, chat goes on, the error is logged once, the batch is
    kept and retried, overflow is dropped and counted; writes resume after.
    """
    store = setup.quiet_store(connect=filling_disk, batch_size=10, queue_limit=30,
                              retry_interval=0.001)
    disk = store.writer.db
    store.record("#room", say(1))
    assert store.flush(10)
    disk.full = True
    for id in range(2, 12):  # a batch, which the writer takes and holds
        store.record("#room", say(id))
    assert wait_until(lambda: disk.failures >= 1)
    for id in range(12, 52):  # the queue fills up
        store.record("#room", say(id))
    assert wait_until(lambda: disk.failures >= 5)
    assert store.failing
    assert len(setup.logged.lines("database or disk is full")) == 1
    assert result(store.query("#room", Query(100)))[-1].id == 1  # reads still answer
    assert store.dropped == 10
    disk.full = False
    assert store.flush(10)
    assert not store.failing
    assert (store.stored, store.dropped) == (41, 10)
    assert setup.rows() == list(range(1, 42))
    assert len(setup.logged.lines("History is written again")) == 1
    assert len(setup.logged.lines("database or disk is full")) == 1


def test_disk_full_at_close(setup):
    """A batch that still cannot be written at close is dropped, counted, and close returns."""
    store = setup.quiet_store(connect=filling_disk, retry_interval=3600)
    store.writer.db.full = True
    for id in range(1, 4):
        store.record("#room", say(id))
    store.close()
    assert (store.stored, store.dropped) == (0, 3)
    assert not store.writer.is_alive()


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs, mounted for the test (as root)."""
    directory = tmp_path / "disk"
    directory.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs",
                              str(directory)], capture_output=True)
    if mounted.returncode:
        pytest.skip("cannot mount a tmpfs here")
    yield directory
    subprocess.run(["umount", "-l", str(directory)], check=True)


def test_real_disk_full(small_disk):
    """On a real disk that fills, writing stops, chat goes on, and writing resumes with space."""
    setup = Setup(small_disk)
    try:
        store = setup.quiet_store(batch_size=20, retry_interval=0.01)
        store.record("#room", say(1))
        assert store.flush(10)
        ballast = small_disk / "ballast"
        with open(ballast, "wb", buffering=0) as file:
            for _ in range(1000):
                try:
                    file.write(b"x" * 4096)
                except OSError:
                    break
        text = "y" * 400
        id = 1
        while not store.failing and id < 20_000:
            id += 1
            store.record("#room", say(id, f"{id} {text}"))
            if id % 20 == 1:
                store.writer.wait_for(id - 1, 5)
        assert store.failing
        assert len(setup.logged.lines("database or disk is full")) == 1
        ballast.unlink()
        assert store.flush(30)
        assert setup.rows() == list(range(1, id + 1))
        store.close()
        db = setup.db()
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        db.close()
    finally:
        setup.close()


# Retention

def test_retention_per_room(setup):
    """Retention keeps a room's newest max_per_room events, deleting 500 rows at most at a time."""
    store = setup.quiet_store(max_per_room=1000)
    for id in range(1, 2601):
        store.record("#room", say(id))
    store.record("#small", say(5000, room="#small"))
    assert store.flush(10)
    assert store.prune(10)
    assert setup.rows() == list(range(1601, 2601))
    assert setup.rows("#small") == [5000]
    assert store.writer.pruned == 1600
    assert max(store.writer.prune_steps) <= 500
    assert [event.id for event in result(store.search("#room", "message 1", 1000))][0] == 1601


def test_retention_by_age(setup):
    """Retention deletes events older than max_days, in every room, and keeps the last id."""
    store = setup.quiet_store(max_days=1)
    now = setup.clock.seconds()
    for id in range(1, 701):
        store.record("#old", say(id, room="#old", time=now - 2 * DAY))
    store.record("#room", say(701, time=now - 2 * DAY))
    store.record("#room", say(702, time=now - DAY / 2))
    assert store.flush(10)
    assert store.prune(10)
    assert setup.rows("#old") == []
    assert setup.rows() == [702]
    setup.clock.advance(DAY)
    assert store.prune(10)
    assert setup.rows() == []
    assert max(store.writer.prune_steps) <= 500
    assert store.last_id() == 702


def test_retention_bounded_rounds(setup):
    """A round deletes a bounded number of small batches; the next round goes on."""
    store = setup.quiet_store(max_per_room=100, max_days=0, prune_chunk=50, prune_steps=3)
    for id in range(1, 501):
        store.record("#room", say(id))
    assert store.flush(10)
    assert store.prune(10)
    assert len(setup.rows()) == 500 - 150
    assert store.prune(10)
    assert len(setup.rows()) == 500 - 300
    assert store.prune(10)
    assert store.prune(10)
    assert setup.rows() == list(range(401, 501))
    assert set(store.writer.prune_steps) == {50}


def test_retention_reaches_every_room(setup):
    """However many rooms have old events, each round gets further, until none is left."""
    store = setup.quiet_store(max_days=1, prune_steps=5)
    old = setup.clock.seconds() - 2 * DAY
    for number in range(30):
        room = f"#r{number:02}"
        store.record(room, say(number + 1, room=room, time=old))
    assert store.flush(10)
    for _ in range(5):
        assert store.prune(10)
    db = setup.db()
    assert db.execute("SELECT count(*) FROM events").fetchone() == (5,)
    db.close()
    assert store.prune(10)
    assert store.writer.pruned == 30
    assert list(store.writer.prune_steps) == [1] * 30


def test_retention_goes_on_under_load(setup):
    """While a full batch waits, a round still runs its first DELETE, and only that."""
    store = setup.quiet_store(batch_size=3)
    writer = store.writer
    limit = writer.prune_step_limit
    assert writer._may_go_on([limit]) and writer._may_go_on([limit - 1])
    writer.queue.extend(("#room", say(id)) for id in range(1, 4))  # the writer sleeps on
    assert writer._may_go_on([limit])
    assert not writer._may_go_on([limit - 1])
    assert not writer._may_go_on([0])
    store._queued += 3
    assert store.flush(10)


def test_retention_keeps_the_index_sound(setup):
    """Deleting old messages deletes them from the full-text index too."""
    store = setup.quiet_store(max_per_room=10)
    for id in range(1, 31):
        store.record("#room", say(id, f"needle {id}"))
    assert store.flush(10)
    assert store.prune(10)
    assert [event.id for event in result(store.search("#room", "needle", 100))] == list(
        range(21, 31))
    db = setup.db()
    db.execute("INSERT INTO events_fts (events_fts) VALUES ('integrity-check')")
    assert db.execute("SELECT count(*) FROM events_fts WHERE events_fts MATCH ?",
                      (schema.search_terms(["needle"], 32),)).fetchone() == (10,)
    db.close()


def test_no_retention(setup):
    """max_per_room and max_days of 0 keep everything."""
    store = setup.quiet_store(max_per_room=0, max_days=0)
    for id in range(1, 101):
        store.record("#room", say(id, time=0.0))
    assert store.flush(10)
    assert store.prune(10)
    assert len(setup.rows()) == 100


# Reading what was just written

def test_read_your_writes(setup):
    """A read sees every event recorded before it, though no batch was due."""
    store = setup.quiet_store()
    for id in range(1, 6):
        store.record("#room", say(id))
    assert store.queued == 5
    assert [event.id for event in result(store.query("#room", Query(10)))] == [1, 2, 3, 4, 5]
    store.record("#room", say(6, "needle"))
    assert [event.id for event in result(store.search("#room", "needle", 10))] == [6]
    store.record("#b", say(7, room="#b", time=50.0))
    assert result(store.targets(["#b"], 0, 100, 5)) == [("#b", 50.0)]


class ThreadedReactor:
    """Just enough of a reactor for a connection pool: calls from threads wait in a queue."""

    def __init__(self):
        self.calls = queue.Queue()

    def callWhenRunning(self, function, *args):
        function(*args)

    def addSystemEventTrigger(self, *args):
        return object()

    def removeSystemEventTrigger(self, trigger):
        pass

    def callFromThread(self, function, *args):
        self.calls.put((function, args))

    def run_until(self, deferred):
        results = []
        deferred.addBoth(results.append)
        for _ in range(1000):
            if results:
                break
            function, args = self.calls.get(timeout=10)
            function(*args)
        if isinstance(results[0], Failure):
            results[0].raiseException()
        return results[0]


def test_pooled_reads(setup):
    """Reads in the connection pool's threads return what was recorded before them."""
    reactor = ThreadedReactor()
    store = setup.quiet_store(reads=lambda path: PooledReads(path, reactor))
    for id in range(1, 4):
        store.record("#room", say(id, "a needle"))
    reads = [store.query("#room", Query(10)), store.search("#room", "NEEDLE", 2),
             store.targets(["#room"], 0, 10, 1)]
    assert [event.id for event in reactor.run_until(reads[0])] == [1, 2, 3]
    assert [event.id for event in reactor.run_until(reads[1])] == [2, 3]
    assert reactor.run_until(reads[2]) == [("#room", 3.0)]
    store.close()


def test_read_errors_are_failures(setup):
    """A read that fails gives a failed Deferred."""
    store = setup.store()
    store._reads.db.close()
    with pytest.raises(sqlite3.ProgrammingError):
        result(store.query("#room", Query(10)))


# Closing

def test_close_writes_what_is_queued(setup):
    """close commits what is queued, ends the writer, and the events are there after."""
    store = setup.quiet_store()
    for id in range(1, 11):
        store.record("#room", say(id))
    store.save_room("#room", RoomState("#room", 1.0, "kept"))
    store.close()
    assert not store.writer.is_alive()
    assert store.stored == 10
    assert setup.rows() == list(range(1, 11))
    assert setup.store().load_rooms() == [RoomState("#room", 1.0, "kept")]


def test_record_after_close(setup):
    """Events recorded after close are dropped and counted; closing twice is harmless."""
    store = setup.store()
    store.close()
    store.record("#room", say(1))
    store.save_room("#room", RoomState("#room", 1.0))
    store.close()
    assert (store.stored, store.dropped) == (0, 1)
    assert setup.rows() == []


def test_replay_reads_messages_past_many_joins(setup):
    """A replay query in a room of many joins finds its messages through the messages' own index."""
    store = setup.store()
    joined = [Joined(i, float(i), Source(f"n{i}", "u", "h"), "#room") for i in range(3, 3003)]
    store.record("#room", say(1, "early"))
    store.record("#room", say(2, "later"))
    for event in joined:
        store.record("#room", event)
    found = result(store.query("#room", Query(15, before=Point(id=5000), messages_only=True)))
    assert [event.text for event in found] == ["early", "later"]
    db = setup.db()
    plan = db.execute(
        f"EXPLAIN QUERY PLAN SELECT {schema.READ_COLUMNS} FROM events WHERE room = ? "
        f"AND type = '{schema.MESSAGE}' AND id < ? ORDER BY id DESC LIMIT ?",
        ("#room", 5000, 15)).fetchall()
    db.close()
    assert "events_room_messages" in " ".join(str(row) for row in plan), plan
