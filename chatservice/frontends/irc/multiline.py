"""
IRCv3 draft/multiline from clients: a message of several lines, sent as a
batch.

Wire protocol
=============
A client with the ``draft/multiline`` capability (offered as
``draft/multiline=max-bytes=4096,max-lines=32``: a batch this size stays
within the flood limits) sends::

    [@label=..;+client-tags] BATCH +<ref> draft/multiline <target>
    @batch=<ref> PRIVMSG <target> :<first line>
    @batch=<ref>;draft/multiline-concat PRIVMSG <target> :<continues it>
    BATCH -<ref>

(NOTICE instead of PRIVMSG makes it a notice).  Other commands may come
between.  At C{BATCH -}, the lines go to the target as one message with one
msgid: as a ``draft/multiline`` batch to clients that take it, line by line
(blank lines left out, the msgid on the first) to other IRC clients, line
users and the web page; history keeps it as one line.  The answer to the
batch (the echo, or the refusal) carries the label of its C{BATCH +} line.

Refusals are standard replies, and drop the batch: C{FAIL BATCH
MULTILINE_INVALID :...} (a line for another batch or target, a concat tag on
a blank line, another command in the batch, nothing to send),
C{MULTILINE_MAX_LINES <n> :...}, C{MULTILINE_MAX_BYTES <n> :...} (the text of
the lines and one byte per line break), C{FAIL BATCH INVALID_TYPE ...} (a
client batch of another type).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...core import errors
from ...core.events import Kind
from ...core.hub import User
from . import labels
from .commands.common import _refusal, fail
from .commands.messages import _client_tags, _echo
from .commands.table import command
from .render import MULTILINE_CONCAT
from .wire import Message

if TYPE_CHECKING:
    from .protocol import IRCConnection

CAPABILITY = "draft/multiline"
MAX_BYTES = 4096
MAX_LINES = 32
CAPABILITY_VALUE = f"max-bytes={MAX_BYTES},max-lines={MAX_LINES}"


class Collecting:
    """A multiline batch a client has opened and not yet closed."""

    __slots__ = ("ref", "target", "tags", "label", "lines", "size", "notice")

    def __init__(self, ref: str, target: str, tags, label: labels.Capture | None):
        self.ref = ref
        self.target = target
        self.tags = tags
        self.label = label
        self.lines: list[tuple[str, bool]] = []
        self.size = 0
        self.notice = False


def _drop(conn: IRCConnection, code: str, *params: str) -> None:
    collecting = conn.multiline_batch
    conn.multiline_batch = None
    with labels.resume(conn, collecting.label if collecting else None):
        fail(conn, "BATCH", code, *params)


def collected(conn: IRCConnection, message: Message) -> bool:
    """
    Whether C{message} belongs to a multiline batch (and was taken, or
    refused): if so, it is not to be run as a command.
    """
    ref = message.tags.get("batch")
    if ref is None:
        return False
    collecting = conn.multiline_batch
    if collecting is None or ref != collecting.ref:
        _drop(conn, "MULTILINE_INVALID", "Unexpected batch reference")
        return True
    if message.command not in ("PRIVMSG", "NOTICE") or not message.params \
            or message.params[0] != collecting.target:
        _drop(conn, "MULTILINE_INVALID", "Only messages to the batch's target may be in it")
        return True
    text = message.params[1] if len(message.params) > 1 else ""
    concat = MULTILINE_CONCAT in message.tags
    if concat and not text:
        _drop(conn, "MULTILINE_INVALID", "A blank line cannot continue another")
        return True
    if len(collecting.lines) >= MAX_LINES:
        _drop(conn, "MULTILINE_MAX_LINES", str(MAX_LINES), "Too many lines")
        return True
    collecting.size += len(text.encode("utf-8")) + (0 if concat or not collecting.lines else 1)
    if collecting.size > MAX_BYTES:
        _drop(conn, "MULTILINE_MAX_BYTES", str(MAX_BYTES), "Too many bytes")
        return True
    if not collecting.lines:
        collecting.notice = message.command == "NOTICE"
    collecting.lines.append((text, concat))
    return True


@command("BATCH", 1)
def batch(conn: IRCConnection, user: User, message: Message) -> None:
    ref = message.params[0]
    if ref.startswith("+") and len(ref) > 1:
        kind = message.params[1] if len(message.params) > 1 else ""
        if kind != CAPABILITY or CAPABILITY not in conn.caps:
            fail(conn, "BATCH", "INVALID_TYPE", kind or "*", "Unsupported batch type")
            return
        if len(message.params) < 3 or not message.params[2]:
            fail(conn, "BATCH", "MULTILINE_INVALID", "A multiline batch needs a target")
            return
        if conn.multiline_batch is not None:
            _drop(conn, "MULTILINE_INVALID", "Another multiline batch is open")
            return
        conn.multiline_batch = Collecting(ref[1:], message.params[2], _client_tags(message),
                                    labels.carry(conn))
        return
    collecting = conn.multiline_batch
    if not ref.startswith("-") or collecting is None or ref[1:] != collecting.ref:
        fail(conn, "BATCH", "MULTILINE_INVALID", "No such batch is open")
        return
    conn.multiline_batch = None
    target = collecting.target
    kind = Kind.NOTICE if collecting.notice else Kind.SAY
    with labels.resume(conn, collecting.label):
        if not any(text.strip() for text, _ in collecting.lines):
            fail(conn, "BATCH", "MULTILINE_INVALID", "Nothing to send")
            return
        try:
            event = conn.hub.say_lines(user, target, tuple(collecting.lines), kind,
                                       collecting.tags)
        except errors.ChatError as refusal:
            _refusal(conn, refusal, target)
            return
        _echo(conn, user, target, event)
