"""
The SQLite database's tables, their migrations, and the translation between
rows and the core's events and room states.

The schema changes only by appending to L{MIGRATIONS}: a database records the
number of migrations it has had in C{schema_version}, and opening it runs the
ones it lacks, in order, each in its own transaction.  A database with a
higher version than this code knows was written by a newer chatservice and is
refused.

One row per (room, event): a quit or a nick change is stored once in each
room the person was in, with the same id, so an id is unique only within a
room.  Columns hold what every event has (id, time, who) and its text; C{data}
holds what a type needs beyond that (a message's kind, a kick's target, a new
nick, mode changes or a TAGMSG's client tags as JSON); C{name} is the room's name as written when it
differs from the folded key in C{room}.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator

from ..core.events import (
    AwayChanged,
    Event,
    Invited,
    Joined,
    Kicked,
    Kind,
    Message,
    ModeChanged,
    NickChanged,
    Parted,
    Quit,
    Signal,
    Source,
    TopicChanged,
)
from ..core.files import SharedFile
from ..core.history import RoomState
from ..core.rooms import Ban, ModeChange, RoomMode

# Columns of a row as the writer inserts it and the readers select it.
EVENT_COLUMNS = "id, room, time, type, nick, user, host, text, data, name"
READ_COLUMNS = "id, time, type, nick, user, host, text, data, name"
INSERT_EVENT = f"INSERT INTO events ({EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"

ROOM_COLUMNS = ("key, name, created, topic, topic_by, topic_time, flags, password, "
                "member_limit, bans, exceptions, ban_exceptions")
SAVE_ROOM = (f"INSERT INTO rooms ({ROOM_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
             "ON CONFLICT (key) DO UPDATE SET name = excluded.name, "
             "created = excluded.created, topic = excluded.topic, "
             "topic_by = excluded.topic_by, topic_time = excluded.topic_time, "
             "flags = excluded.flags, password = excluded.password, "
             "member_limit = excluded.member_limit, bans = excluded.bans, "
             "exceptions = excluded.exceptions, ban_exceptions = excluded.ban_exceptions")
FORGET_ROOM = "DELETE FROM rooms WHERE key = ?"
# History edits: a redacted event goes; a renamed room's history moves.
FORGET_EVENT = "DELETE FROM events WHERE room = ? AND id = ?"
MOVE_HISTORY = "UPDATE events SET room = ?, name = ? WHERE room = ?"

FILE_COLUMNS = "id, name, size, type, uploader, target, room, time, expires, gone, account"
SAVE_FILE = f"INSERT OR REPLACE INTO files ({FILE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"

MESSAGE = "message"


# Migrations

def _create_tables(db: sqlite3.Connection) -> None:
    db.execute("""
        CREATE TABLE events (
            id INTEGER NOT NULL,
            room TEXT NOT NULL,
            time REAL NOT NULL,
            type TEXT NOT NULL,
            nick TEXT NOT NULL,
            user TEXT NOT NULL,
            host TEXT NOT NULL,
            text TEXT NOT NULL,
            data TEXT,
            name TEXT
        )""")
    db.execute("CREATE INDEX events_room_id ON events (room, id)")
    db.execute("CREATE INDEX events_room_time ON events (room, time)")
    db.execute("""
        CREATE TABLE rooms (
            key TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            created REAL NOT NULL,
            topic TEXT NOT NULL,
            topic_by TEXT NOT NULL,
            topic_time REAL NOT NULL,
            flags TEXT NOT NULL,
            password TEXT,
            member_limit INTEGER,
            bans TEXT NOT NULL
        )""")
    # The highest event id stored before retention deleted it (see last_id).
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value)")
    db.execute("INSERT INTO meta (key, value) VALUES ('last_id', 0)")


def fts_available(db: sqlite3.Connection) -> bool:
    """Whether this SQLite has FTS5 with the trigram tokenizer."""
    try:
        db.execute("CREATE VIRTUAL TABLE temp.fts_probe USING fts5(text, tokenize='trigram')")
    except sqlite3.Error:
        return False
    db.execute("DROP TABLE temp.fts_probe")
    return True


def has_fts(db: sqlite3.Connection) -> bool:
    """Whether the database has the full-text index of messages."""
    return db.execute("SELECT 1 FROM sqlite_master WHERE name = 'events_fts'").fetchone() is not None


# The full-text index's definition as migration 2 made it, and as it is now.
FIRST_FTS = "text, content='events', content_rowid='rowid', tokenize='trigram'"
LIGHT_FTS = FIRST_FTS + ", detail=none, columnsize=0"


def create_fts(db: sqlite3.Connection, definition: str = LIGHT_FTS) -> None:
    """
    The full-text index of messages: FTS5 with trigrams (so that a word
    matches inside longer words, as the in-memory store's search does), over
    the events table's text, kept in step by triggers, and filled from the
    messages already stored.

    It records only which rows hold each trigram: not where in the text
    (C{detail=none}) nor each row's length in trigrams (C{columnsize=0}).  A
    search asks for rows holding every trigram of its words (see
    L{search_terms}) and checks each candidate's text itself, so positions
    would only narrow the candidates; without them indexing a message costs
    about half as much, in the writer's thread, which shares the server's
    core with the fan-out.
    """
    db.execute(f"CREATE VIRTUAL TABLE events_fts USING fts5({definition})")
    db.execute(f"""
        CREATE TRIGGER events_fts_insert AFTER INSERT ON events
        WHEN new.type = '{MESSAGE}' BEGIN
            INSERT INTO events_fts (rowid, text) VALUES (new.rowid, new.text);
        END""")
    db.execute(f"""
        CREATE TRIGGER events_fts_delete AFTER DELETE ON events
        WHEN old.type = '{MESSAGE}' BEGIN
            INSERT INTO events_fts (events_fts, rowid, text)
            VALUES ('delete', old.rowid, old.text);
        END""")
    db.execute(f"INSERT INTO events_fts (rowid, text) "
               f"SELECT rowid, text FROM events WHERE type = '{MESSAGE}'")


def search_terms(words: Iterable[str], limit: int) -> str:
    """
    An FTS5 query for the rows of L{create_fts}'s index that hold every
    trigram of C{words} (each at least three characters long), at most
    C{limit} distinct trigrams, the longest word's first: a sieve, whose
    candidates the caller checks against the words themselves.
    """
    trigrams: dict[str, None] = {}
    for word in words:
        for start in range(len(word) - 2):
            trigrams[word[start:start + 3]] = None
    chosen = list(trigrams)[:limit]
    return " AND ".join('"' + trigram.replace('"', '""') + '"' for trigram in chosen)


def _add_fts(db: sqlite3.Connection) -> None:
    # Without FTS5 the database still works: search falls back to LIKE, and
    # the index is built on the first start with an SQLite that has it.
    # Made as it was then; migration 11 makes it lighter.
    if fts_available(db):
        create_fts(db, FIRST_FTS)


def _add_files(db: sqlite3.Connection) -> None:
    """The records of shared files (their bytes are in the uploads directory)."""
    db.execute("""
        CREATE TABLE files (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            size INTEGER NOT NULL,
            type TEXT NOT NULL,
            uploader TEXT NOT NULL,
            target TEXT NOT NULL,
            room TEXT NOT NULL,
            time REAL NOT NULL,
            expires REAL NOT NULL,
            gone TEXT NOT NULL
        )""")


def _add_exception_lists(db: sqlite3.Connection) -> None:
    # A room's invite exceptions (IRC's +I) and ban exceptions (+e), as JSON
    # like its bans.
    db.execute("ALTER TABLE rooms ADD COLUMN exceptions TEXT NOT NULL DEFAULT '[]'")
    db.execute("ALTER TABLE rooms ADD COLUMN ban_exceptions TEXT NOT NULL DEFAULT '[]'")


def _add_accounts(db: sqlite3.Connection) -> None:
    # Accounts (keyed by the folded name), every nickname each owns (its name
    # included, so that one primary key keeps two accounts from owning the
    # same nick), and the rooms' founders and operators by account.
    db.execute("""
        CREATE TABLE accounts (
            key TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            created REAL NOT NULL,
            email TEXT NOT NULL,
            hash TEXT NOT NULL,
            scram_salt BLOB NOT NULL,
            scram_stored_key BLOB NOT NULL,
            scram_server_key BLOB NOT NULL,
            scram_iterations INTEGER NOT NULL
        )""")
    db.execute("""
        CREATE TABLE account_nicks (
            key TEXT PRIMARY KEY,
            nick TEXT NOT NULL,
            account TEXT NOT NULL
        )""")
    db.execute("CREATE INDEX account_nicks_account ON account_nicks (account)")
    db.execute("""
        CREATE TABLE room_roles (
            room TEXT NOT NULL,
            account TEXT NOT NULL,
            role TEXT NOT NULL,
            PRIMARY KEY (room, account)
        )""")
    db.execute("CREATE INDEX room_roles_account ON room_roles (account)")


def _add_file_accounts(db: sqlite3.Connection) -> None:
    # A shared file's uploader's account, so that any session of it may
    # delete the file, after restarts too.
    db.execute("ALTER TABLE files ADD COLUMN account TEXT NOT NULL DEFAULT ''")


def _add_certfps(db: sqlite3.Connection) -> None:
    # TLS client certificate fingerprints (SHA-256 of the DER certificate,
    # lower-case hex) that log in to an account with SASL EXTERNAL; one
    # fingerprint belongs to one account at most.
    db.execute("""
        CREATE TABLE account_certfps (
            fp TEXT PRIMARY KEY,
            account TEXT NOT NULL,
            added REAL NOT NULL
        )""")
    db.execute("CREATE INDEX account_certfps_account ON account_certfps (account)")


def _add_tokens(db: sqlite3.Connection) -> None:
    # Login tokens ("remember me"): the SHA-256 of each secret (never the
    # secret), its account, a label, and when it was made and last used.
    db.execute("""
        CREATE TABLE account_tokens (
            digest TEXT PRIMARY KEY,
            account TEXT NOT NULL,
            label TEXT NOT NULL,
            created REAL NOT NULL,
            used REAL NOT NULL
        )""")
    db.execute("CREATE INDEX account_tokens_account ON account_tokens (account)")


def _split_private_conversations(db: sqlite3.Connection) -> None:
    # Private conversations were kept under one key per pair of accounts
    # ('@a,b', folded, sorted); each account now keeps its own copy under
    # '@a>b' (see core.history.mailbox_key), with the other named by the
    # nick used, which for these rows is the other's account name.  Each row
    # is copied into both copies (the full-text triggers index the copies)
    # and the pair's rows are then deleted, so that nothing said is lost.
    pairs = [key for (key,) in db.execute(
        "SELECT DISTINCT room FROM events WHERE room LIKE '@%,%'")]
    for key in pairs:
        first, _, second = key[1:].partition(",")
        for owner, other in {(first, second), (second, first)}:
            db.execute(
                "INSERT INTO events (id, room, time, type, nick, user, host, text, data, name)"
                " SELECT id, ?, time, type, nick, user, host, text, data, NULL"
                " FROM events WHERE room = ? ORDER BY rowid",
                (f"@{owner}>{other}", key))
        db.execute("DELETE FROM events WHERE room = ?", (key,))


def _add_message_index(db: sqlite3.Connection) -> None:
    # A room's messages alone, newest first: the replay on joining reads the
    # last few messages before the join, and in a big room those lie behind
    # thousands of joins, which the (room, id) index would walk one by one
    # on every sign-in.  A partial index: only message rows are in it.
    db.execute(f"CREATE INDEX events_room_messages ON events (room, id) "
               f"WHERE type = '{MESSAGE}'")


def _lighter_fts(db: sqlite3.Connection) -> None:
    # The full-text index made again without positions and row sizes (see
    # create_fts): indexing each message was the largest cost of keeping
    # history.  Rebuilt from the messages, so that every one is still found.
    if has_fts(db):
        db.execute("DROP TRIGGER IF EXISTS events_fts_insert")
        db.execute("DROP TRIGGER IF EXISTS events_fts_delete")
        db.execute("DROP TABLE events_fts")
        create_fts(db)


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _create_tables,  # 1
    _add_fts,  # 2
    _add_files,  # 3 (file sharing)
    _add_exception_lists,  # 4 (invite and ban exceptions)
    _add_accounts,  # 5 (accounts)
    _add_file_accounts,  # 6 (shared files' accounts)
    _add_certfps,  # 7 (certificate fingerprints for SASL EXTERNAL)
    _add_tokens,  # 8 (login tokens)
    _split_private_conversations,  # 9 (each account's own copy of a conversation)
    _add_message_index,  # 10 (rooms' messages without their joins, for the replay)
    _lighter_fts,  # 11 (a full-text index without positions: cheaper to write)
]
VERSION = len(MIGRATIONS)


class NewerSchema(Exception):
    """The database was written by a newer version of this code."""


class NotOurs(Exception):
    """The file is an SQLite database, but not a chatservice one."""


def schema_version(db: sqlite3.Connection) -> int:
    """The number of migrations the database has had (0 for a new one)."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'schema_version'").fetchone():
        row = db.execute("SELECT max(version) FROM schema_version").fetchone()
        return row[0] or 0
    if db.execute("SELECT 1 FROM sqlite_master").fetchone():
        raise NotOurs()
    return 0


def migrate(db: sqlite3.Connection, migrations: list = MIGRATIONS) -> int:
    """
    Bring the database (a connection in autocommit mode) up to the last of
    C{migrations}, one transaction per migration; return the version found.

    @raise NewerSchema: the database is newer than C{migrations}.
    @raise NotOurs: the database holds tables of something else.
    """
    with immediate_transaction(db):
        found = schema_version(db)
        if found > len(migrations):
            raise NewerSchema(found)
        if found == 0:
            db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
            db.execute("INSERT INTO schema_version (version) VALUES (0)")
    for version in range(found + 1, len(migrations) + 1):
        with immediate_transaction(db):
            if schema_version(db) < version:
                migrations[version - 1](db)
                db.execute("UPDATE schema_version SET version = ?", (version,))
    return found


@contextmanager
def immediate_transaction(db: sqlite3.Connection) -> Iterator[None]:
    """
    Run the block in one write transaction of C{db} (a connection in
    autocommit mode), taken at once (no other writer may slip in between a
    read and the write that depends on it): committed at the end, rolled
    back if the block raises.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        _rollback(db)
        raise


def rooms(db: sqlite3.Connection) -> list[str]:
    """Every room with events, one index lookup per room."""
    found: list[str] = []
    row = db.execute("SELECT min(room) FROM events").fetchone()
    while row and row[0] is not None:
        found.append(row[0])
        row = db.execute("SELECT min(room) FROM events WHERE room > ?", (row[0],)).fetchone()
    return found


def last_id(db: sqlite3.Connection) -> int:
    """
    The highest event id ever stored: the highest in any room (one index
    lookup per room, rather than a scan of every row), or the one noted in
    C{meta} before retention deleted events, whichever is higher.
    """
    noted = db.execute("SELECT value FROM meta WHERE key = 'last_id'").fetchone()[0]
    highest = [db.execute("SELECT max(id) FROM events WHERE room = ?", (room,)).fetchone()[0]
               for room in rooms(db)]
    return max([noted or 0, *highest])


def _rollback(db: sqlite3.Connection) -> None:
    if db.in_transaction:
        db.execute("ROLLBACK")


# Events to rows (in the writer's thread, once per event: keep it short)

def _message(room: str, e: Message) -> tuple:
    s = e.source
    name = e.room
    return (e.id, room, e.time, MESSAGE, s.nick, s.user, s.host, e.text, e.kind.value,
            None if name == room else name)


def _joined(room: str, e: Joined) -> tuple:
    s = e.source
    return (e.id, room, e.time, "join", s.nick, s.user, s.host, "", None,
            None if e.room == room else e.room)


def _parted(room: str, e: Parted) -> tuple:
    s = e.source
    return (e.id, room, e.time, "part", s.nick, s.user, s.host, e.reason, None,
            None if e.room == room else e.room)


def _quit(room: str, e: Quit) -> tuple:
    s = e.source
    return (e.id, room, e.time, "quit", s.nick, s.user, s.host, e.reason, None, None)


def _nick(room: str, e: NickChanged) -> tuple:
    s = e.source
    return (e.id, room, e.time, "nick", s.nick, s.user, s.host, "", e.new_nick, None)


def _topic(room: str, e: TopicChanged) -> tuple:
    s = e.source
    return (e.id, room, e.time, "topic", s.nick, s.user, s.host, e.topic, None,
            None if e.room == room else e.room)


def _kicked(room: str, e: Kicked) -> tuple:
    s = e.source
    return (e.id, room, e.time, "kick", s.nick, s.user, s.host, e.reason, e.target,
            None if e.room == room else e.room)


def _mode(room: str, e: ModeChanged) -> tuple:
    s = e.source
    changes = json.dumps([[c.adding, c.mode.value, c.argument] for c in e.changes],
                         separators=(",", ":"))
    return (e.id, room, e.time, "mode", s.nick, s.user, s.host, "", changes,
            None if e.room == room else e.room)


def _invited(room: str, e: Invited) -> tuple:
    s = e.source
    return (e.id, room, e.time, "invite", s.nick, s.user, s.host, "", e.target,
            None if e.room == room else e.room)


def _away(room: str, e: AwayChanged) -> tuple:
    s = e.source
    return (e.id, room, e.time, "away", s.nick, s.user, s.host, e.message, None, None)


def _signal(room: str, e: Signal) -> tuple:
    s = e.source
    tags = json.dumps([list(tag) for tag in e.tags], separators=(",", ":"))
    return (e.id, room, e.time, "tagmsg", s.nick, s.user, s.host, "", tags,
            None if e.target == room else e.target)


# Private messages are kept as Messages to the recipient's nick (see
# core.history); PrivateMessage itself is refused.
ENCODERS: dict[type, Callable[[str, Event], tuple]] = {
    Message: _message,
    Joined: _joined,
    Parted: _parted,
    Quit: _quit,
    NickChanged: _nick,
    TopicChanged: _topic,
    Kicked: _kicked,
    ModeChanged: _mode,
    Invited: _invited,
    AwayChanged: _away,
    Signal: _signal,
}


def encode_event(room: str, event: Event) -> tuple:
    """The row for C{event} in C{room}, in L{EVENT_COLUMNS} order."""
    return ENCODERS[type(event)](room, event)


# Rows to events (in a reader's thread)

_KINDS = {kind.value: kind for kind in Kind}


def decode_event(room: str, row: tuple) -> Event:
    """The event a row (in L{READ_COLUMNS} order) of room C{room} holds."""
    id, time, type_, nick, user, host, text, data, name = row
    source = Source(nick, user, host)
    if name is None:
        name = room
    if type_ == MESSAGE:
        return Message(id, time, source, name, text, _KINDS[data])
    if type_ == "join":
        return Joined(id, time, source, name)
    if type_ == "part":
        return Parted(id, time, source, name, text)
    if type_ == "quit":
        return Quit(id, time, source, text)
    if type_ == "nick":
        return NickChanged(id, time, source, data)
    if type_ == "topic":
        return TopicChanged(id, time, source, name, text)
    if type_ == "kick":
        return Kicked(id, time, source, name, data, text)
    if type_ == "mode":
        changes = tuple(ModeChange(adding, RoomMode(mode), argument)
                        for adding, mode, argument in json.loads(data))
        return ModeChanged(id, time, source, name, changes)
    if type_ == "invite":
        return Invited(id, time, source, name, data)
    if type_ == "away":
        return AwayChanged(id, time, source, text)
    if type_ == "tagmsg":
        return Signal(id, time, source, name, tuple((tag, value) for tag, value in json.loads(data)))
    raise ValueError(f"unknown event type {type_!r}")


def decode_events(room: str, rows: Iterable[tuple]) -> list[Event]:
    return [decode_event(room, row) for row in rows]


# Room states

def encode_room(key: str, state: RoomState) -> tuple:
    """The row for C{state}, in L{ROOM_COLUMNS} order."""
    flags = json.dumps(sorted(flag.value for flag in state.flags))
    bans = json.dumps([[ban.mask, ban.set_by, ban.time] for ban in state.bans])
    exceptions, ban_exceptions = (
        json.dumps([[entry.mask, entry.set_by, entry.time] for entry in entries])
        for entries in (state.exceptions, state.ban_exceptions))
    return (key, state.name, state.created, state.topic, state.topic_by, state.topic_time,
            flags, state.password, state.limit, bans, exceptions, ban_exceptions)


_MODES = {mode.value: mode for mode in RoomMode}


def decode_room(row: tuple) -> RoomState:
    """The room state a row of the rooms table (without its key) holds."""
    (name, created, topic, topic_by, topic_time, flags, password, limit, bans, exceptions,
     ban_exceptions) = row
    return RoomState(
        name, created, topic, topic_by, topic_time,
        # A flag this version does not know (from a newer one) is left out.
        frozenset(_MODES[value] for value in json.loads(flags) if value in _MODES),
        password, limit,
        tuple(Ban(mask, set_by, time) for mask, set_by, time in json.loads(bans)),
        tuple(Ban(mask, set_by, time) for mask, set_by, time in json.loads(exceptions)),
        tuple(Ban(mask, set_by, time) for mask, set_by, time in json.loads(ban_exceptions)))


# Shared files

def encode_file(file: SharedFile) -> tuple:
    """The row for C{file}, in L{FILE_COLUMNS} order."""
    return (file.id, file.name, file.size, file.type, file.uploader, file.target,
            file.room, file.time, file.expires, file.gone, file.account)


def decode_file(row: tuple) -> SharedFile:
    return SharedFile(*row)


