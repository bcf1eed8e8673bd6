"""
Tests for the line front end, L{chatservice.frontends.line}, and the guards of
L{chatservice.frontends.connection}, over L{StringTransport}s on a fake clock.
"""

from __future__ import annotations

import pytest
from twisted.internet import error

from chatservice.core import errors
from chatservice.core.limits import Limits
from unit_helpers import GREETING_PROMPT as PROMPT
from unit_helpers import LineServer

HELLO_ALICE = [
    "*** Hello alice! Type /help for the commands.",
    "*** You joined #lobby; nobody else is here.",
    "*** #lobby has no topic.",
]


@pytest.fixture
def line_server():
    return LineServer()


@pytest.fixture
def pair(line_server):
    """alice and bob, both signed in and in #lobby, with nothing unread."""
    alice = line_server.sign_in("alice")
    bob = line_server.sign_in("bob")
    alice.take()
    return alice, bob


@pytest.fixture
def trio(line_server):
    """alice, bob and carol, all signed in and in #lobby, with nothing unread."""
    alice = line_server.sign_in("alice")
    bob = line_server.sign_in("bob")
    carol = line_server.sign_in("carol")
    alice.take(), bob.take()
    return alice, bob, carol


# Greeting and nicknames

def test_greeting(line_server):
    """A new connection is greeted with the server's name, who is online, and a prompt for a nickname."""
    client = line_server.connect()
    assert client.take() == ["*** Welcome to chatservice! 0 people online.", PROMPT]
    assert not client.closed


def test_greeting_counts_people(line_server):
    """The greeting says how many people are signed in."""
    line_server.sign_in("alice")
    assert line_server.connect().take()[0] == "*** Welcome to chatservice! 1 person online."
    line_server.sign_in("bob")
    assert line_server.connect().take()[0] == "*** Welcome to chatservice! 2 people online."


def test_greeting_server_name_and_default_room():
    """The greeting names the hub, and a new user joins the hub's default room."""
    line_server = LineServer(name="Tw\u00efsted chat", default_room="#General")
    client = line_server.connect()
    assert client.take()[0] == "*** Welcome to Tw\u00efsted chat! 0 people online."
    client.line("alice")
    assert client.take() == [
        "*** Hello alice! Type /help for the commands.",
        "*** You joined #General; nobody else is here.",
        "*** #General has no topic.",
    ]


def test_nick_accepted(line_server):
    """A valid nickname signs the client in and into #lobby."""
    client = line_server.connect()
    client.take()
    client.line("alice")
    assert client.take() == HELLO_ALICE
    user = line_server.hub.find_user("alice")
    assert user.client is client.protocol
    assert user.host == "1.2.3.4"
    assert list(line_server.hub.find_room("#lobby").members) == ["alice"]


def test_nick_stripped(line_server):
    """Spaces around the nickname are ignored."""
    client = line_server.connect()
    client.take()
    client.line("  alice \t")
    assert client.take() == HELLO_ALICE


def test_nick_taken(line_server):
    """A taken nickname, in any case, gets a reason and another prompt."""
    line_server.sign_in("alice")
    client = line_server.connect()
    client.take()
    client.line("ALICE")
    assert client.take() == ["*** The nickname ALICE is taken.", PROMPT]
    client.line("bob")
    assert client.take()[0] == "*** Hello bob! Type /help for the commands."


@pytest.mark.parametrize(
    "nick, reason",
    [
        ("9lives", "A nickname cannot start with a digit or '-'."),
        ("al ice", "A nickname may contain only ASCII letters, digits and _-[]\\`^{}|."),
        ("", "A nickname cannot be empty."),
        ("a" * 33, "A nickname has at most 32 characters."),
    ],
)
def test_nick_invalid(line_server, nick, reason):
    """An invalid nickname gets the reason and another prompt, and signs nobody in."""
    client = line_server.connect()
    client.take()
    client.line(nick)
    assert client.take() == ["*** " + reason, PROMPT]
    assert line_server.hub.user_count == 0
    assert not client.closed


def test_too_many_nick_attempts(line_server):
    """The tenth refused nickname closes the connection with a message."""
    client = line_server.connect()
    client.take()
    for attempt in range(9):
        client.line(f"{attempt}bad")
        assert client.take() == ["*** A nickname cannot start with a digit or '-'.", PROMPT]
        assert not client.closed
    client.line("9bad")
    assert client.take() == [
        "*** A nickname cannot start with a digit or '-'.",
        "*** Closing the connection: Too many invalid nicknames.",
    ]
    assert client.closed
    client.line("alice")
    assert client.take() == []
    assert line_server.hub.user_count == 0


def test_max_nick_attempts_option():
    """The number of nickname attempts follows max_nick_attempts, counting taken nicknames too."""
    line_server = LineServer(Limits(max_nick_attempts=2))
    line_server.sign_in("alice")
    client = line_server.connect()
    client.take()
    client.line("alice")
    assert client.take() == ["*** The nickname alice is taken.", PROMPT]
    client.line("-x")
    assert client.take()[-1] == "*** Closing the connection: Too many invalid nicknames."
    assert client.closed


# Registration timeout

def test_registration_timeout(line_server):
    """A client that has not chosen a nickname after 60 seconds is disconnected with a message."""
    client = line_server.connect()
    client.take()
    line_server.clock.advance(59.9)
    assert not client.closed
    assert client.take() == []
    line_server.clock.advance(0.1)
    assert client.take() == ["*** Closing the connection: Registration timed out."]
    assert client.closed


def test_registration_timeout_option():
    """The registration deadline follows registration_timeout."""
    line_server = LineServer(Limits(registration_timeout=5))
    client = line_server.connect()
    line_server.clock.advance(4.99)
    assert not client.closed
    line_server.clock.advance(0.01)
    assert client.closed


def test_registration_timeout_after_refusals(line_server):
    """Refused nicknames do not extend the registration deadline."""
    client = line_server.connect()
    line_server.clock.advance(30)
    client.line("1x")
    line_server.clock.advance(30)
    assert client.closed


def test_registered_not_timed_out(line_server):
    """A client that chose a nickname is not disconnected by the registration deadline."""
    client = line_server.connect()
    line_server.clock.advance(59)
    client.line("alice")
    client.take()
    line_server.clock.advance(1000)
    assert not client.closed
    assert client.take() == []
    assert line_server.clock.getDelayedCalls() == []


def test_connection_lost_cancels_deadline(line_server):
    """A connection lost before registering leaves no timer behind (once this turn's output is flushed)."""
    client = line_server.connect()
    client.lose()
    line_server.clock.advance(0)
    assert line_server.clock.getDelayedCalls() == []


# Talking

def test_join_seen_by_others(line_server):
    """When somebody signs in, the people in the default room see them join, and they see who is there."""
    alice = line_server.sign_in("alice")
    bob = line_server.connect()
    bob.take()
    bob.line("bob")
    assert bob.take() == [
        "*** Hello bob! Type /help for the commands.",
        "*** You joined #lobby; 1 other here.",
        "*** #lobby has no topic.",
    ]
    assert alice.take() == ["*** bob joined #lobby"]
    carol = line_server.connect()
    carol.line("carol")
    assert carol.take()[-2] == "*** You joined #lobby; 2 others here."


def test_conversation(pair):
    """Two users in one room see each other's lines, and not their own."""
    alice, bob = pair
    alice.line("hi bob")
    assert bob.take() == ["[#lobby] <alice> hi bob"]
    assert alice.take() == []
    bob.line("hello alice, \u00e7a va? \U0001f642")
    assert alice.take() == ["[#lobby] <bob> hello alice, \u00e7a va? \U0001f642"]
    assert bob.take() == []


def test_line_endings(pair):
    """Lines may end with \\n or \\r\\n, and the server always ends its lines with \\r\\n."""
    alice, bob = pair
    alice.send(b"one\ntwo\r\nthree\n")
    assert bob.raw() == (b"[#lobby] <alice> one\r\n[#lobby] <alice> two\r\n"
                         b"[#lobby] <alice> three\r\n")


def test_lines_split_across_chunks(pair):
    """A line may arrive in pieces, and several lines in one piece."""
    alice, bob = pair
    for piece in (b"he", b"llo\r", b"\nwor", b"ld\nag", b"ain\r\n"):
        alice.send(piece)
    assert bob.take() == ["[#lobby] <alice> hello", "[#lobby] <alice> world",
                          "[#lobby] <alice> again"]


def test_blank_lines_ignored(pair):
    """Empty and blank lines say nothing and get no reply."""
    alice, bob = pair
    alice.send(b"\n\r\n   \r\n\t\n")
    assert alice.take() == []
    assert bob.take() == []


def test_double_slash(pair):
    """A line starting with // says the line without its first slash."""
    alice, bob = pair
    alice.line("//etc/passwd is a file")
    alice.line("//")
    assert bob.take() == ["[#lobby] <alice> /etc/passwd is a file", "[#lobby] <alice> /"]
    assert alice.take() == []


def test_unknown_command(pair):
    """An unknown command gets an error and is said to nobody."""
    alice, bob = pair
    alice.line("/dance wildly")
    alice.line("/")
    assert alice.take() == [
        "*** Unknown command /dance; /help lists the commands.",
        "*** Unknown command /; /help lists the commands.",
    ]
    assert bob.take() == []


def test_commands_case_insensitive(pair):
    """Command names may be written in any case."""
    alice, bob = pair
    alice.line("/ME waves")
    assert bob.take() == ["[#lobby] * alice waves"]


@pytest.mark.parametrize(
    "line, usage",
    [
        ("/join", "/join #room [password]"),
        ("/join   ", "/join #room [password]"),
        ("/msg", "/msg NICK text"),
        ("/msg bob", "/msg NICK text"),
        ("/msg bob   ", "/msg NICK text"),
        ("/me", "/me action"),
        ("/nick", "/nick NEW"),
    ],
)
def test_missing_argument(pair, line, usage):
    """A command missing its argument gets its usage and does nothing."""
    alice, bob = pair
    alice.line(line)
    assert alice.take() == [f"*** Usage: {usage}"]
    assert bob.take() == []


def test_help(pair):
    """/help lists every command with its usage and summary."""
    alice, bob = pair
    alice.line("/help")
    assert alice.take() == [
        "*** Commands:",
        "***   /join #room [password]      join a room (creating it) or switch to it",
        "***   /part [#room] [reason]      leave a room (the current one by default)",
        "***   /rooms                      list the rooms and how many people are in each",
        "***   /who [#room]                list the people in a room (the current one by default)",
        "***   /topic [text]               show or set the current room's topic",
        "***   /msg NICK text              say something privately to one person",
        "***   /me action                  describe what you are doing",
        "***   /nick NEW                   change your nickname",
        "***   /register PASSWORD [email]  register your nickname as an account",
        "***   /login NAME PASSWORD        log in to your account",
        "***   /logout                     log out of your account",
        "***   /passwd OLD NEW             change your account's password",
        "***   /ghost NICK PASSWORD        sign out whoever holds your nickname",
        "***   /certfp add|del|list [FP]   TLS client certificates that log in to your account "
        "(SASL EXTERNAL; default: this connection's)",
        "***   /tokens [new|revoke ID]     list your login tokens (remembered logins), make one, "
        "or revoke one (ID) or all",
        "***   /op NICK                    make NICK's account an operator of the current room "
        "(founders)",
        "***   /deop NICK                  take that back (founders)",
        "***   /group                      add your current nickname to your account",
        "***   /kick NICK [reason]         remove someone from the current room (operators)",
        "***   /invite NICK                invite someone to the current room",
        "***   /away [message]             mark yourself away, or back without a message",
        "***   /history [NICK] [N]         show the last N messages of the current room, "
        "or with NICK (default 50, at most 200)",
        "***   /search words               show the latest 20 messages of the current room "
        "containing all the words",
        "***   /oper NAME PASSWORD         become a server operator",
        "***   /rehash                     reload the server's configuration (server operators)",
        "***   /help                       list the commands",
        "***   /quit [reason]              leave the server",
        "***   //text                      say a line that starts with /",
    ]
    assert bob.take() == []


# /join and /part

def test_join_new_room(pair):
    """/join creates a room, moves the client's talk there, and tells nobody outside it."""
    alice, bob = pair
    alice.line("/join #rust")
    assert alice.take() == ["*** You joined #rust; nobody else is here.",
                            "*** #rust has no topic."]
    assert bob.take() == []
    alice.line("anyone?")
    assert bob.take() == []
    assert server_room_members(alice, "#rust") == ["alice"]


def server_room_members(client, name):
    return list(client.protocol.hub.find_room(name).members)


def test_join_without_hash(pair):
    """/join adds the '#' when it is missing, and the members see the join."""
    alice, bob = pair
    alice.line("/join #rust")
    alice.take()
    bob.line("/join rust and more words")
    assert bob.take() == ["*** You joined #rust; 1 other here.", "*** #rust has no topic."]
    assert alice.take() == ["*** bob joined #rust"]
    bob.line("hi")
    assert alice.take() == ["[#rust] <bob> hi"]


def test_join_existing_shows_topic(pair):
    """Joining a room with a topic shows the topic and who set it."""
    alice, bob = pair
    alice.line("/join #rust")
    alice.line("/topic \x02Safe\x02 systems")
    alice.take()
    bob.line("/join #RUST")
    assert bob.take() == ["*** You joined #rust; 1 other here.",
                          "*** Topic of #rust: Safe systems (set by alice)"]


def test_join_room_already_in(pair):
    """/join of a room the client is already in switches its talk there and tells nobody."""
    alice, bob = pair
    alice.line("/join #rust")
    alice.line("/join #lobby")
    alice.take()
    assert alice.take() == []
    alice.line("back")
    assert bob.take() == ["[#lobby] <alice> back"]


def test_join_switch_message(pair):
    """/join of a room the client is already in says it is now talking there."""
    alice, bob = pair
    alice.line("/join #lobby")
    assert alice.take() == ["*** You are now talking in #lobby."]
    assert bob.take() == []


@pytest.mark.parametrize("room", ["#a,b", "#a:b", "#" + "x" * 50])
def test_join_invalid_room(pair, room):
    """/join of an invalid room name gets the reason."""
    alice, bob = pair
    alice.line(f"/join {room}")
    [reply] = alice.take()
    assert reply in (
        "*** A room name cannot contain spaces, commas, colons or control characters.",
        "*** A room name has at most 50 characters.",
    )
    alice.line("still here")
    assert bob.take() == ["[#lobby] <alice> still here"]


def test_part_current(pair):
    """/part leaves the current room; the others see it and the client is told it is in no room."""
    alice, bob = pair
    alice.line("/part")
    assert alice.take() == ["*** You left #lobby.", "*** You are in no room now: /join one."]
    assert bob.take() == ["*** alice left #lobby"]
    assert server_room_members(bob, "#lobby") == ["bob"]


def test_part_current_with_reason(pair):
    """/part with only a reason leaves the current room and the others see the reason."""
    alice, bob = pair
    alice.line("/part gotta go")
    assert alice.take()[0] == "*** You left #lobby."
    assert bob.take() == ["*** alice left #lobby (gotta go)"]


def test_part_named_room_with_reason(pair):
    """/part #room reason leaves that room, giving the reason, and switches to a room the client is still in."""
    alice, bob = pair
    bob.line("/join #rust")
    alice.line("/join #rust")
    bob.take()
    alice.take()
    alice.line("/part #rust not for me")
    assert alice.take() == ["*** You left #rust.", "*** You are now talking in #lobby."]
    assert bob.take() == ["*** alice left #rust (not for me)"]
    alice.line("hi")
    assert bob.take() == ["[#lobby] <alice> hi"]


def test_part_other_room_keeps_current(pair):
    """/part of a room other than the current one keeps the client talking where it was."""
    alice, bob = pair
    alice.line("/join #rust")
    alice.take()
    alice.line("/part #lobby")
    assert alice.take() == ["*** You left #lobby."]
    assert bob.take() == ["*** alice left #lobby"]
    bob.line("/join #rust")
    alice.take()
    bob.take()
    alice.line("here")
    assert bob.take() == ["[#rust] <alice> here"]


def test_part_errors(pair):
    """/part of a room that does not exist or that the client is not in gets the reason."""
    alice, bob = pair
    bob.line("/join #rust")
    alice.line("/part #nowhere")
    alice.line("/part #rust")
    assert alice.take() == ["*** There is no room called #nowhere.", "*** You are not in #rust."]


def test_not_in_any_room(pair):
    """Once in no room, talking and room commands explain that the client must join one."""
    alice, bob = pair
    alice.line("/part")
    alice.take()
    bob.take()
    for line in ("hello", "/me waves", "/topic", "/topic new", "/who", "/part"):
        alice.line(line)
    assert alice.take() == [
        "*** You are not in a room: /join one first.",
    ] * 6
    assert bob.take() == []
    alice.line("/join #lobby")
    alice.line("back")
    assert bob.take() == ["*** alice joined #lobby", "[#lobby] <alice> back"]


# /rooms, /who, /topic

def test_rooms(pair):
    """/rooms lists every room, sorted, with its number of people and its topic."""
    alice, bob = pair
    bob.line("/join #Zoo")
    bob.line("/join #rust")
    bob.line("/topic Safe \x0304systems")
    alice.line("/rooms")
    assert alice.take() == [
        "*** 3 rooms:",
        "***   #lobby (2)",
        "***   #rust (1): Safe systems",
        "***   #Zoo (1)",
    ]


def test_rooms_single(line_server):
    """/rooms says '1 room' for a single room."""
    alice = line_server.sign_in("alice")
    alice.line("/rooms")
    assert alice.take() == ["*** 1 room:", "***   #lobby (1)"]


def test_who(trio):
    """/who lists the people in the current room, sorted case-insensitively, operators marked with @."""
    alice, bob, carol = trio
    bob.line("/nick Zed")
    bob.line("/nick Bob")
    alice.take()
    alice.line("/who")
    assert alice.take() == ["*** In #lobby (3): @alice, Bob, carol"]


def test_who_named_room(pair):
    """/who #room, or /who room, lists another room's people without joining it."""
    alice, bob = pair
    bob.line("/join #rust")
    alice.line("/who #rust")
    alice.line("/who RUST")
    alice.line("/who #none")
    assert alice.take() == [
        "*** In #rust (1): @bob",
        "*** In #rust (1): @bob",
        "*** There is no room called #none.",
    ]
    assert server_room_members(alice, "#rust") == ["bob"]


def test_topic(pair):
    """/topic shows, and /topic text sets, the current room's topic; the others see the change."""
    alice, bob = pair
    alice.line("/topic")
    assert alice.take() == ["*** #lobby has no topic."]
    alice.line("/topic Welcome, \x1b[5mall\u202e!")
    assert alice.take() == ["*** You set the topic of #lobby: Welcome, all!"]
    assert bob.take() == ["*** alice set the topic of #lobby: Welcome, all!"]
    bob.line("/topic")
    assert bob.take() == ["*** Topic of #lobby: Welcome, all! (set by alice)"]


def test_topic_too_long(pair):
    """/topic with more than 390 characters is refused with the reason."""
    alice, bob = pair
    alice.line("/topic " + "t" * 391)
    assert alice.take() == ["*** A topic has at most 390 characters."]
    assert bob.take() == []


# /msg, /me, /nick

def test_msg(trio):
    """/msg sends a private line to one person, confirmed to the sender, unseen by the others."""
    alice, bob, carol = trio
    alice.line("/msg BOB psst,  are you   there?")
    assert alice.take() == ["[to bob] <alice> psst,  are you   there?"]
    assert bob.take() == ["[private] <alice> psst,  are you   there?"]
    assert carol.take() == []


def test_msg_no_such_nick(pair):
    """/msg to nobody gets the reason."""
    alice, bob = pair
    alice.line("/msg nobody hi")
    assert alice.take() == ["*** Nobody is called nobody."]


def test_msg_across_rooms(pair):
    """/msg reaches a person who shares no room with the sender."""
    alice, bob = pair
    bob.line("/part")
    bob.take()
    alice.take()
    alice.line("/msg bob hi")
    assert bob.take() == ["[private] <alice> hi"]


def test_msg_strips_formatting(pair):
    """Private messages reach a line client without formatting codes."""
    alice, bob = pair
    alice.line("/msg bob \x02bold\x02 \x0304red")
    assert bob.take() == ["[private] <alice> bold red"]
    assert alice.take() == ["[to bob] <alice> bold red"]


def test_me(trio):
    """/me sends an action to the others in the current room."""
    alice, bob, carol = trio
    alice.line("/me waves at everyone")
    assert bob.take() == ["[#lobby] * alice waves at everyone"]
    assert carol.take() == ["[#lobby] * alice waves at everyone"]
    assert alice.take() == []


def test_nick(pair):
    """/nick changes the nickname; the client is told and the others see the change."""
    alice, bob = pair
    alice.line("/nick Alicia")
    assert alice.take() == ["*** You are now known as Alicia."]
    assert bob.take() == ["*** alice is now known as Alicia"]
    alice.line("hi")
    assert bob.take() == ["[#lobby] <Alicia> hi"]
    assert server_room_members(bob, "#lobby") == ["bob", "alicia"]


def test_nick_case_only(pair):
    """/nick may change only the case of the nickname."""
    alice, bob = pair
    alice.line("/nick ALICE")
    assert alice.take() == ["*** You are now known as ALICE."]
    assert bob.take() == ["*** alice is now known as ALICE"]


def test_nick_unchanged(pair):
    """/nick with the current nickname confirms it and tells nobody."""
    alice, bob = pair
    alice.line("/nick alice")
    assert alice.take() == ["*** You are now known as alice."]
    assert bob.take() == []


@pytest.mark.parametrize(
    "new, reason",
    [
        ("bob", "The nickname bob is taken."),
        ("BOB", "The nickname BOB is taken."),
        ("9x", "A nickname cannot start with a digit or '-'."),
        ("ali~ce", "A nickname may contain only ASCII letters, digits and _-[]\\`^{}|."),
    ],
)
def test_nick_refused(pair, new, reason):
    """/nick to a taken or invalid nickname gets the reason and changes nothing."""
    alice, bob = pair
    alice.line(f"/nick {new}")
    assert alice.take() == [f"*** {reason}"]
    assert bob.take() == []
    assert server_room_members(alice, "#lobby") == ["alice", "bob"]


def test_nick_frees_old(pair, line_server):
    """After /nick, another client can take the old nickname."""
    alice, bob = pair
    alice.line("/nick Alicia")
    line_server.sign_in("alice")


# /quit

def test_quit(pair, line_server):
    """/quit closes the connection with a message; the others see the quit and the nickname is free."""
    alice, bob = pair
    alice.line("/quit")
    assert alice.take() == ["*** Closing the connection: Quit."]
    assert alice.closed
    assert not alice.aborted
    assert bob.take() == ["*** alice quit (Quit)"]
    alice.lose(error.ConnectionDone())
    assert bob.take() == []
    line_server.sign_in("alice")


def test_quit_reason(pair):
    """/quit with a reason shows the reason to the others."""
    alice, bob = pair
    alice.line("/quit see you \x02tomorrow\x02")
    assert alice.take() == ["*** Closing the connection: Quit: see you \x02tomorrow\x02."]
    assert bob.take() == ["*** alice quit (Quit: see you tomorrow)"]


def test_no_input_after_close(pair):
    """Once the server closes a connection, nothing more the client sends is processed."""
    alice, bob = pair
    alice.send(b"/quit\nafter quit\n/nick x\n")
    alice.send(b"later\n")
    assert bob.take() == ["*** alice quit (Quit)"]
    assert alice.take() == ["*** Closing the connection: Quit."]
    alice.lose(error.ConnectionDone())
    assert bob.take() == []


# Disconnection by the client

def test_connection_lost_mid_line(pair, line_server):
    """A connection reset in the middle of a line makes the others see one quit with a reason, and frees the nickname."""
    alice, bob = pair
    alice.send(b"half a li")
    alice.lose(error.ConnectionLost())
    assert bob.take() == ["*** alice quit (Connection reset)"]
    with pytest.raises(errors.NoSuchNick):
        line_server.hub.find_user("alice")
    assert line_server.addresses.count("1.2.3.4") == 1
    line_server.sign_in("alice")


def test_connection_closed_cleanly(pair):
    """A connection the client closes cleanly makes the others see a quit saying so."""
    alice, bob = pair
    alice.lose(error.ConnectionDone())
    assert bob.take() == ["*** alice quit (Connection closed)"]


def test_connection_lost_before_nick(pair, line_server):
    """A connection lost before choosing a nickname tells nobody."""
    alice, bob = pair
    client = line_server.connect()
    client.send(b"car")
    client.lose()
    assert alice.take() == []
    assert line_server.hub.user_count == 2


def test_quit_leaves_all_rooms(trio):
    """A user who disconnects is seen quitting once by each person sharing any room with them."""
    alice, bob, carol = trio
    for client in (alice, bob):
        client.line("/join #rust")
        client.line("/join #go")
    alice.take(), bob.take(), carol.take()
    alice.lose()
    assert bob.take() == ["*** alice quit (Connection reset)"]
    assert carol.take() == ["*** alice quit (Connection reset)"]


# Input defences

def test_overlong_line_discarded():
    """A line over the limit is discarded with an error, the connection stays, and the lines after it are processed."""
    line_server = LineServer(Limits(max_line_length=10))
    alice = line_server.sign_in("alice")
    bob = line_server.sign_in("bob")
    alice.take()
    alice.send(b"ok\n" + b"x" * 50 + b"\r\nafter\nand this\r\n")
    assert alice.take() == ["*** Line too long (the limit is 10 bytes); it was discarded."]
    assert bob.take() == ["[#lobby] <alice> ok", "[#lobby] <alice> after",
                          "[#lobby] <alice> and this"]
    assert not alice.closed


@pytest.mark.parametrize("ending", [b"\n", b"\r\n"])
def test_line_length_boundary(ending):
    """A line of exactly the limit is accepted, and one byte more is discarded, whatever the line ending."""
    line_server = LineServer(Limits(max_line_length=10))
    alice = line_server.sign_in("alice")
    bob = line_server.sign_in("bob")
    alice.take()
    alice.send(b"0123456789" + ending)
    assert bob.take() == ["[#lobby] <alice> 0123456789"]
    alice.send(b"0123456789A" + ending)
    assert alice.take() == ["*** Line too long (the limit is 10 bytes); it was discarded."]
    assert bob.take() == []


def test_overlong_line_in_pieces():
    """A line over the limit that arrives in pieces is reported as soon as it passes the limit, once, and discarded until its end; then lines flow again."""
    line_server = LineServer(Limits(max_line_length=10))
    alice = line_server.sign_in("alice")
    bob = line_server.sign_in("bob")
    alice.take()
    alice.send(b"y" * 8)
    assert alice.take() == []
    alice.send(b"y" * 8)
    assert alice.take() == ["*** Line too long (the limit is 10 bytes); it was discarded."]
    alice.send(b"y" * 8)
    assert alice.take() == []
    alice.send(b"yy\nfine\n")
    assert alice.take() == []
    assert bob.take() == ["[#lobby] <alice> fine"]
    alice.send(b"z" * 30 + b"\n" + b"w" * 30 + b"\n")
    assert alice.take() == ["*** Line too long (the limit is 10 bytes); it was discarded."] * 2


def test_newline_less_flood_bounded():
    """A flood without newlines never makes the protocol buffer more than the line limit."""
    line_server = LineServer(Limits(max_line_length=100))
    alice = line_server.sign_in("alice")
    bob = line_server.sign_in("bob")
    alice.take()
    protocol = alice.protocol
    for _ in range(1000):
        alice.send(b"z" * 97)
        assert len(protocol._buffer) <= 101
        assert protocol._leftover == b""
    assert alice.take() == ["*** Line too long (the limit is 100 bytes); it was discarded."]
    assert bob.take() == []
    assert not alice.closed
    alice.send(b"\nhello\n")
    assert alice.take() == []
    assert bob.take() == ["[#lobby] <alice> hello"]


def test_overlong_line_before_nick():
    """An overlong line while choosing a nickname is discarded and does not count as an attempt."""
    line_server = LineServer(Limits(max_line_length=40, max_nick_attempts=1))
    client = line_server.connect()
    client.take()
    client.send(b"n" * 100 + b"\n")
    assert client.take() == ["*** Line too long (the limit is 40 bytes); it was discarded."]
    assert not client.closed
    client.line("alice")
    assert client.take() == HELLO_ALICE


def test_invalid_utf8(pair):
    """Invalid UTF-8 is replaced, not refused."""
    alice, bob = pair
    alice.send(b"caf\xc3 \x80 ok\n")
    assert bob.take() == ["[#lobby] <alice> caf\ufffd \ufffd ok"]


def test_controls_stripped(pair):
    """Terminal escapes, NUL, BEL, C1 controls and bidi overrides never reach the others."""
    alice, bob = pair
    alice.send(b"a\x1b[2Jb\x00c\x07d\x7fe\x08f\r" + "\u009b1m\u202eg\u2066h\u2069\n".encode())
    assert bob.raw() == b"[#lobby] <alice> abcdef1mgh\r\n"


def test_bare_carriage_return_removed(pair):
    """A carriage return inside a line cannot overwrite what the others see."""
    alice, bob = pair
    alice.send(b"innocent\rmalicious\r\n")
    assert bob.raw() == b"[#lobby] <alice> innocentmalicious\r\n"


def test_formatting_stripped_for_line_clients(pair):
    """IRC formatting codes are stripped for line clients."""
    alice, bob = pair
    alice.send(b"\x02bold\x02 \x0304,12colour\x03 \x1fu\x1f\n")
    assert bob.take() == ["[#lobby] <alice> bold colour u"]


def test_only_controls_says_nothing(pair):
    """A line that is empty once cleaned is ignored like a blank line."""
    alice, bob = pair
    alice.send(b"\x1b\x07\x00\n\xe2\x80\xae\n")
    assert alice.take() == []
    assert bob.take() == []


def test_telnet_negotiation_dropped(line_server):
    """Telnet negotiation in the nickname line or in chat is dropped."""
    alice = line_server.connect()
    alice.send(b"\xff\xfd\x01\xff\xfb\x1f\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0alice\r\n")
    assert alice.take()[-3:] == HELLO_ALICE
    bob = line_server.sign_in("bob")
    alice.take()
    alice.send(b"hel\xff\xf4lo\xff")
    alice.send(b"\xfb\x01 there\r\n")
    assert bob.take() == ["[#lobby] <alice> hello there"]


@pytest.mark.parametrize(
    "request_line",
    [b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", b"POST /chat HTTP/1.0\n\n",
     b"OPTIONS * HTTP/1.1\r\n"],
)
def test_http_refused(line_server, request_line):
    """An HTTP request gets a 400 response with a hint and the connection is closed."""
    client = line_server.connect()
    client.take()
    client.send(request_line)
    assert client.raw() == (
        b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Connection: close\r\n\r\n"
        b"This is a chat server, not a web server: connect with nc or telnet.\r\n"
        b"*** Closing the connection: HTTP on the chat port.\r\n"
    )
    assert client.closed
    assert line_server.hub.user_count == 0


def test_tls_refused(line_server):
    """A TLS ClientHello gets a plain-text hint and the connection is closed."""
    client = line_server.connect()
    client.take()
    hello = bytes.fromhex("160301020001000200fc0303") + bytes(range(32)) + b"\n\x00\xff\xfe"
    client.send(hello)
    assert client.take() == [
        "*** This port speaks plain text, not TLS: connect with nc or telnet, "
        "or use the server's TLS port.",
        "*** Closing the connection: TLS on the plain-text port.",
    ]
    assert client.closed
    client.send(b"alice\n")
    assert line_server.hub.user_count == 0


@pytest.mark.parametrize("first", [b"NICK alice\r\nUSER alice 0 * :Alice\r\n", b"CAP LS 302\r\n",
                                   b"PASS secret\r\n", b"USER a 0 * :A\r\n"])
def test_irc_refused(line_server, first):
    """An IRC client's registration gets a hint and the connection is closed."""
    client = line_server.connect()
    client.take()
    client.send(first)
    assert client.take() == [
        "*** This port speaks plain line chat, not IRC: connect with nc or telnet, "
        "or use the server's IRC port.",
        "*** Closing the connection: IRC on the line-chat port.",
    ]
    assert client.closed
    assert line_server.hub.user_count == 0


def test_foreign_protocols_only_first_line(pair):
    """Lines that look like HTTP or IRC are ordinary chat after the first line."""
    alice, bob = pair
    alice.send(b"GET / HTTP/1.1\r\nNICK bob\r\n")
    assert bob.take() == ["[#lobby] <alice> GET / HTTP/1.1", "[#lobby] <alice> NICK bob"]
    assert not alice.closed


def test_nick_named_like_irc_command(line_server):
    """A nickname that is an IRC command word, without arguments, is just a nickname."""
    client = line_server.connect()
    client.line("NICK")
    assert client.take()[-3] == "*** Hello NICK! Type /help for the commands."


# Flood control

def flood_server(**limits):
    line_server = LineServer(Limits(**limits))
    alice = line_server.sign_in("alice")
    bob = line_server.sign_in("bob")
    alice.take()
    line_server.clock.advance(1000)  # Both buckets are full again.
    return line_server, alice, bob


def test_burst_goes_through():
    """A burst of flood_burst lines is delivered at once."""
    line_server, alice, bob = flood_server()
    alice.send(b"".join(b"line %d\n" % n for n in range(20)))
    assert bob.take() == [f"[#lobby] <alice> line {n}" for n in range(20)]
    assert line_server.clock.getDelayedCalls() == []


def test_flood_delayed_in_order():
    """Lines beyond the burst are delayed and then delivered, in order, at the flood rate."""
    line_server, alice, bob = flood_server()
    alice.send(b"".join(b"line %d\n" % n for n in range(26)))
    assert bob.take() == [f"[#lobby] <alice> line {n}" for n in range(20)]
    line_server.clock.advance(0.49)
    assert bob.take() == []
    line_server.clock.advance(0.01)
    assert bob.take() == ["[#lobby] <alice> line 20"]
    alice.send(b"line 26\n")
    assert bob.take() == []
    line_server.clock.advance(1.0)
    assert bob.take() == ["[#lobby] <alice> line 21", "[#lobby] <alice> line 22"]
    line_server.clock.pump([0.5] * 10)
    assert bob.take() == [f"[#lobby] <alice> line {n}" for n in range(23, 27)]
    assert line_server.clock.getDelayedCalls() == []
    assert not alice.closed
    assert alice.take() == []


def test_flood_late_timer_keeps_order():
    """A line that arrives before an overdue drain runs still waits behind the lines queued before it."""
    line_server, alice, bob = flood_server(flood_burst=1)
    alice.send(b"a\nb\nc\n")
    assert bob.take() == ["[#lobby] <alice> a"]
    # The reactor was busy: time passed but the drain has not run yet.
    line_server.clock.rightNow += 10
    alice.send(b"d\n")
    assert bob.take() == []
    line_server.clock.pump([0, 0.5, 0.5])
    assert bob.take() == ["[#lobby] <alice> b", "[#lobby] <alice> c", "[#lobby] <alice> d"]


def test_flood_custom_rate():
    """flood_rate and flood_burst set how many lines pass at once and how fast the rest follow."""
    line_server, alice, bob = flood_server(flood_rate=0.5, flood_burst=2)
    alice.send(b"a\nb\nc\nd\n")
    assert bob.take() == ["[#lobby] <alice> a", "[#lobby] <alice> b"]
    line_server.clock.advance(1.99)
    assert bob.take() == []
    line_server.clock.advance(0.01)
    assert bob.take() == ["[#lobby] <alice> c"]
    line_server.clock.advance(2)
    assert bob.take() == ["[#lobby] <alice> d"]


def test_flood_commands_delayed_too():
    """Commands wait their turn behind delayed lines."""
    line_server, alice, bob = flood_server(flood_burst=1)
    alice.send(b"one\n/me two\n/msg bob three\n")
    assert bob.take() == ["[#lobby] <alice> one"]
    line_server.clock.advance(1)
    line_server.clock.advance(1)
    assert bob.take() == ["[#lobby] * alice two", "[private] <alice> three"]


def test_flood_queue_full_disconnects():
    """More than flood_queue waiting lines disconnect the client with 'Excess flood', and the others see it quit."""
    line_server, alice, bob = flood_server()
    alice.send(b"".join(b"line %d\n" % n for n in range(20 + 40)))
    assert len(bob.take()) == 20
    assert not alice.closed
    alice.send(b"one too many\nnever\n")
    assert alice.take() == ["*** Closing the connection: Excess flood."]
    assert alice.closed
    assert bob.take() == ["*** alice quit (Excess flood)"]
    line_server.clock.advance(100)
    assert bob.take() == []
    alice.lose(error.ConnectionDone())
    assert bob.take() == []
    assert line_server.clock.getDelayedCalls() == []


def test_flood_queue_option():
    """The number of lines that may wait follows flood_queue."""
    line_server, alice, bob = flood_server(flood_burst=1, flood_queue=2)
    alice.send(b"a\nb\nc\n")
    assert not alice.closed
    alice.send(b"d\n")
    assert alice.closed
    assert bob.take() == ["[#lobby] <alice> a", "*** alice quit (Excess flood)"]


def test_flood_control_off():
    """With flood control off, any number of lines is delivered at once."""
    line_server, alice, bob = flood_server(flood_control=False)
    alice.send(b"".join(b"line %d\n" % n for n in range(500)))
    assert bob.take() == [f"[#lobby] <alice> line {n}" for n in range(500)]
    assert not alice.closed
    assert line_server.clock.getDelayedCalls() == []


def test_flood_applies_before_nick():
    """Flood control applies while choosing a nickname."""
    line_server = LineServer(Limits(flood_burst=2, flood_queue=1, max_nick_attempts=100))
    client = line_server.connect()
    client.send(b"1\n2\n3\n4\n")
    assert client.closed
    assert client.take()[-1] == "*** Closing the connection: Excess flood."


def test_connection_lost_cancels_drain():
    """A flooder that disconnects leaves no timer and its delayed lines are never said."""
    line_server, alice, bob = flood_server(flood_burst=1)
    alice.send(b"a\nb\nc\n")
    bob.take()
    alice.lose()
    line_server.clock.advance(0)
    assert line_server.clock.getDelayedCalls() == []
    assert bob.take() == ["*** alice quit (Connection reset)"]


# Clients that do not read

def test_paused_client_gets_output_on_resume(pair):
    """Output to a client that stops reading waits and is delivered when it reads again."""
    alice, bob = pair
    bob.pause_reading()
    alice.line("one")
    alice.line("two")
    assert bob.take() == []
    bob.resume_reading()
    assert bob.take() == ["[#lobby] <alice> one", "[#lobby] <alice> two"]


def test_send_queue_overflow():
    """A client that does not read is dropped when its output passes max_send_queue, and the others see it quit."""
    line_server = LineServer(Limits(max_send_queue=200))
    alice = line_server.sign_in("alice")
    bob = line_server.sign_in("bob")
    carol = line_server.sign_in("carol")
    alice.take(), bob.take()
    bob.pause_reading()
    for n in range(4):
        alice.line("x" * 20 + str(n))  # 40 bytes each, with "[#lobby] <alice> "
    assert not bob.closed
    assert bob.protocol.send_queue.held_bytes == 160
    assert carol.take() == ["[#lobby] <alice> " + "x" * 20 + str(n) for n in range(4)]
    alice.line("the straw" + "y" * 21)
    assert bob.closed
    assert bob.aborted
    assert bob.take() == []
    assert alice.take() == ["*** bob quit (Send queue exceeded)"]
    carol_lines = carol.take()
    assert sorted(carol_lines) == sorted(["[#lobby] <alice> the straw" + "y" * 21,
                                          "*** bob quit (Send queue exceeded)"])
    with pytest.raises(errors.NoSuchNick):
        line_server.hub.find_user("bob")
    bob.lose()
    assert alice.take() == []
    assert carol.take() == []
    assert line_server.addresses.count("1.2.3.4") == 2


def test_send_queue_overflow_only_member():
    """A non-reading client dropped while told of a join leaves the joiner in a working room."""
    line_server = LineServer(Limits(max_send_queue=10))
    bob = line_server.sign_in("bob")
    bob.pause_reading()
    alice = line_server.connect()
    alice.take()
    alice.line("alice")
    # Line clients are told of joins at the end of the reactor turn
    # (core.arrivals): that is when bob's queue overflows.
    assert alice.take() == [
        "*** Hello alice! Type /help for the commands.",
        "*** You joined #lobby; 1 other here.",
        "*** #lobby has no topic.",
        "*** bob quit (Send queue exceeded)",
    ]
    assert bob.closed
    carol = line_server.sign_in("carol")
    assert alice.take() == ["*** carol joined #lobby"]
    carol.line("hi")
    assert alice.take() == ["[#lobby] <carol> hi"]


# Connections per address

def test_per_address_limit():
    """A connection beyond max_per_address from one address is refused with a message."""
    line_server = LineServer(Limits(max_per_address=2))
    first = line_server.connect("5.6.7.8")
    line_server.connect("5.6.7.8")
    third = line_server.connect("5.6.7.8")
    assert third.take() == [
        "*** Too many connections from your address (the limit is 2).",
        "*** Closing the connection: Too many connections from your address.",
    ]
    assert third.closed
    third.send(b"alice\n")
    assert line_server.hub.user_count == 0
    third.lose(error.ConnectionDone())
    assert line_server.addresses.count("5.6.7.8") == 2
    other = line_server.connect("5.6.7.9")
    assert not other.closed
    first.lose(error.ConnectionDone())
    assert not line_server.connect("5.6.7.8").closed


def test_per_address_counts_signed_in_users():
    """Signed-in connections count against their address until they are lost."""
    line_server = LineServer(Limits(max_per_address=1))
    alice = line_server.sign_in("alice", host="5.6.7.8")
    assert line_server.connect("5.6.7.8").closed
    alice.line("/quit")
    alice.lose(error.ConnectionDone())
    assert not line_server.connect("5.6.7.8").closed


def test_refused_connection_tells_nobody():
    """A refused connection has no registration deadline, only the deadline to finish closing, and makes no one see anything."""
    line_server = LineServer(Limits(max_per_address=1))
    alice = line_server.sign_in("alice", host="5.6.7.8")
    refused = line_server.connect("5.6.7.8")
    line_server.factory.flusher.flush()
    calls = line_server.clock.getDelayedCalls()
    assert [call.getTime() - line_server.clock.seconds() for call in calls] == [
        refused.protocol.close_timeout]
    assert alice.take() == []


def test_closing_connection_aborted_after_timeout(line_server):
    """A connection that does not finish closing (a TLS peer that never answers) is aborted after close_timeout seconds."""
    bob = line_server.sign_in("bob")
    bob.line("/quit")
    assert bob.closed and not bob.aborted
    line_server.clock.advance(bob.protocol.close_timeout - 0.1)
    assert not bob.aborted
    line_server.clock.advance(0.1)
    assert bob.aborted


def test_close_flushes_paused_output(pair):
    """Output waiting for a client that stopped reading is handed to the transport when the server closes the connection."""
    alice, bob = pair
    bob.pause_reading()
    alice.line("last words")
    bob.line("/quit")
    assert bob.take() == ["[#lobby] <alice> last words", "*** Closing the connection: Quit."]
    assert bob.closed
