"""
History in the line front end: the replay on joining a room, /history and
/search, over L{StringTransport}s, an in-memory store and a fake clock.
Times are shown in UTC here (the protocol's C{localtime} is replaced).
"""

from __future__ import annotations

import calendar
import time

import pytest
from twisted.internet.defer import Deferred, fail

from chatservice.core.events import Kind, Message, Source
from chatservice.core.limits import Limits
from chatservice.frontends import line
from chatservice.frontends.line import LineChatProtocol, when
from chatservice.store.memory import MemoryStore
from unit_helpers import LineServer

# 2026-12-02 14:02:00 UTC, a Wednesday.
NOW = calendar.timegm((2026, 12, 2, 14, 2, 0))

HELLO_CAROL = [
    "*** Hello carol! Type /help for the commands.",
    "*** You joined #lobby; 2 others here.",
    "*** #lobby has no topic.",
]


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    """Show times in UTC, whatever the machine's time zone."""
    monkeypatch.setattr(LineChatProtocol, "localtime", staticmethod(time.gmtime))


class HeldStore(MemoryStore):
    """
    A memory store whose reads wait until the test fires them, as a store
    reading in a thread would.
    """

    def __init__(self, clock):
        super().__init__(clock)
        self.held: list[tuple[Deferred, object]] = []
        self.queries = []

    def query(self, room, query):
        self.queries.append(query)
        return self._hold(super().query(room, query))

    def search(self, room, words, limit, floor=0):
        return self._hold(super().search(room, words, limit, floor))

    def _hold(self, done):
        results = []
        done.addCallback(results.append)
        waiting = Deferred()
        self.held.append((waiting, results[0]))
        return waiting

    def release(self):
        held, self.held = self.held, []
        for waiting, result in held:
            waiting.callback(result)


class BrokenStore(MemoryStore):
    """A memory store whose reads fail, as a broken disk would make them."""

    def query(self, room, query):
        return fail(OSError("disk I/O error"))

    def search(self, room, words, limit, floor=0):
        return fail(OSError("disk I/O error"))


def history_server(store_class=MemoryStore, limits: Limits | None = None,
                   **history) -> LineServer:
    """A line server with a store attached, its clock at L{NOW}."""
    server = LineServer(limits)
    server.clock.advance(NOW)
    server.store = store_class(server.clock)
    server.hub.attach_store(server.store, **history)
    return server


@pytest.fixture
def line_server():
    return history_server()


@pytest.fixture
def pair(line_server):
    """alice and bob in #lobby, with nothing unread."""
    alice = line_server.sign_in("alice")
    bob = line_server.sign_in("bob")
    alice.take()
    return alice, bob


def chat(line_server, alice, bob, *lines_and_gaps):
    """alice and bob take turns saying C{lines}; a number advances the clock."""
    speakers = [alice, bob]
    turn = 0
    for item in lines_and_gaps:
        if isinstance(item, (int, float)):
            line_server.clock.advance(item)
            continue
        speakers[turn % 2].line(item)
        turn += 1
    alice.take(), bob.take()


# Replay on joining

def test_replay_at_sign_in(line_server, pair):
    """Someone signing in sees the room's earlier messages, with their times, after the topic line."""
    alice, bob = pair
    chat(line_server, alice, bob, "hi bob", 60, "hi alice", 125, "/me waves")
    carol = line_server.connect()
    carol.take()
    carol.line("carol")
    assert carol.take() == HELLO_CAROL + [
        "*** 3 earlier messages in #lobby, since 14:02:",
        "[14:02] [#lobby] <alice> hi bob",
        "[14:03] [#lobby] <bob> hi alice",
        "[14:05] [#lobby] * alice waves",
        "*** End of earlier messages.",
    ]


def test_no_history_no_header(line_server):
    """Joining a room where nothing was said shows no header at all."""
    alice = line_server.connect()
    alice.take()
    alice.line("alice")
    assert alice.take() == [
        "*** Hello alice! Type /help for the commands.",
        "*** You joined #lobby; nobody else is here.",
        "*** #lobby has no topic.",
    ]
    alice.line("/join #empty")
    assert alice.take() == ["*** You joined #empty; nobody else is here.",
                            "*** #empty has no topic."]


def test_replay_on_join(line_server, pair):
    """/join of a room shows its earlier messages; switching to a room already joined does not."""
    alice, bob = pair
    alice.line("/join #rust")
    alice.line("borrow checker")
    alice.take()
    bob.line("/join #rust")
    assert bob.take() == [
        "*** You joined #rust; 1 other here.",
        "*** #rust has no topic.",
        "*** 1 earlier message in #rust, at 14:02:",
        "[14:02] [#rust] <alice> borrow checker",
        "*** End of earlier messages.",
    ]
    alice.take()
    alice.line("/join #lobby")
    assert alice.take() == ["*** You are now talking in #lobby."]


def test_replay_only_messages_and_the_last_ones():
    """The replay shows the last replay_lines messages, oldest first, and no joins, parts or topics."""
    line_server = history_server(replay_lines=3)
    alice, bob = line_server.sign_in("alice"), line_server.sign_in("bob")
    chat(line_server, alice, bob, "one", "two", "/topic new topic", "three", "four")
    bob.line("/part")
    bob.line("/join #lobby")
    chat(line_server, alice, bob, "/nick alicia", "five")
    dave = line_server.connect()
    dave.take()
    dave.line("dave")
    assert dave.take()[3:] == [
        "*** 3 earlier messages in #lobby, since 14:02:",
        "[14:02] [#lobby] <bob> three",
        "[14:02] [#lobby] <alice> four",
        "[14:02] [#lobby] <bob> five",
        "*** End of earlier messages.",
    ]


def test_replay_off():
    """With replay_lines 0 nothing is replayed, but /history still works."""
    line_server = history_server(replay_lines=0)
    alice, bob = line_server.sign_in("alice"), line_server.sign_in("bob")
    chat(line_server, alice, bob, "one", "two")
    carol = line_server.connect()
    carol.take()
    carol.line("carol")
    assert carol.take() == HELLO_CAROL
    carol.line("/history")
    assert carol.take()[0] == "*** The last 2 messages in #lobby, since 14:02:"


def test_replay_not_shown_without_store():
    """Without a store nothing changes: no replay, and the commands say history is off."""
    line_server = LineServer()
    alice, bob = line_server.sign_in("alice"), line_server.sign_in("bob")
    chat(line_server, alice, bob, "one", "two")
    carol = line_server.connect()
    carol.take()
    carol.line("carol")
    assert carol.take() == HELLO_CAROL
    carol.line("/history")
    carol.line("/search one")
    assert carol.take() == ["*** This server keeps no history."] * 2


def test_replay_matches_live_rendering(line_server, pair):
    """A replayed line is the live line behind its time: formatting stripped, notices and actions alike."""
    alice, bob = pair
    hub = line_server.hub
    user = hub.find_user("alice")
    said = [
        ("\x02bold\x02 and \x0304,01red\x03 text", Kind.SAY),
        ("\x1ditalic\x1d wave", Kind.ACTION),
        ("a notice", Kind.NOTICE),
    ]
    for message, kind in said:
        hub.say(user, "#lobby", message, kind)
    live = bob.take()
    assert live == ["[#lobby] <alice> bold and red text",
                    "[#lobby] * alice italic wave",
                    "[#lobby] -alice- a notice"]
    carol = line_server.connect()
    carol.take()
    carol.line("carol")
    assert carol.take()[4:-1] == [f"[14:02] {shown}" for shown in live]


def test_replay_skips_ctcp(line_server, pair):
    """CTCP requests, which live line users never see, are not replayed or counted."""
    alice, bob = pair
    user = line_server.hub.find_user("alice")
    line_server.hub.say(user, "#lobby", "\x01VERSION\x01")
    line_server.hub.say(user, "#lobby", "plain")
    assert bob.take() == ["[#lobby] <alice> plain"]
    carol = line_server.connect()
    carol.take()
    carol.line("carol")
    assert carol.take()[3:] == ["*** 1 earlier message in #lobby, at 14:02:",
                                "[14:02] [#lobby] <alice> plain",
                                "*** End of earlier messages."]
    carol.line("/search VERSION")
    assert carol.take() == ['*** No messages in #lobby contain "VERSION".']


def test_replay_hostile_stored_text(line_server, pair):
    """Text that reached the store uncleaned (ESC, bidi overrides, NUL, line breaks) is cleaned on the way out."""
    alice, bob = pair
    source = Source("mallory", "mallory", "evil.example")
    nasty = "\x1b[2J\x1b]0;pwned\x07 \u202eevil\u202c \x00nul\r\nfake\x85 \x9b31m"
    line_server.store.record("#lobby", Message(1, NOW - 30, source, "#lobby", nasty, Kind.SAY))
    carol = line_server.connect()
    carol.take()
    carol.line("carol")
    got = carol.take()  # take() fails on a bare CR or LF
    assert got[4] == "[14:01] [#lobby] <mallory>  evil nulfake 31m"
    carol.line("/history")
    carol.line("/search pwned")
    for shown in carol.take():
        assert not any(c in shown for c in "\x00\x1b\x07\u202e\u202c\x85\x9b"), shown


def test_replay_dates(line_server, pair):
    """Messages from another day show their date; from another year, the year too."""
    alice, bob = pair
    source = Source("old", "old", "host")
    store = line_server.store
    last_year = calendar.timegm((2025, 12, 31, 23, 59, 30))
    yesterday = calendar.timegm((2026, 12, 1, 9, 5, 0))
    store.record("#lobby", Message(1, last_year, source, "#lobby", "happy new year", Kind.SAY))
    store.record("#lobby", Message(2, yesterday, source, "#lobby", "yesterday", Kind.SAY))
    alice.line("today")
    carol = line_server.connect()
    carol.take()
    carol.line("carol")
    assert carol.take()[3:] == [
        "*** 3 earlier messages in #lobby, since Dec 31 2025 23:59:",
        "[Dec 31 2025 23:59] [#lobby] <old> happy new year",
        "[Dec 01 09:05] [#lobby] <old> yesterday",
        "[14:02] [#lobby] <alice> today",
        "*** End of earlier messages.",
    ]


def test_when():
    """when() shows the time today, the date on other days, and the year in other years."""
    now = calendar.timegm((2026, 3, 5, 0, 30, 0))
    gmt = time.gmtime
    assert when(now, now, gmt) == "00:30"
    assert when(calendar.timegm((2026, 3, 5, 0, 0, 0)), now, gmt) == "00:00"
    assert when(calendar.timegm((2026, 3, 4, 23, 59, 59)), now, gmt) == "Mar 04 23:59"
    assert when(calendar.timegm((2026, 1, 1, 0, 0, 0)), now, gmt) == "Jan 01 00:00"
    assert when(calendar.timegm((2025, 3, 5, 0, 30, 0)), now, gmt) == "Mar 05 2025 00:30"
    assert when(now + 86400, now, gmt) == "Mar 06 00:30"  # a clock that went back
    assert when(1e300, now, gmt) == "--:--"
    assert when(float("nan"), now, gmt) == "--:--"


def test_when_uses_local_time(monkeypatch):
    """By default, times are the server's local time (here a zone 5.5 hours east)."""
    monkeypatch.setenv("TZ", "IST-5:30")
    time.tzset()
    try:
        assert when(NOW, NOW) == "19:32"
        assert when(calendar.timegm((2026, 12, 2, 20, 0, 0)), NOW) == "Dec 03 01:30"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
        monkeypatch.undo()  # the TZ the tests started with
        time.tzset()


def test_replay_under_since_join_visibility():
    """When people see history only from their join, the replay is empty and /history starts at the join."""
    line_server = history_server(since_join=True)
    alice, bob = line_server.sign_in("alice"), line_server.sign_in("bob")
    chat(line_server, alice, bob, "before carol")
    carol = line_server.connect()
    carol.take()
    carol.line("carol")
    assert carol.take() == HELLO_CAROL
    alice.line("after carol")
    carol.take()
    carol.line("/history")
    assert carol.take() == ["*** The last message in #lobby, at 14:02:",
                            "[14:02] [#lobby] <alice> after carol",
                            "*** End of history."]


# Replies that arrive late

def test_late_replay_after_disconnect():
    """A replay read after the client hung up is dropped, writing nothing."""
    line_server = history_server(HeldStore)
    alice = line_server.sign_in("alice")
    alice.line("hello")
    bob = line_server.connect()
    bob.take()
    bob.line("bob")
    assert bob.take()[-1] == "*** #lobby has no topic."
    bob.lose()
    bob.transport.clear()
    line_server.store.release()
    assert bob.raw() == b""
    assert line_server.hub.user_count == 1


def test_late_replay_after_part_and_rejoin():
    """A replay for a join that was left meanwhile is dropped; the replay for the new join is shown."""
    line_server = history_server(HeldStore)
    alice = line_server.sign_in("alice")
    line_server.store.release()
    alice.line("hello")
    bob = line_server.sign_in("bob")
    bob.line("/part")
    bob.line("/join #lobby")
    assert bob.take() == ["*** You left #lobby.", "*** You are in no room now: /join one.",
                          "*** You joined #lobby; 1 other here.", "*** #lobby has no topic."]
    assert len(line_server.store.held) == 2
    line_server.store.release()
    assert bob.take() == ["*** 1 earlier message in #lobby, at 14:02:",
                          "[14:02] [#lobby] <alice> hello",
                          "*** End of earlier messages."]


def test_late_replay_after_part():
    """A replay that arrives once the user has left the room is not shown."""
    line_server = history_server(HeldStore)
    alice = line_server.sign_in("alice")
    line_server.store.release()
    alice.line("hello")
    bob = line_server.sign_in("bob")
    bob.line("/part")
    bob.take()
    line_server.store.release()
    assert bob.take() == []


def test_replay_arrives_after_live_lines():
    """A slow replay comes after what was said since the join, still framed as earlier messages."""
    line_server = history_server(HeldStore)
    alice = line_server.sign_in("alice")
    line_server.store.release()
    alice.line("before")
    bob = line_server.sign_in("bob")
    alice.line("after")
    line_server.store.release()
    assert bob.take() == ["[#lobby] <alice> after",
                          "*** 1 earlier message in #lobby, at 14:02:",
                          "[14:02] [#lobby] <alice> before",
                          "*** End of earlier messages."]


def test_late_history_and_search_after_disconnect():
    """/history and /search answers that arrive after the client hung up are dropped."""
    line_server = history_server(HeldStore)
    alice = line_server.sign_in("alice")
    alice.line("hello")
    alice.line("/history")
    alice.line("/search hello")
    alice.take()
    alice.lose()
    alice.transport.clear()
    line_server.store.release()
    assert alice.raw() == b""


def test_late_history_after_quit_command():
    """An answer that arrives while the connection is closing is not written."""
    line_server = history_server(HeldStore)
    alice = line_server.sign_in("alice")
    line_server.store.release()
    alice.line("hello")
    alice.line("/history")
    alice.line("/quit")
    assert alice.take()[-1] == "*** Closing the connection: Quit."
    line_server.store.release()
    assert alice.raw() == b""


def test_store_failure():
    """A store that fails to read gets the reader a short apology, not a traceback, and the join stands."""
    line_server = history_server(BrokenStore)
    alice = line_server.connect()
    alice.take()
    alice.line("alice")
    assert alice.take()[1:] == [
        "*** You joined #lobby; nobody else is here.",
        "*** #lobby has no topic.",
        "*** The history of #lobby cannot be read now; try again later.",
    ]
    alice.line("/history")
    alice.line("/search x")
    assert alice.take() == [
        "*** The history of #lobby cannot be read now; try again later."] * 2
    assert line_server.hub.find_room("#lobby").is_member(line_server.hub.find_user("alice"))


# /history

def test_history_default(line_server, pair):
    """/history shows the room's last messages, with a header saying how many and since when."""
    alice, bob = pair
    chat(line_server, alice, bob, "one", 60, "two", 3600, "/me three")
    alice.line("/history")
    assert alice.take() == [
        "*** The last 3 messages in #lobby, since 14:02:",
        "[14:02] [#lobby] <alice> one",
        "[14:03] [#lobby] <bob> two",
        "[15:03] [#lobby] * alice three",
        "*** End of history.",
    ]
    assert bob.take() == []


def test_history_count(line_server, pair):
    """/history N shows the last N."""
    alice, bob = pair
    chat(line_server, alice, bob, *[f"line {n}" for n in range(10)])
    alice.line("/history 2")
    assert alice.take() == ["*** The last 2 messages in #lobby, since 14:02:",
                            "[14:02] [#lobby] <alice> line 8",
                            "[14:02] [#lobby] <bob> line 9",
                            "*** End of history."]
    alice.line("/history +1 extra words")
    assert alice.take()[0] == "*** The last message in #lobby, at 14:02:"


def test_history_default_is_fifty(line_server, pair):
    """/history without a number shows the last 50."""
    alice, bob = pair
    user = line_server.hub.find_user("bob")
    for n in range(60):
        line_server.hub.say(user, "#lobby", f"line {n}")
    alice.take()
    alice.line("/history")
    got = alice.take()
    assert got[0] == "*** The last 50 messages in #lobby, since 14:02:"
    assert got[1] == "[14:02] [#lobby] <bob> line 10"
    assert len(got) == 52


def test_history_empty(line_server):
    """/history in a room where nothing was said says so."""
    alice = line_server.sign_in("alice")
    alice.line("/history")
    assert alice.take() == ["*** No messages in #lobby yet."]


@pytest.mark.parametrize("argument", [
    "-5", "0", "-0", "000", "5abc", "1.5", "0x10", "\u0663", "\u00b2", "--1", "1e3",
])
def test_history_bad_counts(line_server, argument):
    """/history with anything but a number from 1 up gets the usage, and reads nothing."""
    alice = line_server.sign_in("alice")
    alice.line(f"/history {argument}")
    assert alice.take() == [
        "*** Usage: /history [NICK] [N], where N is a number of messages from 1 to 200."]


@pytest.mark.parametrize("argument", ["201", "99999999999999999999", "9" * 1500, "0200000"])
def test_history_clamped(argument):
    """/history with more than 200 shows 200, and says so."""
    line_server = history_server(HeldStore)
    alice = line_server.sign_in("alice")
    line_server.store.release()
    line_server.store.queries.clear()
    alice.line(f"/history {argument}")
    assert alice.take() == ["*** /history shows at most 200 messages."]
    assert [query.limit for query in line_server.store.queries] == [200]


def test_history_leading_zeros(line_server, pair):
    """Leading zeros are only zeros."""
    alice, bob = pair
    chat(line_server, alice, bob, "one", "two", "three")
    alice.line("/history 0002")
    assert alice.take()[0] == "*** The last 2 messages in #lobby, since 14:02:"


def test_history_of_current_room(line_server, pair):
    """/history reads the room plain lines go to."""
    alice, bob = pair
    chat(line_server, alice, bob, "in the lobby")
    alice.line("/join #other")
    alice.line("in other")
    alice.take()
    alice.line("/history")
    assert alice.take()[1] == "[14:02] [#other] <alice> in other"


def test_history_needs_a_room(line_server):
    """/history and /search with no room joined say so."""
    alice = line_server.sign_in("alice")
    alice.line("/part")
    alice.take()
    alice.line("/history")
    alice.line("/search x")
    assert alice.take() == ["*** You are not in a room: /join one first."] * 2


def test_history_rate_limited():
    """
    Asking for history too often is refused, with how long to wait; later it
    works again.  (With the default limits, flood control delays lines before
    this limit is reached.)
    """
    line_server = history_server(limits=Limits(flood_control=False))
    alice = line_server.sign_in("alice")
    alice.line("one")
    for _ in range(20):
        alice.line("/history 1")
    alice.take()
    alice.line("/history 1")
    alice.line("/search one")
    got = alice.take()
    assert len(got) == 2 and all(
        line.startswith("*** Too many history requests; try again in ") for line in got), got
    line_server.clock.advance(1)
    alice.line("/history 1")
    assert alice.take()[0] == "*** The last message in #lobby, at 14:02:"


def test_replay_not_rate_limited():
    """Joining, not the replay, is what limits replays: a reader out of requests still gets one."""
    line_server = history_server(limits=Limits(flood_control=False))
    alice = line_server.sign_in("alice")
    alice.line("one")
    for _ in range(25):
        alice.line("/history 1")
    alice.take()
    alice.line("/part")
    alice.line("/join #lobby")
    assert "[14:02] [#lobby] <alice> one" in alice.take()


# /search

def test_search(line_server, pair):
    """/search shows the messages containing every word, in any case, with a header and footer."""
    alice, bob = pair
    chat(line_server, alice, bob, "The cat sat", 60, "a dog", 60, "CAT and Dog",
         60, "/me pets the dog and the cat")
    alice.line("/search  dog   cat ")
    assert alice.take() == [
        '*** 2 messages in #lobby contain "dog cat", since 14:04:',
        "[14:04] [#lobby] <alice> CAT and Dog",
        "[14:05] [#lobby] * bob pets the dog and the cat",
        "*** End of search results.",
    ]
    alice.line("/search sat")
    assert alice.take()[0] == '*** 1 message in #lobby contains "sat", at 14:02:'
    alice.line("/search zebra")
    assert alice.take() == ['*** No messages in #lobby contain "zebra".']
    assert bob.take() == []


def test_search_latest_twenty(line_server, pair):
    """/search shows the 20 most recent matches and says they are the latest."""
    alice, bob = pair
    user = line_server.hub.find_user("bob")
    for n in range(30):
        line_server.hub.say(user, "#lobby", f"match {n}")
    alice.take()
    alice.line("/search match")
    got = alice.take()
    assert got[0] == '*** The latest 20 messages in #lobby that contain "match", since 14:02:'
    assert got[1] == "[14:02] [#lobby] <bob> match 10"
    assert got[-2] == "[14:02] [#lobby] <bob> match 29"
    assert len(got) == 22


def test_search_usage(line_server):
    """/search needs words."""
    alice = line_server.sign_in("alice")
    alice.line("/search")
    alice.line("/search    ")
    assert alice.take() == ["*** Usage: /search words"] * 2


@pytest.mark.parametrize("words, matches", [
    ('"quoted"', ['he said "quoted"']),
    ("100%", ["100% sure"]),
    ("a_b", ["a_b"]),
    ("*", ["* star"]),
    ("'; DROP TABLE events; --", []),
    ("\\", ["back\\slash"]),
])
def test_search_special_characters(line_server, pair, words, matches):
    """Quotes, %, _, * and backslashes are searched for as themselves, not as patterns."""
    alice, bob = pair
    chat(line_server, alice, bob, 'he said "quoted"', "100% sure", "1000 units", "a_b", "axb",
         "* star", "back\\slash", "plain")
    alice.line(f"/search {words}")
    got = alice.take()
    if matches:
        assert [line.split("> ", 1)[1] for line in got[1:-1]] == matches, got
    else:
        assert got == [f'*** No messages in #lobby contain "{words}".']


def test_search_control_characters(line_server, pair):
    """Control characters in the words are dropped on the way in; the echo is clean."""
    alice, bob = pair
    chat(line_server, alice, bob, "hello world")
    alice.send(b"/search hel\x1b\x00lo \xe2\x80\xaeworld\x07\r\n")
    got = alice.take()
    assert got[0] == '*** 1 message in #lobby contains "hello world", at 14:02:'


def test_search_long_words(line_server, pair):
    """Very long searches are echoed shortened; lines over the line limit are refused as any line is."""
    alice, bob = pair
    chat(line_server, alice, bob, "x" * 100)
    alice.line("/search " + "x" * 1500)
    assert alice.take() == ['*** No messages in #lobby contain "' + "x" * 57 + '...".']
    alice.line("/search " + "x" * 90)
    assert alice.take()[0] == ('*** 1 message in #lobby contains "' + "x" * 57
                               + '...", at 14:02:')
    alice.line("/search " + "x" * 3000)
    assert alice.take() == ["*** Line too long (the limit is 2048 bytes); it was discarded."]


def test_search_formatting_in_words(line_server, pair):
    """Formatting codes typed in the words are not echoed."""
    alice, bob = pair
    chat(line_server, alice, bob, "nothing")
    alice.line("/search \x02bold\x02")
    assert alice.take() == ['*** No messages in #lobby contain "bold".']


def test_help_lists_history_commands(line_server):
    """/help lists /history and /search."""
    alice = line_server.sign_in("alice")
    alice.line("/help")
    got = alice.take()
    assert any(line.startswith("***   /history [NICK] [N] ") for line in got)
    assert any(line.startswith("***   /search words ") for line in got)


def test_module_docstring_documents_history():
    """The wire protocol's description covers history."""
    for words in ("/history [N]", "/search words", "earlier messages", "local time zone"):
        assert words in line.__doc__
