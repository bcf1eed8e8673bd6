"""
History for IRC clients:

 - the IRCv3 C{CHATHISTORY} command (capabilities C{draft/chathistory} and
   C{draft/event-playback}; https://ircv3.net/specs/extensions/chathistory),
   answered in C{chathistory} batches;
 - soju's C{SEARCH} command (capability C{soju.im/search};
   https://soju.im/ doc/ext/search.md), answered in C{soju.im/search} batches;
 - the last messages said in a room, played back after JOIN to clients that
   did not negotiate C{draft/chathistory} (they would ask for history
   themselves).

Only parsing and rendering live here.  Who may read which room, since when,
how much at once and how often is decided by the core
(L{chatservice.core.history.History}); reading is the store's, and answers
come as Deferreds, which may fire after the client has gone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterable, Sequence

from contextlib import nullcontext

from twisted.internet.defer import Deferred

from ...core import errors, names
from ...core.events import Event, Joined, Message
from ...core.history import SEARCH_LIMIT, History, Point, Query
from ...core.hub import User
from ...core.rooms import Room
from . import labels
from .commands import command
from .render import parse_server_time, server_time
from .wire import Message as Line
from .wire import format_line, unescape_tag

if TYPE_CHECKING:
    from .protocol import IRCConnection

# The most messages one SEARCH returns, whatever its limit says.
SEARCH_MAX = 100

# Event ids are kept as SQLite integers.
_MAX_ID = 2 ** 63 - 1
# Parameters echoed back in a FAIL are cut to this many characters.
_ECHO_MAX = 64

_NOT_RETRIEVED = "Messages could not be retrieved"


class Fail(Exception):
    """A standard reply (C{FAIL <command> <code> <params...> :<description>}) to send."""

    def __init__(self, code: str, *params: str):
        super().__init__(code, *params)
        self.code = code
        self.params = params


def _echo(param: str) -> str:
    """A client's parameter, short enough to repeat in a reply."""
    return param[:_ECHO_MAX] or "*"


def send_fail(conn: IRCConnection, command_name: str, fail: Fail) -> None:
    *context, description = fail.params
    conn.line("FAIL", command_name, fail.code, *map(_echo, context), description)


# Parsing

def parse_reference(subcommand: str, target: str, text: str) -> Point:
    """
    A message reference (C{msgid=ID} or C{timestamp=YYYY-MM-DDThh:mm:ss.sssZ})
    as a point in history.  The msgid of a piece of a split message
    (C{ID.2}) is the message's.

    @raise Fail: the reference is malformed, or of a type not supported.
    """
    kind, equals, value = text.partition("=")
    if not equals:
        raise Fail("INVALID_PARAMS", subcommand, text, "Invalid message reference")
    kind = kind.lower()
    if kind == "msgid":
        number, dot, piece = value.partition(".")
        if not (_digits(number) and len(number) <= 19 and int(number) <= _MAX_ID
                and (not dot or _digits(piece))):
            raise Fail("INVALID_PARAMS", subcommand, text, "Invalid msgid")
        return Point(id=int(number))
    if kind == "timestamp":
        when = parse_server_time(value)
        if when is None:
            raise Fail("INVALID_PARAMS", subcommand, text, "Invalid timestamp")
        return Point(time=when)
    raise Fail("INVALID_MSGREFTYPE", subcommand, target, kind,
               "Unknown message reference type; use timestamp= or msgid=")


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def parse_limit(subcommand: str, text: str, history: History) -> int:
    """
    A positive number of messages, brought down to the server's maximum.

    @raise Fail: not a positive decimal number.
    """
    if not _digits(text) or not text.strip("0"):
        raise Fail("INVALID_PARAMS", subcommand, text, "Invalid limit")
    # A limit of a thousand digits is just a big limit.
    return history.clamp(int(text) if len(text) <= 9 else history.max_limit)


def shown(when: float) -> int:
    """
    The millisecond server-time shows for C{when} (counted in whole
    milliseconds, so that no floating-point error moves it).
    """
    return round(when * 1_000_000) // 1000


def _just_before(millisecond: int) -> float:
    """A time after everything shown before C{millisecond} and before everything shown with it."""
    return (millisecond * 1000 - 0.5) / 1_000_000


def after(point: Point) -> Point:
    """
    The exclusive lower bound C{point} means: after a timestamp means after
    every event shown with that millisecond.
    """
    if point.time is None:
        return point
    return Point(time=_just_before(shown(point.time) + 1))


def at(point: Point) -> Point:
    """
    Where C{point} starts: at a timestamp means from the first event shown
    with that millisecond on.
    """
    if point.time is None:
        return point
    return Point(time=_just_before(shown(point.time)))


def _order(point: Point) -> float:
    """Where C{point} is in time, to tell which of two ends comes first."""
    # An event id is the time of the event in microseconds (or a little
    # more, when several events share a microsecond).
    return point.time if point.time is not None else point.id / 1_000_000


# CHATHISTORY

# Parameters each subcommand takes after its name.
_ARITY = {"LATEST": 3, "BEFORE": 3, "AFTER": 3, "AROUND": 3, "BETWEEN": 4, "TARGETS": 3}

Reader = Callable[[User, str], "Deferred[list[Event]]"]


def parse_chathistory(params: Sequence[str], history: History,
                      events: bool) -> tuple[str, str, Reader]:
    """
    Parse a CHATHISTORY command that reads one target's history: return
    its subcommand, its target, and the read to make for a user and a room
    name.  C{events}: the client takes other events than messages.

    @raise Fail: the command is malformed.
    """
    subcommand = params[0].upper() if params else "*"
    arity = _ARITY.get(subcommand)
    if arity is None:
        raise Fail("INVALID_PARAMS", subcommand, "Unknown command")
    given = len(params) - 1
    if given < arity:
        raise Fail("INVALID_PARAMS", subcommand, "Insufficient parameters")
    if given > arity:
        raise Fail("INVALID_PARAMS", subcommand, "Too many parameters")
    target = params[1]
    limit = parse_limit(subcommand, params[-1], history)
    only = not events

    def reference(text: str) -> Point:
        return parse_reference(subcommand, target, text)

    if subcommand == "BETWEEN":
        first, second = reference(params[2]), reference(params[3])
        if _order(first) <= _order(second):
            query = Query(limit, after=after(first), before=second, newest=False,
                          messages_only=only)
        else:
            query = Query(limit, after=after(second), before=first, newest=True,
                          messages_only=only)
    elif params[2] == "*" and subcommand in ("LATEST", "BEFORE"):
        # BEFORE * is LATEST * (as some clients send it).
        query = Query(limit, messages_only=only)
    else:
        point = reference(params[2])
        if subcommand == "AROUND":
            middle = at(point)
            return subcommand, target, lambda user, room: history.around(
                user, room, middle, limit, messages_only=only)
        if subcommand == "LATEST":
            query = Query(limit, after=after(point), messages_only=only)
        elif subcommand == "BEFORE":
            query = Query(limit, before=point, messages_only=only)
        else:
            query = Query(limit, after=after(point), newest=False, messages_only=only)
    return subcommand, target, lambda user, room: history.query(user, room, query)


@command("CHATHISTORY", needs_history=True)
def chathistory(conn: IRCConnection, user: User, message: Line) -> None:
    history = conn.hub.history
    try:
        if message.params and message.params[0].upper() == "TARGETS":
            _targets(conn, user, message.params, history)
            return
        subcommand, target, read = parse_chathistory(
            message.params, history, "draft/event-playback" in conn.caps)
    except Fail as fail:
        send_fail(conn, "CHATHISTORY", fail)
        return
    if not target.startswith("#"):
        # Private messages are kept for the reader's account only; without
        # one, a nickname's history is empty.
        if target != "*" and names.nick_problem(target):
            send_fail(conn, "CHATHISTORY",
                      Fail("INVALID_TARGET", subcommand, target, _NOT_RETRIEVED))
        elif target == "*":
            play(conn, (), "chathistory", target)
        else:
            try:
                reading = read(user, target)
            except errors.RateLimited as refusal:
                send_fail(conn, "CHATHISTORY",
                          Fail("MESSAGE_ERROR", subcommand, target, str(refusal)))
                return
            # The batch names the conversation as the client asked for it
            # (a nick may be offline, or now someone else's).
            when_read(conn, user, reading,
                      lambda events: play(conn, events, "chathistory", target),
                      lambda: send_fail(conn, "CHATHISTORY", Fail(
                          "MESSAGE_ERROR", subcommand, target, _NOT_RETRIEVED)))
        return
    try:
        room_name = _room_name(conn, target)
        reading = read(user, room_name)
    except errors.RateLimited as refusal:
        send_fail(conn, "CHATHISTORY", Fail("MESSAGE_ERROR", subcommand, target, str(refusal)))
        return
    except errors.ChatError:
        # A room the reader is not in (or that does not exist: the two look
        # the same), or a name that cannot be a room.
        send_fail(conn, "CHATHISTORY", Fail("INVALID_TARGET", subcommand, target,
                                            _NOT_RETRIEVED))
        return
    when_read(conn, user, reading,
              lambda events: play(conn, events, "chathistory", room_name),
              lambda: send_fail(conn, "CHATHISTORY",
                                Fail("MESSAGE_ERROR", subcommand, target, _NOT_RETRIEVED)))


def _room_name(conn: IRCConnection, target: str) -> str:
    """
    The room called C{target} as its name is written (the core refuses a
    room that does not exist).
    """
    try:
        return conn.hub.find_room(target).name
    except errors.NoSuchRoom:
        return target


def _targets(conn: IRCConnection, user: User, params: Sequence[str],
             history: History) -> None:
    """CHATHISTORY TARGETS <timestamp=...> <timestamp=...> <limit>"""
    given = len(params) - 1
    if given != _ARITY["TARGETS"]:
        raise Fail("INVALID_PARAMS", "TARGETS", "Insufficient parameters" if given < 3
                   else "Too many parameters")
    limit = parse_limit("TARGETS", params[3], history)
    ends = []
    for text in params[1:3]:
        point = parse_reference("TARGETS", "*", text)
        if point.time is None:
            raise Fail("INVALID_PARAMS", "TARGETS", text, "TARGETS takes timestamps")
        ends.append(point)
    # Both ends are excluded, to the millisecond a timestamp shows: a
    # target whose latest message is at the time given is not listed.
    first, last = sorted(ends, key=_order)
    try:
        reading = history.targets(user, after(first).time, at(last).time, limit)
    except errors.ChatError as refusal:
        raise Fail("MESSAGE_ERROR", "TARGETS", "*", str(refusal)) from None

    def answer(found: list[tuple[str, float]]) -> None:
        lines = [("CHATHISTORY", "TARGETS", name, server_time(when)) for name, when in found]
        send_batch(conn, "draft/chathistory-targets", (), lines)

    when_read(conn, user, reading, answer,
              lambda: send_fail(conn, "CHATHISTORY",
                                Fail("MESSAGE_ERROR", "TARGETS", "*", _NOT_RETRIEVED)))


# Answers

def when_read(conn: IRCConnection, user: User, reading: Deferred,
              answer: Callable[[object], None], failed: Callable[[], None],
              answers_command: bool = True) -> None:
    """
    Call C{answer} with what C{reading} reads, or C{failed} if the read
    fails, as long as the client is still there to be told.  When this is
    the answer to the command running now (C{answers_command}), a labeled
    command is labeled when the answer comes.
    """
    pending = labels.hold(conn) if answers_command else None

    def done(result: object) -> None:
        if conn.serving(user):
            with labels.later(conn, pending) if pending else nullcontext():
                answer(result)

    def problem(failure) -> None:
        conn.log.failure("Reading history for {nick} failed", failure, nick=user.nick)
        if conn.serving(user):
            with labels.later(conn, pending) if pending else nullcontext():
                failed()

    reading.addCallbacks(done, problem).addErrback(
        lambda failure: conn.log.failure("Sending history to {nick} failed", failure,
                                         nick=user.nick))


def _batch_ends(conn: IRCConnection, kind: str,
                params: Iterable[str]) -> tuple[str, bytes, bytes]:
    if "batch" not in conn.caps:
        return "", b"", b""
    ref = conn.new_batch()
    return (ref, format_line(conn.server, "BATCH", "+" + ref, kind, *params),
            format_line(conn.server, "BATCH", "-" + ref))


def play(conn: IRCConnection, events: Iterable[Event], kind: str, *params: str) -> None:
    """
    Send C{events} as the client's renderer shows them, in a batch of type
    C{kind} (with C{params}) when the client takes batches, all at once.
    """
    ref, start, end = _batch_ends(conn, kind, params)
    render = conn.renderer
    conn.send(start + b"".join(render(event, ref) for event in events) + end)


def send_batch(conn: IRCConnection, kind: str, params: Iterable[str],
               lines: Iterable[tuple[str, ...]]) -> None:
    """Send server lines in a batch of type C{kind}, when the client takes batches."""
    ref, start, end = _batch_ends(conn, kind, params)
    tags = "batch=" + ref if ref else ""
    conn.send(start + b"".join(format_line(conn.server, *line, tags=tags) for line in lines)
              + end)


# Played back on joining

def replay_on_join(conn: IRCConnection, user: User, room: Room, joined: Joined,
                   seen: int = 0) -> None:
    """
    After C{user} joined C{room}, show them the last messages said there
    before (as many as the server's replay setting says), but none they saw
    live (ids up to C{seen}), unless their client fetches history itself.
    Nothing is said if that fails.
    """
    history = conn.hub.history
    if history is None or "draft/chathistory" in conn.caps:
        return
    try:
        reading = history.replay(user, room.name, joined.id)
    except errors.ChatError:
        return

    def answer(events: list[Event]) -> None:
        events = [event for event in events if event.id > seen]
        if events and user.rooms.get(room.key) is room:
            play(conn, events, "chathistory", room.name)

    # What the join itself answered goes out now: nothing the room says
    # meanwhile may come before it.
    when_read(conn, user, reading, answer, lambda: None, answers_command=False)


# SEARCH

def parse_attributes(params: Sequence[str]) -> dict[str, str]:
    """
    SEARCH's attributes (C{key=value;key=value}, escaped as message tags
    are); a text with spaces may also come unescaped over several
    parameters.
    """
    attributes = {}
    for item in " ".join(params).split(";"):
        key, _, value = item.partition("=")
        if key:
            attributes[key.strip().lower()] = unescape_tag(value)
    return attributes


def _search_time(name: str, attributes: dict[str, str]) -> float | None:
    text = attributes.get(name)
    if text is None:
        return None
    when = parse_server_time(text)
    if when is None:
        raise Fail("INVALID_PARAMS", name, "Invalid timestamp")
    return when


@command("SEARCH", needs_history=True)
def search(conn: IRCConnection, user: User, message: Line) -> None:
    history = conn.hub.history
    try:
        _search(conn, user, history, parse_attributes(message.params))
    except Fail as fail:
        send_fail(conn, "SEARCH", fail)


def _search(conn: IRCConnection, user: User, history: History,
            attributes: dict[str, str]) -> None:
    target = attributes.get("in", "")
    if not target:
        raise Fail("INVALID_PARAMS", "in", "Say where to search: in=#channel")
    limit = SEARCH_LIMIT
    if "limit" in attributes:
        text = attributes["limit"]
        if not _digits(text) or not text.strip("0"):
            raise Fail("INVALID_PARAMS", "limit", "Invalid limit")
        limit = min(int(text) if len(text) <= 9 else SEARCH_MAX, SEARCH_MAX)
    start, end = _search_time("after", attributes), _search_time("before", attributes)
    sender = names.fold(attributes["from"]) if attributes.get("from") else None
    words = " ".join(attributes.get("text", "").split())
    if not target.startswith("#"):
        if names.nick_problem(target):
            raise Fail("INVALID_PARAMS", "in", "Cannot search there")
        play(conn, (), "soju.im/search")
        return
    # The store finds words, or times; the rest is sifted here, from up to
    # SEARCH_MAX messages, so that fewer than the limit may be found.
    try:
        room_name = _room_name(conn, target)
        if words:
            sifted = sender is not None or start is not None or end is not None
            reading = history.search(user, room_name, words, SEARCH_MAX if sifted else limit)
        else:
            # Everything said (by someone, in some time): the newest, or the
            # oldest from a start.
            reading = history.query(user, room_name, Query(
                SEARCH_MAX if sender is not None else limit, messages_only=True,
                newest=start is None,
                after=Point(time=_just_before(shown(start))) if start is not None else None,
                before=Point(time=_just_before(shown(end) + 1)) if end is not None else None))
    except errors.RateLimited as refusal:
        raise Fail("INTERNAL_ERROR", str(refusal)) from None
    except errors.ChatError:
        # A room the searcher is not in, or does not exist (alike).
        raise Fail("INVALID_PARAMS", "in", "Cannot search there") from None

    # Times are matched to the millisecond, as the client sees them.
    first = shown(start) if start is not None else None
    last = shown(end) if end is not None else None

    def wanted(event: Event) -> bool:
        millisecond = shown(event.time)
        return (isinstance(event, Message)
                and (first is None or millisecond >= first)
                and (last is None or millisecond <= last)
                and (sender is None or names.fold(event.source.nick) == sender))

    def answer(events: list[Event]) -> None:
        found = [event for event in events if wanted(event)]
        # Searched from the start if one was given, else back from the end.
        found = found[:limit] if start is not None else found[-limit:]
        play(conn, found, "soju.im/search")

    when_read(conn, user, reading, answer,
              lambda: send_fail(conn, "SEARCH", Fail("INTERNAL_ERROR",
                                                     "The search could not be run")))
