"""
MONITOR and extended-monitor over fake transports, with line users watched
like anyone else.
"""

from __future__ import annotations

import pytest

from chatservice.core.monitor import WATCH_LIMIT
from irc_helpers import MixedServer


@pytest.fixture
def server():
    return MixedServer()


def test_monitor_add_reports_status(server):
    """MONITOR + answers 730 for those online (with their mask) and 731 for the others."""
    server.register("bob")
    alice = server.register("alice")
    assert alice.said("MONITOR + bob,carol") == [
        ":chatservice 730 alice bob!~bob@1.2.3.4",
        ":chatservice 731 alice carol",
    ]


def test_monitor_sign_on_and_off(server):
    """A watched nick signing on gets 730, signing off 731."""
    alice = server.register("alice")
    alice.said("MONITOR + bob")
    bob = server.register("bob")
    assert alice.take() == [":chatservice 730 alice bob!~bob@1.2.3.4"]
    bob.line("QUIT :bye")
    assert alice.take() == [":chatservice 731 alice bob"]


def test_monitor_sees_line_users(server):
    """A line user signing on and off is seen by MONITOR like an IRC client."""
    alice = server.register("alice")
    alice.said("MONITOR + carol")
    carol = server.sign_in_line("carol")
    assert alice.take() == [":chatservice 730 alice carol!carol@1.2.3.4"]
    carol.line("/nick carla")
    assert alice.take() == [":chatservice 731 alice carol"]
    carol.lose()
    assert alice.take() == []


def test_monitor_abrupt_disconnect(server):
    """A watched client that drops its connection is reported offline."""
    alice = server.register("alice")
    alice.said("MONITOR + bob")
    bob = server.register("bob")
    alice.take()
    bob.lose()
    assert alice.take() == [":chatservice 731 alice bob"]


def test_monitor_nick_change(server):
    """Taking a watched nick is 730, a case change nothing, giving it up 731 with the nick as it was."""
    alice = server.register("alice")
    alice.said("MONITOR + qux")
    baz = server.register("baz")
    baz.line("NICK qux")
    assert alice.take() == [":chatservice 730 alice qux!~baz@1.2.3.4"]
    baz.line("NICK QUX")
    assert alice.take() == []
    baz.line("NICK bazbat")
    assert alice.take() == [":chatservice 731 alice QUX"]


def test_monitor_remove_clear_and_list(server):
    """MONITOR - and C answer nothing; L lists what is watched, then 733."""
    alice = server.register("alice")
    alice.said("MONITOR + Qux,bazbat,zed")
    assert alice.said("MONITOR - qux") == []
    assert alice.said("MONITOR L") == [
        ":chatservice 732 alice bazbat,zed", ":chatservice 733 alice :End of MONITOR list"]
    assert alice.said("MONITOR C") == []
    assert alice.said("MONITOR L") == [":chatservice 733 alice :End of MONITOR list"]
    server.register("zed")
    assert alice.take() == []


def test_monitor_status(server):
    """MONITOR S gives 730 and 731 for everything watched."""
    server.register("bob")
    alice = server.register("alice")
    alice.said("MONITOR + bob,baz")
    assert alice.said("MONITOR S") == [
        ":chatservice 730 alice bob!~bob@1.2.3.4", ":chatservice 731 alice baz"]


def test_monitor_refuses_masks(server):
    """A mask is not a nickname: 432, and it is not watched."""
    alice = server.register("alice")
    assert alice.said("MONITOR + *!user@host") == [
        ":chatservice 432 alice *!user@host :Erroneous nickname"]
    assert alice.said("MONITOR L") == [":chatservice 733 alice :End of MONITOR list"]


def test_monitor_limit(server):
    """Past the limit the rest are refused with 734, and the list holds the limit."""
    alice = server.register("alice")
    nicks = [f"n{i}" for i in range(WATCH_LIMIT + 5)]
    for start in range(0, len(nicks), 40):
        alice.line("MONITOR + " + ",".join(nicks[start:start + 40]))
    lines = alice.take()
    full = [line for line in lines if " 734 " in line]
    assert full == [f":chatservice 734 alice {WATCH_LIMIT} n100,n101,n102,n103,n104 "
                    ":Monitor list is full."]
    listed = ",".join(line.split()[-1] for line in alice.said("MONITOR L")
                      if " 732 " in line).split(",")
    assert len(listed) == WATCH_LIMIT


def test_monitor_unknown_subcommand_and_missing(server):
    """An unknown subcommand is refused; MONITOR alone needs a parameter."""
    alice = server.register("alice")
    assert alice.said("MONITOR X") == [
        ":chatservice 421 alice MONITOR :Unknown MONITOR subcommand X"]
    assert alice.said("MONITOR") == [":chatservice 461 alice MONITOR :Not enough parameters"]


def test_monitor_forgotten_on_quit(server):
    """A watcher who leaves stops watching: nothing is sent to a closed connection."""
    alice = server.register("alice")
    alice.said("MONITOR + bob")
    alice.line("QUIT")
    server.register("bob")
    assert server.hub.watchlist.watchers("bob") == []


def test_extended_monitor_away_and_setname(server):
    """With extended-monitor, a watched person's AWAY and SETNAME arrive if their caps are on."""
    alice = server.register("alice", caps=("extended-monitor", "away-notify", "setname"))
    alice.said("MONITOR + bob")
    bob = server.register("bob")
    alice.take()
    bob.line("AWAY :afk")
    assert alice.take() == [":bob!~bob@1.2.3.4 AWAY afk"]
    bob.line("SETNAME :Robert")
    assert alice.take() == [":bob!~bob@1.2.3.4 SETNAME Robert"]


def test_extended_monitor_needs_the_cap(server):
    """Without extended-monitor, watchers get no AWAY; with it, neighbours get it once."""
    alice = server.register("alice", caps=("away-notify",))
    alice.said("MONITOR + bob")
    bob = server.register("bob")
    alice.take()
    bob.line("AWAY :afk")
    assert alice.take() == []
    carol = server.register("carol", caps=("extended-monitor", "away-notify"))
    carol.said("MONITOR + bob")
    server.joined("#chan", bob, carol)
    bob.line("AWAY")
    assert carol.take() == [":bob!~bob@1.2.3.4 AWAY"]
