"""
Tests for IRCv3 draft/multiline from clients: a batch of lines delivered as
one message, to IRC clients with and without the capability and to line
users.
"""

from __future__ import annotations

import re

import pytest

from chatservice.store.memory import MemoryStore
from irc_helpers import MixedServer

ML = ("message-tags", "batch", "echo-message", "server-time", "labeled-response",
      "draft/multiline")
PLAIN = ("message-tags", "batch", "echo-message", "server-time")


@pytest.fixture
def server():
    server = MixedServer()
    server.clock.advance(1700000000.25)
    server.hub.attach_store(MemoryStore(server.clock))
    return server


def send_batch(client, target: str, *lines: str, label: str = "") -> list[str]:
    head = f"@label={label} " if label else ""
    client.take()
    client.line(f"{head}BATCH +b1 draft/multiline {target}")
    for line in lines:
        client.line(line.format(t=target))
    client.line("BATCH -b1")
    return client.take()


def test_capability_value(server):
    """CAP LS 302 offers draft/multiline with its limits."""
    client = server.connect()
    client.line("CAP LS 302")
    assert "draft/multiline=max-bytes=4096,max-lines=32" in client.take()[0]


def test_relayed_as_batch_and_as_lines(server):
    """Capable clients get one batch with one msgid; others get each line, the msgid on the first."""
    alice, bob = server.room("#t", "alice", "bob", caps=ML)
    carol = server.register("carol", PLAIN)
    server.joined("#t", carol)
    bob.take()
    echo = send_batch(alice, "#t", "@batch=b1 PRIVMSG {t} hello",
                      "@batch=b1 PRIVMSG {t} :#how is ",
                      "@batch=b1;draft/multiline-concat PRIVMSG {t} :everyone?", label="xyz")
    start = re.match(r"@label=xyz;time=[^;]+;msgid=(\d+) :alice!\S+ BATCH \+(\w+) "
                     r"draft/multiline #t$", echo[0])
    assert start, echo
    msgid, ref = start.groups()
    assert echo[-1].endswith(f"BATCH -{ref}")
    assert echo[3] == f"@batch={ref};draft/multiline-concat :{alice.mask} PRIVMSG #t everyone?"
    relay = bob.take()
    assert relay[0].endswith(f"BATCH +{ref} draft/multiline #t") and f"msgid={msgid}" in relay[0]
    assert len(relay) == 5
    fallback = carol.take()
    assert [line.split(" PRIVMSG #t :")[1] for line in fallback] == [
        "hello", "#how is ", "everyone?"]
    assert f"msgid={msgid}" in fallback[0] and "msgid" not in fallback[1]


def test_blank_lines(server):
    """Blank lines reach capable clients and are left out for the others."""
    alice, = server.room("#t", "alice", caps=ML)
    carol = server.register("carol", PLAIN)
    server.joined("#t", carol)
    send_batch(alice, "#t", "@batch=b1 PRIVMSG {t} :", "@batch=b1 PRIVMSG {t} :text")
    assert [line.split(" PRIVMSG #t :")[1] for line in carol.take()] == ["text"]


def test_line_user_gets_each_line(server):
    """A line user in the room sees each line as a message."""
    alice, = server.room("#lobby", "alice", caps=ML)
    dave = server.sign_in_line("dave")
    send_batch(alice, "#lobby", "@batch=b1 PRIVMSG {t} :one", "@batch=b1 PRIVMSG {t} :two")
    assert dave.take() == ["[#lobby] <alice> one", "[#lobby] <alice> two"]


def test_history_keeps_one_line(server):
    """History keeps the message as one line, its lines joined."""
    alice, = server.room("#t", "alice", caps=ML + ("draft/chathistory",))
    send_batch(alice, "#t", "@batch=b1 PRIVMSG {t} :one", "@batch=b1 PRIVMSG {t} :two",
               "@batch=b1;draft/multiline-concat PRIVMSG {t} :!")
    lines = alice.said("CHATHISTORY LATEST #t * 5")
    assert any(line.endswith("PRIVMSG #t :one two!") for line in lines), lines


def test_private_multiline(server):
    """A multiline batch to a nick reaches that person."""
    alice = server.register("alice", ML)
    bob = server.register("bob", ML)
    send_batch(alice, "bob", "@batch=b1 PRIVMSG {t} :a", "@batch=b1 PRIVMSG {t} :b")
    assert len(bob.take()) == 4


@pytest.mark.parametrize("lines, code", [
    (["@batch=b1 PRIVMSG {t} :hi", "@batch=b1;draft/multiline-concat PRIVMSG {t} :"],
     "MULTILINE_INVALID"),
    (["@batch=zz PRIVMSG {t} :hi"], "MULTILINE_INVALID"),
    (["@batch=b1 PRIVMSG #elsewhere :hi"], "MULTILINE_INVALID"),
    (["@batch=b1 TOPIC {t} :hi"], "MULTILINE_INVALID"),
    (["@batch=b1 PRIVMSG {t} :x"] * 33, "MULTILINE_MAX_LINES"),
    (["@batch=b1 PRIVMSG {t} :" + "x" * 400] * 11, "MULTILINE_MAX_BYTES"),
    (["@batch=b1 PRIVMSG {t} :  "], "MULTILINE_INVALID"),
])
def test_invalid_batches_refused(server, lines, code):
    """Hostile batches get FAIL BATCH with their code, and nothing is delivered."""
    alice, bob = server.room("#t", "alice", "bob", caps=ML)
    answer = send_batch(alice, "#t", *lines)
    assert any(line.startswith(f":chatservice FAIL BATCH {code} ") for line in answer), answer
    assert not any("PRIVMSG" in line for line in bob.take())


def test_unknown_batch_type(server):
    """A client batch of another type is refused."""
    alice = server.register("alice", ML)
    assert alice.said("BATCH +x netsplit a b")[0].startswith(":chatservice FAIL BATCH INVALID_TYPE ")


def test_without_capability_refused(server):
    """A client that did not enable draft/multiline cannot open a multiline batch."""
    alice = server.register("alice", PLAIN)
    assert alice.said("BATCH +x draft/multiline #t")[0].startswith(
        ":chatservice FAIL BATCH INVALID_TYPE ")


def test_other_commands_between_lines(server):
    """Commands without the batch tag are run as usual while a batch is open."""
    alice, = server.room("#t", "alice", caps=ML)
    alice.line("BATCH +b1 draft/multiline #t")
    assert alice.said("PING x") == [":chatservice PONG chatservice x"]
    alice.line("@batch=b1 PRIVMSG #t :fine")
    alice.line("BATCH -b1")
    assert "BATCH +" in alice.take()[0]
