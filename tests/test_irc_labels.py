"""
Tests for IRCv3 labeled-response: every answer to a labeled command carries
its label, whatever the command.
"""

from __future__ import annotations

import re

import pytest

from irc_helpers import MixedServer

LABELS = ("labeled-response", "batch", "echo-message", "message-tags")


@pytest.fixture
def server():
    return MixedServer()


def _batch(lines: list[str], label: str) -> tuple[str, list[str]]:
    """The reference of a labeled batch spanning C{lines}, and its inner lines."""
    start = re.fullmatch(rf"@label={label} :\S+ BATCH \+([A-Za-z0-9-]+) labeled-response",
                         lines[0])
    assert start, lines
    ref = start.group(1)
    assert re.fullmatch(rf":\S+ BATCH -{ref}", lines[-1]), lines
    return ref, lines[1:-1]


def test_capability_offered(server):
    """CAP LS offers labeled-response."""
    client = server.connect()
    client.line("CAP LS 302")
    assert "labeled-response" in client.take()[0].split(":", 2)[2].split()


def test_single_reply_is_labeled(server):
    """A command answered by one line gets that line back with the label tag."""
    alice = server.register("alice", LABELS)
    assert alice.said("@label=abc PING hello") == [
        "@label=abc :chatservice PONG chatservice hello"]


def test_no_reply_gets_ack(server):
    """A labeled command that produces no reply is answered by a labeled ACK."""
    alice = server.register("alice", LABELS)
    assert alice.said("@label=x1 PONG whatever") == ["@label=x1 :chatservice ACK"]


def test_error_reply_is_labeled(server):
    """An unknown command's 421 carries the label too."""
    alice = server.register("alice", LABELS)
    assert alice.said("@label=dead NOSUCHCOMMAND") == [
        "@label=dead :chatservice 421 alice NOSUCHCOMMAND :Unknown command"]


def test_join_reply_is_one_batch(server):
    """JOIN's JOIN, NAMES and end lines come in one labeled-response batch, each tagged."""
    alice = server.register("alice", LABELS)
    ref, inner = _batch(alice.said("@label=j JOIN #x"), "j")
    assert len(inner) >= 3
    assert all(line.startswith(f"@batch={ref}") for line in inner), inner
    assert " JOIN #x" in inner[0]


def test_label_is_not_relayed(server):
    """The recipients of a labeled message never see the label; the echo has it."""
    alice, bob = server.room("#x", "alice", "bob", caps=LABELS)
    echo = alice.said("@label=m PRIVMSG #x :hi")
    assert len(echo) == 1 and echo[0].startswith("@label=m;msgid=")
    received = bob.take()
    assert len(received) == 1 and "label" not in received[0]


def test_message_to_self_labels_only_the_echo(server):
    """With echo-message, a message to oneself comes twice and only one copy is labeled."""
    alice = server.register("alice", LABELS)
    lines = alice.said("@label=s PRIVMSG alice :me")
    assert len(lines) == 2
    assert sum("label=s" in line for line in lines) == 1


def test_several_targets_batch_the_echoes(server):
    """A message to several people echoes in one labeled batch."""
    alice = server.register("alice", LABELS)
    server.register("bob")
    server.register("carol")
    ref, inner = _batch(alice.said("@label=multi PRIVMSG bob,carol :hi"), "multi")
    assert len(inner) == 2


def test_without_capability_label_is_ignored(server):
    """A client that did not enable labeled-response gets plain replies, no ACK."""
    alice = server.register("alice", ("batch",))
    assert alice.said("@label=x PONG y") == []
    assert alice.said("@label=x PING y") == [":chatservice PONG chatservice y"]


def test_overlong_label_is_ignored(server):
    """A label over 64 bytes is not echoed: the reply comes plain."""
    alice = server.register("alice", LABELS)
    assert alice.said("@label=" + "a" * 65 + " PING y") == [
        ":chatservice PONG chatservice y"]


def test_hostile_label_is_escaped(server):
    """A label with escaped spaces and semicolons comes back escaped, on one line."""
    alice = server.register("alice", LABELS)
    assert alice.said(r"@label=a\sb\:c PING y") == [
        r"@label=a\sb\:c :chatservice PONG chatservice y"]


def test_labeled_quit_answers_before_closing(server):
    """A labeled QUIT gets its labeled ERROR before the connection closes."""
    alice = server.register("alice", LABELS)
    lines = alice.said("@label=q QUIT :bye")
    assert len(lines) == 1 and lines[0].startswith("@label=q ") and " ERROR " in lines[0]
    assert alice.closed


def test_unlabeled_output_after_label_is_plain(server):
    """Others' messages that arrive after a labeled command are not labeled."""
    alice, bob = server.room("#x", "alice", "bob", caps=LABELS)
    alice.said("@label=z PING p")
    bob.line("PRIVMSG #x :later")
    lines = alice.take()
    assert len(lines) == 1 and "label" not in lines[0]


def test_labeled_client_still_gets_room_messages(server):
    """Enabling labeled-response after joining leaves the client receiving room messages."""
    alice, bob = server.room("#x", "alice", "bob")
    alice.line("CAP REQ :labeled-response batch")
    alice.take()
    bob.line("PRIVMSG #x :after")
    assert alice.take()[0].endswith("PRIVMSG #x :after")
