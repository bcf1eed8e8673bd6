"""
IRC extensions of batch A over fake transports: LIST filters (ELIST), invite
exceptions (+I), bot mode (+B), SETNAME, STATUSMSG, UTF8ONLY, WALLOPS,
HELP/HELPOP, the mute extban (m:) and no-CTCP (+C); the room rules hold for
line users too.
"""

from __future__ import annotations

import pytest

from chatservice.core.hub import REALNAME_MAX_LENGTH
from chatservice.core.operators import Operators
from chatservice.frontends.irc.commands import COMMANDS
from chatservice.frontends.irc.commands.helptext import TOPICS
from irc_helpers import MixedServer, cheap_hash


@pytest.fixture
def server():
    return MixedServer()


def _listed(client, command: str) -> set[str]:
    return {line.split()[3] for line in client.said(command) if " 322 " in line}


# ELIST

def test_list_masks(server):
    """LIST takes masks (M) and negated masks (N), comma-separated."""
    alice = server.register("alice")
    server.joined("#chan1", alice)
    server.joined("#chan2", alice)
    bob = server.register("bob")
    assert _listed(bob, "LIST *an1") == {"#chan1"}
    assert _listed(bob, "LIST #c*n2") == {"#chan2"}
    assert _listed(bob, "LIST #CH*") == {"#chan1", "#chan2"}
    assert _listed(bob, "LIST !*an1") == {"#chan2"}
    assert _listed(bob, "LIST !#ch*") == set()
    assert _listed(bob, "LIST #chan1,#chan2") == {"#chan1", "#chan2"}


def test_list_user_counts(server):
    """LIST <n and >n filter on the number of members (U)."""
    alice, bob = server.register("alice"), server.register("bob")
    server.joined("#one", alice)
    server.joined("#two", alice, bob)
    carol = server.register("carol")
    assert _listed(carol, "LIST >1") == {"#two"}
    assert _listed(carol, "LIST <2") == {"#one"}
    assert _listed(carol, "LIST >0,<100") == {"#one", "#two"}
    assert _listed(carol, "LIST <1") == set()


def test_list_creation_and_topic_time(server):
    """C<n/C>n filter on minutes since creation, T<n/T>n on minutes since the topic was set."""
    alice = server.register("alice")
    server.joined("#old", alice)
    alice.line("TOPIC #old :hello")
    server.clock.advance(180)
    server.joined("#new", alice)
    server.clock.advance(30)
    bob = server.register("bob")
    assert _listed(bob, "LIST C>2") == {"#old"}
    assert _listed(bob, "LIST C<2") == {"#new"}
    assert _listed(bob, "LIST T>2") == {"#old"}
    assert _listed(bob, "LIST T<2") == set()


@pytest.mark.parametrize("junk", [">x", "<", "C<", "T>-1", ">" + "9" * 50, "C=3"])
def test_list_bad_filter_lists_nothing(server, junk):
    """A malformed filter lists no channel (rather than all), with the usual start and end."""
    alice = server.register("alice")
    server.joined("#chan", alice)
    lines = alice.said(f"LIST {junk}")
    assert [line.split()[1] for line in lines] == ["321", "323"]


def test_list_hides_secret_rooms(server):
    """Masks do not reveal a secret room to those outside it."""
    alice = server.register("alice")
    server.joined("#hidden", alice)
    alice.line("MODE #hidden +s")
    bob = server.register("bob")
    assert _listed(bob, "LIST #hid*") == set()
    assert _listed(alice, "LIST #hid*") == {"#hidden"}


# Invite exceptions

def test_invite_exception_lets_in(server):
    """+I lets a matching person into an invite-only room; others still get 473."""
    chanop = server.register("chanop")
    server.joined("#chan", chanop)
    chanop.said("MODE #chan +i")
    assert chanop.said("MODE #chan +I bar") == [
        ":chanop!~chanop@1.2.3.4 MODE #chan +I bar!*@*"]
    bar, baz = server.register("bar"), server.register("baz")
    assert bar.said("JOIN #chan")[0].startswith(":bar!~bar@1.2.3.4 JOIN #chan")
    assert baz.said("JOIN #chan")[0].startswith(":chatservice 473 baz #chan")


def test_invite_exception_list_and_removal(server):
    """MODE +I alone lists the exceptions (346, 347); -I removes one."""
    server.clock.advance(1000)
    chanop = server.register("chanop")
    server.joined("#chan", chanop)
    chanop.said("MODE #chan +I bar!*@*")
    assert chanop.said("MODE #chan +I") == [
        ":chatservice 346 chanop #chan bar!*@* chanop 1000",
        ":chatservice 347 chanop #chan :End of Channel Invite Exception List"]
    assert chanop.said("MODE #chan -I BAR!*@*") == [
        ":chanop!~chanop@1.2.3.4 MODE #chan -I BAR!*@*"]
    assert chanop.said("MODE #chan +I")[0].split()[1] == "347"


def test_invite_exception_needs_operator(server):
    """Only a channel operator may set +I."""
    chanop, bob = server.room("#chan", "chanop", "bob")
    assert bob.said("MODE #chan +I bob")[0].split()[1] == "482"


def test_invite_exception_for_line_users(server):
    """A line user matching +I joins an invite-only room too."""
    chanop = server.register("chanop")
    server.joined("#chan", chanop)
    chanop.said("MODE #chan +i")
    carol = server.sign_in_line("carol")
    carol.line("/join #chan")
    assert any("invite" in line for line in carol.take())
    chanop.said("MODE #chan +I carol!*@*")
    carol.line("/join #chan")
    assert server.hub.find_room("#chan").is_member(server.hub.find_user("carol"))


# Bot mode

def test_bot_mode_whois_and_umode(server):
    """MODE +B marks a bot: echoed, shown in MODE, and WHOIS answers 335."""
    bot = server.register("botnick")
    assert bot.said("MODE botnick +B") == [":botnick!~botnick@1.2.3.4 MODE botnick +B"]
    assert bot.said("MODE botnick") == [":chatservice 221 botnick +B"]
    user = server.register("usernick")
    assert ":chatservice 335 usernick botnick :is a bot" in user.said("WHOIS botnick")
    bot.said("MODE botnick -B")
    assert not any(" 335 " in line for line in user.said("WHOIS botnick"))


def test_bot_tag_on_messages(server):
    """A bot's messages carry the bot tag for clients with message-tags, and only for them."""
    bot = server.register("botnick", caps=("echo-message", "message-tags"))
    bot.said("MODE botnick +B")
    tagged = server.register("tagged", caps=("message-tags",))
    plain = server.register("plain")
    server.joined("#chan", bot, tagged, plain)
    bot.line("PRIVMSG #chan :beep boop")
    assert tagged.take()[0].startswith("@bot;msgid=")
    assert plain.take() == [":botnick!~botnick@1.2.3.4 PRIVMSG #chan :beep boop"]
    assert bot.take()[0].startswith("@bot;msgid=")
    bot.line("PRIVMSG tagged :hi")
    assert tagged.take()[0].startswith("@bot;msgid=")


def test_bot_tag_on_tagmsg(server):
    """A bot's TAGMSG carries the bot tag too."""
    bot = server.register("botnick")
    bot.said("MODE botnick +B")
    tagged = server.register("tagged", caps=("message-tags",))
    bot.line("@+typing=active TAGMSG tagged")
    line = tagged.take()[0]
    assert line.split(" ")[0].split(";")[-1] == "bot"


# SETNAME

def test_setname_told_to_those_with_the_cap(server):
    """SETNAME comes back to the sender and reaches neighbours with setname, nobody else."""
    foo, bar, baz = (server.register("foo", caps=("setname",)),
                     server.register("bar", caps=("setname",)), server.register("baz"))
    server.joined("#chan", foo, bar, baz)
    assert foo.said("SETNAME :New Name") == [":foo!~foo@1.2.3.4 SETNAME :New Name"]
    assert bar.take() == [":foo!~foo@1.2.3.4 SETNAME :New Name"]
    assert baz.take() == []
    assert ":chatservice 311 baz foo ~foo 1.2.3.4 * :New Name" in baz.said("WHOIS foo")


@pytest.mark.parametrize("name", ["", "   ", "\x1b\x00", "x" * (REALNAME_MAX_LENGTH + 1)])
def test_setname_refuses_bad_names(server, name):
    """An empty (once cleaned) or too long real name gets FAIL SETNAME INVALID_REALNAME."""
    foo = server.register("foo", caps=("setname",))
    lines = foo.said(f"SETNAME :{name}")
    assert lines == [f":chatservice FAIL SETNAME INVALID_REALNAME :A real name has 1 to "
                     f"{REALNAME_MAX_LENGTH} characters"]


def test_setname_cleans_control_characters(server):
    """Control characters and whole escape sequences are removed from a new real name."""
    foo = server.register("foo", caps=("setname",))
    foo.said("SETNAME :A\x1b[31mB")
    assert server.hub.find_user("foo").realname == "AB"


# STATUSMSG

def test_statusmsg_reaches_operators_only(server):
    """PRIVMSG @#chan reaches the channel's operators only, addressed to @#chan."""
    chanop, joe, schmoe = server.room("#chan", "chanop", "joe", "schmoe")
    chanop.said("MODE #chan +o schmoe")
    joe.take()
    schmoe.take()
    assert schmoe.said("PRIVMSG @#chan :for ops") == []
    assert chanop.take() == [":schmoe!~schmoe@1.2.3.4 PRIVMSG @#chan :for ops"]
    assert joe.take() == []
    assert joe.said("PRIVMSG @#chan :me too") == []
    assert chanop.take() == [":joe!~joe@1.2.3.4 PRIVMSG @#chan :me too"]


def test_statusmsg_voice(server):
    """PRIVMSG +#chan reaches operators and voiced members."""
    chanop, joe, voiced = server.room("#chan", "chanop", "joe", "voiced")
    chanop.said("MODE #chan +v voiced")
    joe.take()
    voiced.take()
    chanop.said("NOTICE +#chan :heads up")
    assert voiced.take() == [":chanop!~chanop@1.2.3.4 NOTICE +#chan :heads up"]
    assert joe.take() == []


def test_statusmsg_reaches_a_line_operator(server):
    """A line user who runs the room gets a status message marked @#room; other line users nothing."""
    carol = server.sign_in_line("carol")
    dave = server.sign_in_line("dave")
    alice = server.register("alice")
    alice.line("JOIN #lobby")
    carol.take()
    dave.take()
    alice.line("PRIVMSG @#lobby :ops only")
    assert carol.take() == ["[@#lobby] <alice> ops only"]
    assert dave.take() == []


def test_statusmsg_still_obeys_room_rules(server):
    """A status message from outside a +n room is refused like any other."""
    server.room("#chan", "chanop")
    outsider = server.register("outsider")
    assert outsider.said("PRIVMSG @#chan :hi")[0].split()[1] == "404"


# UTF8ONLY

def test_invalid_utf8_refused(server):
    """A line that is not UTF-8 gets FAIL <command> INVALID_UTF8 and is not relayed."""
    alice, bob = server.room("#chan", "alice", "bob")
    alice.send(b"PRIVMSG #chan :caf\xe9\r\n")
    assert alice.take() == [
        ":chatservice FAIL PRIVMSG INVALID_UTF8 :Your message was not valid UTF-8 and was dropped"]
    assert bob.take() == []


def test_invalid_utf8_before_registration(server):
    """A USER line with a non-UTF-8 real name is refused; a valid one then registers."""
    client = server.connect()
    client.line("NICK bar")
    client.send(b"USER u 0 * :i\xe8rc\xe9\r\n")
    assert client.take()[0].startswith(":chatservice FAIL USER INVALID_UTF8 ")
    client.line("USER u 0 * :ircé")
    assert any(" 001 bar " in line for line in client.take())


def test_invalid_utf8_in_tags_refused(server):
    """Invalid UTF-8 in the tags refuses the line too."""
    alice, bob = server.room("#chan", "alice", "bob")
    alice.send(b"@+x=\xff PRIVMSG #chan :hi\r\n")
    assert alice.take()[0].startswith(":chatservice FAIL PRIVMSG INVALID_UTF8 ")
    assert bob.take() == []


# WALLOPS

@pytest.fixture
def oper_server():
    return MixedServer(operators=Operators({"root": cheap_hash("hunter2")}))


def test_wallops_reaches_plus_w(oper_server):
    """WALLOPS from an operator reaches +w users (and the sender), not the others."""
    oper, quiet, loud = (oper_server.register(n) for n in ("oper", "quiet", "loud"))
    assert loud.said("MODE loud +w") == [":loud!~loud@1.2.3.4 MODE loud +w"]
    oper.said("OPER root hunter2")
    assert oper.said("WALLOPS :hi everyone") == [":oper!~oper@1.2.3.4 WALLOPS :hi everyone"]
    assert loud.take() == [":oper!~oper@1.2.3.4 WALLOPS :hi everyone"]
    assert quiet.take() == []


def test_wallops_needs_operator(oper_server):
    """WALLOPS from anyone else gets 481."""
    nick1 = oper_server.register("nick1")
    assert nick1.said("WALLOPS :hi") == [
        ":chatservice 481 nick1 :Permission Denied - You're not an IRC operator"]


# HELP / HELPOP

def test_every_command_has_a_help_topic():
    """Every IRC command has a HELP topic, and every topic is a command."""
    assert set(COMMANDS) == set(TOPICS)


@pytest.mark.parametrize("command", ["HELP", "HELPOP"])
def test_help_topic(server, command):
    """HELP and HELPOP on a command answer 704, 705s and 706 naming the subject."""
    nick = server.register("nick")
    lines = nick.said(f"{command} privmsg")
    codes = [line.split()[1] for line in lines]
    assert codes[0] == "704" and codes[-1] == "706" and set(codes[1:-1]) == {"705"}
    assert all(line.split()[3] == "PRIVMSG" for line in lines)


def test_help_unknown_and_hostile(server):
    """An unknown or hostile subject gets one 524."""
    nick = server.register("nick")
    assert nick.said("HELPOP THISISNOTACOMMAND") == [
        ":chatservice 524 nick THISISNOTACOMMAND :No help available on this topic"]
    assert len(nick.said("HELP " + "x" * 400)) == 1


# Mute extban

def test_mute_extban(server):
    """+b m:mask lets the person join but not speak; voice overrides it; -b lifts it."""
    chanop = server.register("chanop")
    server.joined("#chan", chanop)
    assert chanop.said("MODE #chan +b m:BAR") == [
        ":chanop!~chanop@1.2.3.4 MODE #chan +b m:BAR!*@*"]
    bar = server.register("bar")
    assert bar.said("JOIN #chan")[0].startswith(":bar!~bar@1.2.3.4 JOIN")
    chanop.take()
    assert bar.said("MODE #chan +b")[0] == ":chatservice 367 bar #chan m:BAR!*@* chanop 0"
    assert bar.said("PRIVMSG #chan :hi")[0].split()[1] == "404"
    assert chanop.take() == []
    chanop.said("MODE #chan +v bar")
    bar.take()
    assert bar.said("PRIVMSG #chan :voiced") == []
    chanop.said("MODE #chan -v bar")
    chanop.said("MODE #chan -b m:bar!*@*")
    bar.take()
    assert bar.said("PRIVMSG #chan :free") == []
    assert chanop.take() == [":bar!~bar@1.2.3.4 PRIVMSG #chan :free"]


def test_mute_extban_mutes_line_users(server):
    """A line user matching a mute may not speak in the room either."""
    chanop = server.register("chanop")
    chanop.line("JOIN #lobby")
    carol = server.sign_in_line("carol")
    chanop.take()
    chanop.said("MODE #lobby +b m:carol")
    carol.take()
    carol.line("hello")
    assert chanop.take() == []
    assert carol.take() != []


# no-CTCP

def test_no_ctcp_mode(server):
    """+C refuses CTCP requests with 404 but lets actions through."""
    chanop, user = server.room("#chan", "chanop", "user")
    user.line("PRIVMSG #chan :\x01PING 1\x01")
    assert chanop.take() == [":user!~user@1.2.3.4 PRIVMSG #chan :\x01PING 1\x01"]
    assert chanop.said("MODE #chan +C") == [":chanop!~chanop@1.2.3.4 MODE #chan +C"]
    user.take()
    assert user.said("PRIVMSG #chan :\x01ACTION waves\x01") == []
    assert user.said("PRIVMSG #chan :\x01PING 12345\x01")[0].startswith(
        ":chatservice 404 user #chan ")
    assert chanop.take() == [":user!~user@1.2.3.4 PRIVMSG #chan :\x01ACTION waves\x01"]


# Ban exceptions

def test_ban_exception_lets_a_banned_person_in(server):
    """+e lets someone matching a ban join; MODE +e alone lists the exceptions (348, 349)."""
    chanop = server.register("chanop")
    server.joined("#chan", chanop)
    chanop.said("MODE #chan +b ba*!*@*")
    bar = server.register("Bar")
    assert bar.said("JOIN #chan")[0].split()[1] == "474"
    assert chanop.said("MODE #chan +e *ar!*@*") == [
        ":chanop!~chanop@1.2.3.4 MODE #chan +e *ar!*@*"]
    assert bar.said("JOIN #chan")[0].startswith(":Bar!~Bar@1.2.3.4 JOIN #chan")
    lines = chanop.said("MODE #chan +e")
    assert [line.split()[1] for line in lines] == ["348", "349"]
    assert lines[0].split()[4] == "*ar!*@*"


def test_mute_exception(server):
    """+e m:mask frees a matching person from a mute, and only from the mute."""
    chanop = server.register("chanop")
    server.joined("#chan", chanop)
    chanop.said("MODE #chan +b m:qux")
    qux = server.register("qux")
    server.joined("#chan", qux)
    chanop.take()
    assert qux.said("PRIVMSG #chan :hi")[0].split()[1] == "404"
    chanop.said("MODE #chan +e m:*!*qux@*")
    qux.take()
    assert qux.said("PRIVMSG #chan :thanks") == []
    assert chanop.take() == [":qux!~qux@1.2.3.4 PRIVMSG #chan :thanks"]


def test_invitation_overrides_the_limit(server):
    """An invited person may join a full room (+l); others still get 471."""
    chanop = server.register("chanop")
    server.joined("#chan", chanop)
    chanop.said("MODE #chan +l 1")
    user2, user3 = server.register("user2"), server.register("user3")
    assert user2.said("JOIN #chan")[0].split()[1] == "471"
    chanop.said("INVITE user2 #chan")
    assert user2.said("JOIN #chan")[0].startswith(":user2!~user2@1.2.3.4 JOIN #chan")
    assert user3.said("JOIN #chan")[0].split()[1] == "471"
