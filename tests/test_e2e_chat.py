"""
End to end: signing in and chatting through a real twistd over real sockets.
"""

from __future__ import annotations

import re

from server import join_announcement


def test_greeting(server):
    """A new connection is greeted with the server's name and the number of people online, and asked for a nickname."""
    first = server.connect("first")
    assert first.read_line() == "*** Welcome to chatservice! 0 people online."
    assert first.read_line().startswith("*** Choose a nickname")
    first.send_line("alice")
    first.read_until("*** Hello alice!")

    second = server.connect("second")
    assert second.read_line() == "*** Welcome to chatservice! 1 person online."
    second.sign_in("bob")

    third = server.connect("third")
    assert third.read_line() == "*** Welcome to chatservice! 2 people online."
    assert "Choose a nickname" in third.read_line()


def test_server_lines_end_with_crlf(server):
    """Every line the server sends ends with CRLF, whether the client ends its lines with LF or CRLF."""
    alice = server.user("alice")
    bob = server.connect("bob")
    bob.read_prompt()
    bob.send(b"bob\r\n")
    bob.read_until("*** Hello bob!")
    bob.send(b"hi from crlf\r\n")
    assert alice.read_until("hi from crlf\r\n").endswith(b"[#lobby] <bob> hi from crlf\r\n")
    alice.send(b"hi from lf\n")
    bob.read_until(b"[#lobby] <alice> hi from lf\r\n")
    for received in (alice.transcript, bob.transcript):
        assert received.count(b"\n") == received.count(b"\r\n")


def test_welcome_after_sign_in(server):
    """Signing in says hello, puts the user in #lobby and shows its topic."""
    alice = server.connect("alice")
    got = alice.sign_in("alice").decode()
    assert "*** Hello alice! Type /help for the commands.\r\n" in got
    assert "*** You joined #lobby; nobody else is here.\r\n" in got
    assert got.endswith("*** #lobby has no topic.\r\n")
    bob = server.connect("bob")
    got = bob.sign_in("bob").decode()
    assert "*** You joined #lobby; 1 other here.\r\n" in got


def test_taken_nick_ignores_case(server):
    """A nickname taken under another case is refused with a reason and a new prompt."""
    server.user("Alice")
    other = server.connect("other")
    other.read_prompt()
    other.send_line("alice")
    assert other.read_line() == "*** The nickname alice is taken."
    assert other.read_line().startswith("*** Choose a nickname")
    other.send_line("ALICE")
    assert other.read_line() == "*** The nickname ALICE is taken."
    other.read_prompt()
    other.send_line("alice2")
    other.read_until("*** Hello alice2!")


def test_taken_nick_rfc1459_folding(server):
    """Nicknames are compared with rfc1459 folding, so [ ] \\ ~ collide with { } | ^."""
    server.user("Bob[away]")
    server.user("x\\y")
    other = server.connect("other")
    other.read_prompt()
    for nick in ("bob{AWAY}", "BOB{away]", "X|Y"):
        other.send_line(nick)
        assert other.read_line() == f"*** The nickname {nick} is taken."
        other.read_prompt()
    other.send_line("bob{here}")
    other.read_until("*** Hello bob{here}!")


def test_invalid_nicks(server):
    """An invalid nickname gets the rule it breaks and a new prompt."""
    client = server.connect()
    client.read_prompt()
    reasons = {
        "1abc": "*** A nickname cannot start with a digit or '-'.",
        "-abc": "*** A nickname cannot start with a digit or '-'.",
        "a b": "*** A nickname may contain only ASCII letters, digits and _-[]\\`^{}|.",
        "al!ce": "*** A nickname may contain only ASCII letters, digits and _-[]\\`^{}|.",
        "ålice": "*** A nickname may contain only ASCII letters, digits and _-[]\\`^{}|.",
        "a" * 33: "*** A nickname has at most 32 characters.",
        "": "*** A nickname cannot be empty.",
    }
    for nick, reason in reasons.items():
        client.send_line(nick)
        assert client.read_line() == reason, nick
        assert client.read_line().startswith("*** Choose a nickname"), nick
    client.send_line("a" * 32)
    client.read_until(f"*** Hello {'a' * 32}!")


def test_lobby_chat_between_several_clients(server):
    """Several clients in #lobby each see the others' messages as "[#lobby] <nick> text", and never their own."""
    nicks = ["alice", "bob", "carol", "dave"]
    clients = dict(zip(nicks, server.users(*nicks)))
    for nick, client in clients.items():
        client.send_line(f"hello from {nick}")
    for nick, client in clients.items():
        # The four messages cross in the server in any order: read three
        # lines, whatever their order.
        lines = sorted(client.read_until(b"\r\n").decode() for _ in range(3))
        assert lines == [f"[#lobby] <{other}> hello from {other}\r\n"
                         for other in nicks if other != nick]
    # Everyone has now read three messages after the join notices: nothing
    # else, and in particular no echo of their own.
    for nick, client in clients.items():
        assert f"<{nick}> hello from {nick}" not in client.text()
        assert client.buffer == b""


def test_joins_reach_room_members(server):
    """Members of a room see "*** nick joined #room" when someone joins it."""
    alice = server.user("alice")
    server.user("bob")
    alice.read_until(join_announcement("bob"))


def test_join_and_talk_in_another_room(server):
    """/join creates or joins a room and makes it the current room, and what is said there reaches only its members."""
    alice, bob, carol = server.users("alice", "bob", "carol")
    alice.send_line("/join #dev")
    assert alice.read_line() == "*** You joined #dev; nobody else is here."
    assert alice.read_line() == "*** #dev has no topic."
    bob.send_line("/join dev")  # the # is optional
    assert bob.read_line() == "*** You joined #dev; 1 other here."
    alice.read_until(join_announcement("bob", "#dev"))
    alice.send_line("in dev")
    bob.read_until("[#dev] <alice> in dev\r\n")
    # carol, only in #lobby, gets nothing from #dev; a message in #lobby
    # afterwards proves she has read everything that was sent before it.
    bob.send_line("/join #lobby")
    assert bob.read_line() == "*** You are now talking in #lobby."
    bob.send_line("back in lobby")
    carol.read_until("[#lobby] <bob> back in lobby\r\n")
    assert "in dev" not in carol.text()
    assert "#dev" not in carol.text()


def test_part(server):
    """/part leaves the current room with a reason that its members see, and switches to another room."""
    alice, bob = server.users("alice", "bob")
    alice.send_line("/join #dev")
    alice.read_until("#dev has no topic.\r\n")
    bob.send_line("/join #dev")
    bob.read_until("#dev has no topic.\r\n")
    alice.read_until(join_announcement("bob", "#dev"))
    bob.send_line("/part gone fishing")
    assert bob.read_line() == "*** You left #dev."
    assert bob.read_line() == "*** You are now talking in #lobby."
    alice.read_until("*** bob left #dev (gone fishing)\r\n")
    bob.send_line("/part #lobby")
    assert bob.read_line() == "*** You left #lobby."
    assert bob.read_line() == "*** You are in no room now: /join one."
    # alice is still in #lobby too
    alice.read_until("*** bob left #lobby\r\n")
    bob.send_line("anyone?")
    assert bob.read_line() == "*** You are not in a room: /join one first."
    bob.send_line("/part #nowhere")
    assert bob.read_line() == "*** There is no room called #nowhere."


def test_rooms(server):
    """/rooms lists every room with its number of members and its topic."""
    alice, bob = server.users("alice", "bob")
    bob.send_line("/join #dev")
    bob.read_until("#dev has no topic.\r\n")
    bob.send_line("/topic code talk")
    bob.read_until("*** You set the topic of #dev: code talk\r\n")
    alice.send_line("/rooms")
    assert alice.read_line() == "*** 2 rooms:"
    assert alice.read_line() == "***   #dev (1): code talk"
    assert alice.read_line() == "***   #lobby (2)"


def test_who(server):
    """/who lists the people in the current room, or in a named one, sorted."""
    alice, _, bob = server.users("alice", "Carol", "bob")
    alice.send_line("/who")
    assert alice.read_line() == "*** In #lobby (3): @alice, bob, Carol"  # @: operator
    bob.send_line("/join #dev")
    bob.read_until("#dev has no topic.\r\n")
    alice.send_line("/who #dev")
    assert alice.read_line() == "*** In #dev (1): @bob"
    alice.send_line("/who #nope")
    assert alice.read_line() == "*** There is no room called #nope."


def test_topic(server):
    """/topic sets the topic, which the room's members see change, and /topic alone shows it."""
    alice, bob = server.users("alice", "bob")
    alice.send_line("/topic all about cats")
    assert alice.read_line() == "*** You set the topic of #lobby: all about cats"
    bob.read_until("*** alice set the topic of #lobby: all about cats\r\n")
    bob.send_line("/topic")
    assert bob.read_line() == "*** Topic of #lobby: all about cats (set by alice)"
    # A newcomer sees it on joining.
    carol = server.connect("carol")
    got = carol.sign_in("carol").decode()
    assert got.endswith("*** Topic of #lobby: all about cats (set by alice)\r\n")


def test_msg(server):
    """/msg sends a private message that only its target sees as "[private] <nick> text", confirmed to the sender."""
    alice, bob, carol = server.users("alice", "bob", "carol")
    alice.send_line("/msg bob psst, a secret")
    assert alice.read_line() == "[to bob] <alice> psst, a secret"
    bob.read_until("[private] <alice> psst, a secret\r\n")
    alice.send_line("/msg BOB case does not matter")
    assert alice.read_line() == "[to bob] <alice> case does not matter"
    bob.read_until("[private] <alice> case does not matter\r\n")
    alice.send_line("/msg nobody hello?")
    assert alice.read_line() == "*** Nobody is called nobody."
    alice.send_line("/msg bob")
    assert alice.read_line() == "*** Usage: /msg NICK text"
    alice.send_line("/msg")
    assert alice.read_line() == "*** Usage: /msg NICK text"
    alice.send_line("public now")
    carol.read_until("[#lobby] <alice> public now\r\n")
    assert "secret" not in carol.text()


def test_me(server):
    """/me sends an action that the room sees as "[#room] * nick action"."""
    alice, bob = server.users("alice", "bob")
    alice.send_line("/me waves hello")
    bob.read_until("[#lobby] * alice waves hello\r\n")
    alice.send_line("/me")
    assert alice.read_line() == "*** Usage: /me action"


def test_nick_change(server):
    """/nick renames the user, and everyone sharing a room sees the change."""
    alice, bob = server.users("alice", "bob")
    alice.send_line("/nick alicia")
    assert alice.read_line() == "*** You are now known as alicia."
    bob.read_until("*** alice is now known as alicia\r\n")
    alice.send_line("hi again")
    bob.read_until("[#lobby] <alicia> hi again\r\n")
    alice.send_line("/nick BOB")
    assert alice.read_line() == "*** The nickname BOB is taken."
    alice.send_line("/nick 9lives")
    assert alice.read_line() == "*** A nickname cannot start with a digit or '-'."
    alice.send_line("/nick Alicia")  # only the case changes
    assert alice.read_line() == "*** You are now known as Alicia."
    bob.read_until("*** alicia is now known as Alicia\r\n")
    # the old nickname is free
    server.user("alice")


def test_help(server):
    """/help lists every command."""
    alice = server.user("alice")
    alice.send_line("/help")
    assert alice.read_line() == "*** Commands:"
    got = alice.read_until("say a line that starts with /\r\n").decode()
    for usage in ("/join #room", "/part [#room] [reason]", "/rooms", "/who [#room]",
                  "/topic [text]", "/msg NICK text", "/me action", "/nick NEW", "/help",
                  "/quit [reason]", "//text"):
        assert re.search(rf"^\*\*\*   {re.escape(usage)} ", got, re.M), usage


def test_double_slash_says_a_slash_line(server):
    """A line starting with // is said with one slash, not run as a command."""
    alice = server.user("alice")
    bob = server.user("bob")
    alice.send_line("//join is a command")
    bob.read_until("[#lobby] <alice> /join is a command\r\n")


def test_unknown_command(server):
    """An unknown command gets an error naming it and pointing to /help, and is not said to the room."""
    alice, bob = server.users("alice", "bob")
    alice.send_line("/frobnicate now")
    assert alice.read_line() == "*** Unknown command /frobnicate; /help lists the commands."
    alice.send_line("/JOIN #Caps")  # commands are not case-sensitive
    assert alice.read_line() == "*** You joined #Caps; nobody else is here."
    alice.send_line("/join #lobby")
    alice.read_until("You are now talking in #lobby.")
    alice.send_line("after")
    bob.read_until("[#lobby] <alice> after\r\n")
    assert "frobnicate" not in bob.text()


def test_quit_with_reason(server):
    """/quit closes the connection and the room sees the quit with its reason."""
    alice, bob = server.users("alice", "bob")
    alice.send_line("/quit see you later")
    assert alice.read_until_closed() == b"*** Closing the connection: Quit: see you later.\r\n"
    bob.read_until("*** alice quit (Quit: see you later)\r\n")
    carol = server.user("carol")
    bob.read_until(join_announcement("carol"))
    carol.send(b"/quit\nsaid after quitting\n")
    carol.read_until_closed()
    bob.read_until("*** carol quit (Quit)\r\n")
    dave = server.user("dave")
    dave.send_line("marker")
    bob.read_until("[#lobby] <dave> marker\r\n")
    assert "said after quitting" not in bob.text()


def test_blank_lines_are_ignored(server):
    """Blank lines said to a room are ignored rather than sent to others."""
    alice = server.user("alice")
    bob = server.user("bob")
    alice.send(b"\n   \n\r\nafter blanks\n")
    bob.read_until("[#lobby] <alice> after blanks\r\n")
    assert "<alice>  " not in bob.text() and "<alice> \r\n" not in bob.text()


def test_closed_socket_quits_once_and_frees_nick(server):
    """A client that closes its socket makes the others see exactly one quit notice, and its nick is free at once."""
    alice = server.user("alice")
    carol = server.user("carol")
    alice.read_until(join_announcement("carol"))
    carol.send(b"half a li")  # an unfinished line, then FIN
    carol.close()
    alice.read_until("*** carol quit (Connection closed)\r\n")
    again = server.user("carol")  # the nick is free again at once
    alice.read_until(join_announcement("carol"))
    again.send_line("marker")
    alice.read_until("[#lobby] <carol> marker\r\n")
    assert alice.text().count("carol quit") == 1
    assert "half a li" not in alice.text()


def test_reset_socket_quits_once_and_frees_nick(server):
    """A client that resets its connection in the middle of a line makes the others see exactly one quit notice, and its nick is free at once."""
    alice = server.user("alice")
    carol = server.user("carol")
    alice.read_until(join_announcement("carol"))
    carol.send(b"half a li")
    carol.reset()
    alice.read_until(re.compile(rb"\*\*\* carol quit \(Connection (reset|closed)\)\r\n"))
    again = server.user("carol")
    again.send_line("marker")
    alice.read_until("[#lobby] <carol> marker\r\n")
    assert alice.text().count("carol quit") == 1
    assert "half a li" not in alice.text()


def test_quit_reaches_every_room_once(server):
    """Someone sharing several rooms with a user who leaves sees one quit notice, not one per room."""
    alice = server.user("alice")
    bob = server.user("bob")
    for client in (alice, bob):
        client.send_line("/join #two")
        client.read_until("#two")
    alice.read_until(join_announcement("bob", "#two"))
    bob.close()
    alice.read_until("*** bob quit (Connection closed)\r\n")
    alice.send_line("/who #lobby")
    alice.read_until("*** In #lobby (1): @alice\r\n")
    assert alice.text().count("bob quit") == 1


def test_name_option(start_server):
    """--name sets the server name in the greeting."""
    server = start_server("--name", "Tea Room")
    client = server.connect()
    assert client.read_line() == "*** Welcome to Tea Room! 0 people online."


def test_default_room_option(start_server):
    """--default-room puts everybody in that room on signing in."""
    server = start_server("--default-room", "#hall")
    alice = server.connect("alice")
    got = alice.sign_in("alice", room="#hall").decode()
    assert "*** You joined #hall; nobody else is here." in got
    bob = server.user("bob", room="#hall")
    bob.send_line("hi hall")
    alice.read_until("[#hall] <bob> hi hall\r\n")
    alice.send_line("/rooms")
    assert alice.read_line() == "*** 1 room:"
    assert alice.read_line() == "***   #hall (2)"



def test_topic_is_locked_to_operators(server):
    """In a new room only its operator (its creator) may set the topic; others get a reason."""
    alice, bob = server.users("alice", "bob")
    bob.send_line("/topic bob's topic")
    assert bob.read_line() == "*** You are not an operator of #lobby."
    alice.send_line("/topic alice's topic")
    assert alice.read_line() == "*** You set the topic of #lobby: alice's topic"
    bob.read_until("*** alice set the topic of #lobby: alice's topic\r\n")
    assert "bob's topic" not in alice.text()


def test_kick(server):
    """An operator's /kick removes someone from the room, and everyone in it, the kicked included, is told."""
    alice, bob, carol = server.users("alice", "bob", "carol")
    bob.send_line("/kick carol")
    assert bob.read_line() == "*** You are not an operator of #lobby."
    alice.send_line("/kick bob be nice")
    assert alice.read_line() == "*** You kicked bob from #lobby."
    bob.read_until("*** alice kicked bob from #lobby (be nice)\r\n")
    carol.read_until("*** alice kicked bob from #lobby (be nice)\r\n")
    bob.send_line("still talking?")
    assert bob.read_line() == "*** You are not in a room: /join one first."
    bob.send_line("/join #lobby")
    bob.read_until("*** You joined #lobby; 2 others here.\r\n")
    carol.read_until(join_announcement("bob"))


def test_invite_and_away(server):
    """/invite tells only the invited person how to join, and /away is shown to whoever messages the away user."""
    alice, bob = server.users("alice", "bob")
    alice.send_line("/join #dev")
    alice.read_until("*** #dev has no topic.\r\n")
    alice.send_line("/invite bob")
    assert alice.read_line() == "*** You invited bob to #dev."
    bob.read_until("*** alice invites you to #dev (/join #dev)\r\n")
    bob.send_line("/away out for lunch")
    assert bob.read_line() == "*** You are marked away: out for lunch"
    alice.send_line("/msg bob are you there?")
    assert alice.read_line() == "[to bob] <alice> are you there?"
    assert alice.read_line() == "*** bob is away: out for lunch"
    bob.read_until("[private] <alice> are you there?\r\n")
    bob.send_line("/away")
    assert bob.read_line() == "*** You are no longer marked away."
