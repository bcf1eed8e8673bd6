"""
IRC accounts without sockets: SASL PLAIN, chunking, account-notify,
account-tag, extended-join, protected nicks and command order while a
password check is pending, on a hub with in-memory accounts and a fake clock.
"""

from __future__ import annotations

import base64

import pytest
from twisted.internet.defer import Deferred

from chatservice.core.accounts import Accounts
from chatservice.store.accounts import MemoryAccounts
from irc_helpers import MixedServer


def b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


class PendingRuns:
    """Slow work (password hashing) held until the test lets it finish."""

    def __init__(self):
        self.waiting: list[tuple[Deferred, object, tuple]] = []

    def __call__(self, function, *args):
        deferred = Deferred()
        self.waiting.append((deferred, function, args))
        return deferred

    def finish_all(self):
        while self.waiting:
            deferred, function, args = self.waiting.pop(0)
            deferred.callback(function(*args))


@pytest.fixture
def chat():
    server = MixedServer()
    server.hub.use_accounts(Accounts(MemoryAccounts(), server.clock))
    accounts = server.hub.accounts
    accounts.register("alice", "correct horse")
    accounts.register("bob", "battery staple")
    return server


def login(chat, nick, password, caps=()):
    client = chat.connect()
    client.line("CAP LS 302")
    client.line("CAP REQ :" + " ".join(("sasl",) + caps))
    client.line("AUTHENTICATE PLAIN")
    client.line("AUTHENTICATE " + b64(f"\0{nick}\0{password}"))
    client.line("CAP END")
    client.line(f"NICK {nick}")
    client.line(f"USER {nick} 0 * :{nick.title()} Person")
    client.nick = nick
    return client


def test_plain_login_numerics(chat):
    """PLAIN answers AUTHENTICATE +, then 900 with the mask and account, then 903."""
    client = chat.connect()
    client.line("CAP REQ :sasl")
    client.take()
    assert client.said("AUTHENTICATE PLAIN") == ["AUTHENTICATE +"]
    lines = client.said("AUTHENTICATE " + b64("\0alice\0correct horse"))
    assert lines == [":chatservice 900 * *!*@1.2.3.4 alice :You are now logged in as alice",
                     ":chatservice 903 * :SASL authentication successful"]
    assert client.said("AUTHENTICATE PLAIN") == [
        ":chatservice 907 * :You have already authenticated using SASL"]


def test_chunks_of_400(chat):
    """An answer of exactly 400 bytes waits for AUTHENTICATE + before it is checked."""
    password = "x" * 288
    chat.hub.accounts.register("carol", password)
    payload = b64(f"carol\0carol\0{password}")
    assert len(payload) == 400
    client = chat.connect()
    client.line("CAP REQ :sasl")
    client.line("AUTHENTICATE PLAIN")
    client.take()
    assert client.said("AUTHENTICATE " + payload) == []
    assert " 903 " in client.said("AUTHENTICATE +")[-1]


def test_authenticate_needs_the_cap(chat):
    """AUTHENTICATE without the sasl capability fails with 904 and starts nothing."""
    client = chat.connect()
    assert " 904 " in client.said("AUTHENTICATE PLAIN")[0]


def test_commands_wait_for_a_pending_check(chat):
    """Commands sent while a password is hashed are answered after its verdict, in order."""
    runs = PendingRuns()
    chat.hub.accounts.run = runs
    client = chat.connect()
    client.line("CAP REQ :sasl")
    client.line("AUTHENTICATE PLAIN")
    client.take()
    client.line("AUTHENTICATE " + b64("\0alice\0correct horse"))
    client.line("PING :after")
    assert client.take() == []
    runs.finish_all()
    lines = client.take()
    assert [line.split()[1] for line in lines] == ["900", "903", "PONG"]


def test_registration_during_sasl_aborts_it(chat):
    """Ending registration in the middle of an exchange aborts it with 906 and signs in."""
    client = chat.connect()
    client.line("CAP REQ :sasl")
    client.line("AUTHENTICATE PLAIN")
    client.line("NICK zed")
    client.line("USER zed 0 * :Zed")
    lines = client.said("CAP END")
    assert " 906 " in lines[0] and " 001 zed " in lines[1]


def test_account_notify_tag_and_extended_join(chat):
    """Neighbours with the caps see ACCOUNT, account= tags and JOIN with account and realname."""
    watcher = chat.register("watcher", caps=("account-notify", "account-tag", "extended-join"))
    plain = chat.register("plain")
    chat.joined("#room", watcher, plain)
    alice = login(chat, "alice", "correct horse")
    alice.line("JOIN #room")
    assert watcher.take() == ["@account=alice :alice!~alice@1.2.3.4 JOIN #room alice :Alice Person"]
    assert plain.take() == [":alice!~alice@1.2.3.4 JOIN #room"]
    alice.line("PRIVMSG #room :hello")
    assert watcher.take() == ["@account=alice :alice!~alice@1.2.3.4 PRIVMSG #room :hello"]
    assert plain.take() == [":alice!~alice@1.2.3.4 PRIVMSG #room :hello"]
    plain.line("JOIN #room")
    plain.line("PRIVMSG #room :hi")
    assert watcher.take() == [":plain!~plain@1.2.3.4 PRIVMSG #room :hi"]
    # Logging in after registration: the room is told.
    plain.take()
    plain.line("CAP REQ :sasl")
    plain.line("AUTHENTICATE PLAIN")
    plain.line("AUTHENTICATE " + b64("\0bob\0battery staple"))
    assert watcher.take() == ["@account=bob :plain!~plain@1.2.3.4 ACCOUNT bob"]


def test_protected_nick_on_nick_change(chat):
    """NICK to a registered nick is refused with the reason, unless logged in to its account."""
    other = chat.register("other")
    lines = other.said("NICK Alice")
    assert lines == [":chatservice 433 other Alice :The nickname Alice is registered; "
                     "log in to the account alice to use it."]
    alice = login(chat, "bob", "battery staple")
    alice.take()
    assert alice.said("NICK Bob_") and alice.said("NICK bob")[0].endswith("NICK bob")


def test_ghost_is_taken_back_on_login(chat):
    """A SASL login whose nick is held by someone not logged in signs that ghost out."""
    ghost = chat.register("dora")
    chat.hub.accounts.register("dora", "correct horse")
    owner = login(chat, "dora", "correct horse")
    assert any(" 001 dora " in line for line in owner.take())
    assert any("Ghosted by the owner of dora" in line for line in ghost.take())


def test_line_front_end_cannot_take_a_registered_nick(chat):
    """A line-chat user is refused a registered nickname with the reason."""
    client = chat.connect_line()
    client.line("alice")
    assert any("registered" in line for line in client.take())


def test_line_password_prompt_logs_in(chat):
    """A registered nick asks for the password; the right one signs in logged in, a wrong one asks again."""
    client = chat.connect_line()
    client.take()
    client.line("alice")
    assert client.take() == [
        "*** This nickname is registered. Password (or an empty line for another nickname):"]
    client.line("wrong horse")
    lines = client.take()
    assert lines[0] == "*** Wrong account name or password."
    client.line("correct horse")
    lines = client.take()
    assert "*** Hello alice! Type /help for the commands." in lines
    assert "*** You are logged in as alice." in lines
    assert chat.hub.find_user("alice").account == "alice"


def test_line_empty_password_goes_back_to_nick(chat):
    """An empty line instead of the password goes back to the nickname prompt."""
    client = chat.connect_line()
    client.line("alice")
    client.take()
    client.line("")
    assert client.take()[-1].startswith("*** Choose a nickname")
    client.line("zoe")
    assert "*** Hello zoe! Type /help for the commands." in client.take()


def test_line_telnet_echo_off_for_the_password(chat):
    """A telnet client is told WILL ECHO before the password and WONT ECHO after it."""
    client = chat.connect_line()
    client.protocol.dataReceived(b"\xff\xfd\x03")  # a telnet client's DO SUPPRESS-GO-AHEAD
    client.raw()
    client.transport.clear()
    client.line("alice")
    assert client.raw().endswith(b"\xff\xfb\x01")
    client.transport.clear()
    client.line("correct horse")
    assert client.raw().startswith(b"\xff\xfc\x01\r\n")


def test_line_account_commands(chat):
    """/register warns on a plain port and logs in; /logout, /login, /passwd, /group and /ghost work."""
    client = chat.sign_in_line("frank")
    client.line("/register correct-horse")
    lines = client.take()
    assert lines[0].startswith("*** Warning: this connection is not encrypted")
    assert lines[-1] == "*** Account frank registered; you are logged in."
    client.line("/logout")
    assert client.take() == ["*** You are logged out."]
    client.line("/login frank correct-horse")
    assert client.take() == ["*** You are logged in as frank."]
    client.line("/passwd correct-horse battery-staple")
    assert client.take() == ["*** Your password is changed."]
    client.line("/nick frankie")
    client.take()
    client.line("/group")
    assert client.take() == ["*** frankie now belongs to frank."]
    other = chat.sign_in_line("other")
    other.line("/nick frankie")
    assert "registered" in other.take()[0]
    ghost = chat.sign_in_line("ghosty")
    chat.hub.accounts.register("ghosty", "spooky-pass")
    other.take()
    other.line("/ghost ghosty spooky-pass")
    assert "*** ghosty is free again." in other.take()
    assert any("Ghosted" in line for line in ghost.take())
    other.line("/ghost frank wrong-pass")
    assert other.take() == ["*** Wrong account name or password."]


def test_founder_gets_ops_back_and_names_operators(chat):
    """A logged-in creator founds a room, gets ops back on every join, and /op makes an account an operator."""
    alice = login(chat, "alice", "correct horse")
    alice.line("JOIN #club")
    chat.clock.advance(0)
    alice.line("PART #club")
    watcher = chat.register("watcher")
    watcher.line("JOIN #club")
    watcher.take()
    alice.take()
    alice.line("JOIN #club")
    chat.clock.advance(0)
    assert ":chatservice MODE #club +o alice" in alice.take()[-1:]
    assert ":chatservice MODE #club +o alice" in watcher.take()
    bob = chat.connect_line()
    bob.line("bob")
    bob.line("battery staple")
    bob.line("/join #club")
    bob.take()
    founder = chat.connect_line()
    founder.line("alice_")
    founder.line("/login alice correct horse")
    founder.line("/join #club")
    chat.clock.advance(0)
    founder.take()
    founder.line("/op bob")
    assert "*** bob is now an operator of #club." in founder.take()
    bob.line("/part #club")
    bob.line("/join #club")
    chat.clock.advance(0)
    assert ":chatservice MODE #club +o bob" in watcher.take()
    stranger = chat.sign_in_line("stranger")
    stranger.line("/join #club")
    stranger.take()
    stranger.line("/op stranger")
    assert stranger.take() == ["*** Log in first: room roles belong to accounts."]
    founder.line("/deop bob")
    assert "*** bob is no longer an operator of #club." in founder.take()


def test_default_room_has_no_founder(chat):
    """Joining the default room logged in founds nothing and gives no ops."""
    alice = chat.connect_line()
    alice.line("alice")
    alice.line("correct horse")
    from chatservice.core.accounts import FOUNDER
    roles = []
    chat.hub.accounts.store.room_roles("#lobby").addCallback(roles.append)
    assert FOUNDER not in roles[0].values()


def test_nickserv(chat):
    """NickServ registers, identifies, groups, tells INFO, changes the password, ghosts and drops."""
    client = chat.register("gina")
    ns = ":NickServ!NickServ@services NOTICE gina :"
    assert client.said("PRIVMSG NickServ :REGISTER correct-horse")[0] == (
        ns + "gina is registered to you.")
    client.line("NICK gina2")
    client.take()
    assert client.said("NS GROUP") == [ns.replace("gina :", "gina2 :")
                                       + "gina2 is now grouped to gina."]
    lines = client.said("NICKSERV INFO gina2")
    assert lines[0].endswith("gina2 belongs to gina, registered "
                             + lines[0].split("registered ")[1])
    assert client.said("NS SET PASSWORD battery-staple")[0].endswith("Your password is changed.")
    other = chat.register("other")
    lines = other.said("PRIVMSG NickServ :IDENTIFY gina correct-horse")
    assert lines[0].endswith(":Wrong account name or password.")
    lines = other.said("PRIVMSG NickServ :IDENTIFY gina battery-staple")
    assert lines[0].endswith(":You are now identified for gina.") and " 900 " in lines[1]
    lines = other.said("NS GHOST gina2 battery-staple")
    assert lines[0].endswith(":gina2 has been ghosted.")
    lines = other.said("NS DROP battery-staple")
    assert lines[0].endswith(":The account gina is dropped.")
    assert other.said("NS INFO gina")[0].endswith(":gina is not registered.")
    assert "reserved" in other.said("NICK NickServ")[0]
    assert other.said("NS")[0].endswith(":NickServ keeps accounts. Commands:")


def test_first_joiner_of_a_founded_room_is_not_its_operator(chat):
    """Someone who joins a founded room while it is empty loses the operator status that being first gives."""
    alice = login(chat, "alice", "correct horse")
    alice.line("JOIN #club")
    chat.clock.advance(0)
    alice.line("PART #club")
    alice.take()
    stranger = chat.register("stranger")
    stranger.line("JOIN #club")
    chat.clock.advance(0)
    lines = stranger.take()
    assert lines[0].endswith("JOIN #club") and lines[-1] == ":chatservice MODE #club -o stranger"
    assert not chat.hub.find_room("#club").is_operator(chat.hub.find_user("stranger"))
    stranger.line("PART #club")
    stranger.line("JOIN #fresh")
    chat.clock.advance(0)
    assert not any("MODE" in line for line in stranger.take())
    assert chat.hub.find_room("#fresh").is_operator(chat.hub.find_user("stranger"))


def test_chanserv_op_deop_info(chat):
    """The founder makes an account an operator with CS OP (for good), ChanServ INFO lists roles, others are refused."""
    alice = login(chat, "alice", "correct horse")
    alice.line("JOIN #club")
    chat.clock.advance(0)
    bob = login(chat, "bob", "battery staple")
    bob.line("JOIN #club")
    chat.clock.advance(0)
    alice.take()
    bob.take()
    cs = ":ChanServ!ChanServ@services NOTICE "
    assert bob.said("CS OP #club bob") == [cs + "bob :Only the founder of #club names its operators."]
    lines = alice.said("PRIVMSG ChanServ :OP #club bob")
    assert lines == [":chatservice MODE #club +o bob", cs + "alice :bob is now an operator of #club."]
    assert alice.said("CHANSERV INFO #club") == [
        cs + "alice :#club was founded by alice; operators: bob."]
    assert alice.said("CS DEOP #club bob")[-1] == cs + "alice :bob is no longer an operator of #club."
    assert alice.said("CS")[0] == cs + "alice :ChanServ keeps room founders and operators. Commands:"
    assert "reserved" in chat.register("zed").said("NICK ChanServ")[0]


@pytest.fixture
def kept(chat):
    """The chat server with an in-memory history store."""
    from chatservice.store.memory import MemoryStore
    chat.hub.attach_store(MemoryStore(chat.clock))
    return chat


def test_private_history_between_accounts(kept):
    """Private messages are kept for each logged-in party's account and replayed to that account only."""
    chat = kept
    alice = login(chat, "alice", "correct horse", caps=("batch", "draft/chathistory"))
    bob = login(chat, "bob", "battery staple")
    stranger = chat.register("stranger", caps=("batch", "draft/chathistory"))
    alice.line("PRIVMSG bob :psst bob")
    bob.line("PRIVMSG alice :hi alice")
    stranger.line("PRIVMSG alice :kept for alice")
    alice.take()
    lines = alice.said("CHATHISTORY LATEST bob * 10")
    texts = [line.split(" ", 2)[2] for line in lines if "PRIVMSG" in line]
    assert texts == ["PRIVMSG bob :psst bob", "PRIVMSG alice :hi alice"]
    lines = alice.said("CHATHISTORY LATEST stranger * 10")
    texts = [line.split(" ", 2)[2] for line in lines if "PRIVMSG" in line]
    assert texts == ["PRIVMSG alice :kept for alice"]
    # Someone else cannot read a conversation, whatever nick they ask for;
    # the stranger, logged in to no account, has nothing kept.
    for nick in ("bob", "alice"):
        lines = stranger.said(f"CHATHISTORY LATEST {nick} * 10")
        assert not any("PRIVMSG" in line for line in lines)
    line_bob = chat.connect_line()
    line_bob.line("bob_")
    line_bob.line("/login bob battery staple")
    line_bob.take()
    line_bob.line("/history alice")
    lines = line_bob.take()
    assert lines[0].startswith("*** The last 2 private messages with alice, since ")
    assert lines[1].endswith("[private] <alice> psst bob")
    assert lines[2].endswith("[to alice] <bob> hi alice")
    line_bob.line("/history stranger")
    assert line_bob.take() == ["*** No private messages with stranger are kept."]
    line_guest = chat.connect_line()
    line_guest.line("guest")
    line_guest.take()
    line_guest.line("/history alice")
    assert line_guest.take() == [
        "*** Private messages are kept only for people logged in to accounts."]


def test_reauthenticate_after_registration(chat):
    """Once registered, a client may authenticate again, to another account; its neighbours see the change."""
    client = login(chat, "alice", "correct horse", caps=("account-notify",))
    client.take()
    assert client.said("AUTHENTICATE PLAIN") == ["AUTHENTICATE +"]
    lines = client.said("AUTHENTICATE " + b64("\0bob\0battery staple"))
    assert lines[0].startswith(":chatservice 900 alice alice!~alice@1.2.3.4 bob ")
    assert chat.hub.find_user("alice").account == "bob"
