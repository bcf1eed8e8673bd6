"""
WHO with IRCv3 WHOX (C{WHO mask %fields,token}, 354), over fake transports.
"""

from __future__ import annotations

import pytest

from irc_helpers import MixedServer


@pytest.fixture
def server():
    return MixedServer()


def test_whox_all_fields_in_spec_order(server):
    """Every WHOX field comes back in the order tcuihsnfdlaor, whatever order they were asked in."""
    alice, bob = server.room("#chan", "alice", "bob")
    for fields in ("tcuihsnfdlaor", "roalfdnshiuct"):
        lines = bob.said(f"WHO alice %{fields},123")
        assert lines == [
            ":chatservice 354 bob 123 #chan ~alice 1.2.3.4 1.2.3.4 chatservice alice H@ 0 0 0 "
            "n/a :Alice Person",
            ":chatservice 315 bob alice :End of /WHO list",
        ]


def test_whox_single_field_and_token(server):
    """WHOX with only t and n answers the token and the nick, nothing else."""
    server.register("alice")
    bob = server.register("bob")
    assert bob.said("WHO alice %tn,321") == [
        ":chatservice 354 bob 321 alice", ":chatservice 315 bob alice :End of /WHO list"]


@pytest.mark.parametrize("token", ["abc", "1234", "", "-1", "１"])
def test_whox_bad_token_answers_zero(server, token):
    """A token that is not one to three ASCII digits is answered as 0."""
    server.register("alice")
    bob = server.register("bob")
    assert bob.said(f"WHO alice %tn,{token}")[0] == ":chatservice 354 bob 0 alice"


def test_whox_unknown_letters_ignored(server):
    """Letters WHOX does not define are ignored; none known answers no 354 at all."""
    server.register("alice")
    bob = server.register("bob")
    assert bob.said("WHO alice %xyzn") == [
        ":chatservice 354 bob alice", ":chatservice 315 bob alice :End of /WHO list"]
    assert bob.said("WHO alice %" + "x" * 400) == [
        ":chatservice 315 bob alice :End of /WHO list"]


def test_whox_channel_lists_line_users_too(server):
    """WHOX on a channel lists a line user in it like anyone else."""
    server.sign_in_line("carol")
    alice = server.register("alice")
    alice.line("JOIN #lobby")
    alice.take()
    lines = alice.said("WHO #lobby %cnf")
    assert ":chatservice 354 alice #lobby carol H@" in lines
    assert ":chatservice 354 alice #lobby alice H" in lines
    assert lines[-1] == ":chatservice 315 alice #lobby :End of /WHO list"


def test_whox_idle_seconds(server):
    """The l field counts seconds since the person last spoke."""
    alice, bob = server.room("#chan", "alice", "bob")
    server.clock.advance(42)
    assert bob.said("WHO alice %nl")[0] == ":chatservice 354 bob alice 42"
    alice.line("PRIVMSG #chan :hi")
    assert bob.said("WHO alice %nl")[0] == ":chatservice 354 bob alice 0"


def test_who_flags_show_bot_oper_away(server):
    """WHO's flags show away (G), a bot (B) after the channel prefix."""
    alice, bob = server.room("#chan", "alice", "bob")
    alice.line("MODE alice +B")
    alice.line("AWAY :gone")
    lines = bob.said("WHO #chan")
    assert any(" alice G@B " in line for line in lines), lines


def test_who_o_lists_only_operators(server):
    """WHO mask o lists only server operators."""
    server.register("alice")
    bob = server.register("bob")
    assert bob.said("WHO * o") == [":chatservice 315 bob * :End of /WHO list"]


def test_who_zero_means_everyone(server):
    """WHO 0 lists everyone visible, as WHO * does."""
    server.register("alice")
    bob = server.register("bob")
    assert len([line for line in bob.said("WHO 0") if " 352 " in line]) == 2


def test_whox_invisible_hidden_from_masks(server):
    """WHOX keeps hiding invisible people from strangers' masks."""
    alice = server.register("alice")
    alice.line("MODE alice +i")
    bob = server.register("bob")
    assert bob.said("WHO ali* %n") == [":chatservice 315 bob ali* :End of /WHO list"]
    assert bob.said("WHO alice %n")[0] == ":chatservice 354 bob alice"


def test_whox_reply_fits_a_line(server):
    """A WHOX reply with a long real name still fits IRC's 512 bytes."""
    client = server.connect()
    client.line("NICK alice")
    client.line("USER alice 0 * :" + "é" * 300)
    bob = server.register("bob")
    lines = bob.said("WHO alice %tcuihsnfdlaor,999")
    assert len(lines[0].encode()) <= 510
