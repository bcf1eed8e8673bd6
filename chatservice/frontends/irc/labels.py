"""
IRCv3 labeled-response: every answer to a labeled command carries its label.

Wire protocol
=============
A client that enabled the ``labeled-response`` capability may tag any command
with ``label=<value>`` (at most L{MAX_LABEL_BYTES} bytes; a longer label is
ignored).  Whatever the server sends that client because of that command is
then marked:

 - no line at all: one ``@label=<value> :server ACK``;
 - one line: that line, with the ``label`` tag added;
 - several lines: ``@label=<value> :server BATCH +<ref> labeled-response``,
   the lines each tagged ``batch=<ref>`` (a line already in a batch of its
   own, such as history played back, keeps that tag: the start of that
   inner batch is the one tagged with the outer reference), then
   ``:server BATCH -<ref>``.  A client without ``batch`` gets the lines
   unmarked.

The label is never relayed to anybody else.  An answer that comes later (a
history read from disk) is labeled when it comes: the command I{holds} its
capture (L{hold}) and the answer is sent inside L{later}; meanwhile the
client's next commands wait, so that every answer comes in command order.

This lives in the connection's reply path, not in the commands: while a
labeled command runs, the connection's C{send} collects the bytes instead of
queueing them, and L{answering} labels what was collected.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Callable, Iterator

from .wire import Message, escape_tag, format_line

if TYPE_CHECKING:
    from .protocol import IRCConnection

CAPABILITY = "labeled-response"
MAX_LABEL_BYTES = 64


class Capture:
    """What the server said, so far, in answer to one labeled command."""

    __slots__ = ("label", "chunks", "held")

    def __init__(self, label: str):
        self.label = label
        self.chunks: list[bytes] = []
        self.held = False


def label_of(conn: IRCConnection, message: Message) -> str | None:
    """The label C{message} carries, if its answer is to be labeled."""
    label = message.tags.get("label")
    if not label or CAPABILITY not in conn.caps:
        return None
    if len(label.encode("utf-8")) > MAX_LABEL_BYTES:
        return None
    return label


def answering(conn: IRCConnection, message: Message,
              handle: Callable[[Message], None]) -> None:
    """Run C{handle(message)}, labeling its answer if the client asked for it."""
    label = label_of(conn, message)
    if label is None:
        handle(message)
        return
    capture = conn.capture = Capture(label)
    try:
        handle(message)
    finally:
        if conn.capture is capture:
            conn.capture = None
        if not capture.held:
            finish(conn, capture)


class Pending:
    """An answer to come: the capture it completes, if the command was labeled."""

    __slots__ = ("capture",)

    def __init__(self, capture: Capture | None):
        self.capture = capture


def hold(conn: IRCConnection) -> Pending:
    """
    The command running now answers later (a read from disk): keep its
    capture open (no ACK now), and hold the client's next commands until
    L{later} sends the answer, so that answers come in the order the
    commands came.
    """
    capture = conn.capture
    if capture is not None:
        capture.held = True
        conn.capture = None
    conn.answer_pending()
    return Pending(capture)


@contextmanager
def later(conn: IRCConnection, pending: Pending) -> Iterator[None]:
    """Send, inside this block, the answer to a held command."""
    try:
        with resume(conn, pending.capture):
            yield
    finally:
        conn.answer_sent()


def carry(conn: IRCConnection) -> Capture | None:
    """
    The command running now is answered by a later one (a multiline batch's
    start, answered at its end): its label, if any, goes with that answer.
    """
    capture = conn.capture
    if capture is not None:
        capture.held = True
        conn.capture = None
    return capture


@contextmanager
def resume(conn: IRCConnection, capture: Capture | None) -> Iterator[None]:
    """Send, inside this block, the answer a carried label goes with."""
    if capture is None:
        yield
        return
    outer, conn.capture = conn.capture, capture
    try:
        yield
    finally:
        conn.capture = outer
        capture.held = False
        finish(conn, capture)


def finish(conn: IRCConnection, capture: Capture) -> None:
    """
    Send what was captured, labeled; the first call does it (the
    connection closing midway finishes it early).
    """
    if capture.chunks is None:
        return
    data = b"".join(capture.chunks)
    capture.chunks = None
    conn.send_queue.write(labeled(conn, capture.label, data))


def labeled(conn: IRCConnection, label: str, data: bytes) -> bytes:
    """The lines of C{data} (the whole answer to one command), labeled."""
    tag = b"label=" + escape_tag(label).encode("utf-8")
    lines = [line for line in data.split(b"\r\n") if line]
    if not lines:
        return format_line(conn.server, "ACK", tags=tag.decode("utf-8"))
    if len(lines) == 1 or _one_batch(lines):
        # One line, or one batch of its own: the label goes on its (start) line.
        return b"\r\n".join([_tagged(lines[0], tag), *lines[1:]]) + b"\r\n"
    if "batch" not in conn.caps:
        return data
    ref = conn.new_batch()
    batch_tag = b"batch=" + ref.encode("ascii")
    out = [format_line(conn.server, "BATCH", "+" + ref, "labeled-response",
                       tags=tag.decode("utf-8"))]
    for line in lines:
        out.append((line if _in_batch(line) else _tagged(line, batch_tag)) + b"\r\n")
    out.append(format_line(conn.server, "BATCH", "-" + ref))
    return b"".join(out)


def _tagged(line: bytes, tag: bytes) -> bytes:
    """C{line} with C{tag} added to its tags."""
    if line.startswith(b"@"):
        return b"@" + tag + b";" + line[1:]
    return b"@" + tag + b" " + line


def _in_batch(line: bytes) -> bool:
    if not line.startswith(b"@"):
        return False
    tags = line[1:].partition(b" ")[0]
    return any(item.startswith(b"batch=") for item in tags.split(b";"))


def _command(line: bytes) -> list[bytes]:
    """A line's command and parameters (its tags and source dropped)."""
    words = line.split(b" ")
    while words and words[0][:1] in (b"@", b":"):
        words.pop(0)
    return words


def _one_batch(lines: list[bytes]) -> bool:
    """Whether C{lines} are exactly one batch, from its start to its end."""
    first, last = _command(lines[0]), _command(lines[-1])
    return (len(first) > 1 and len(last) > 1 and first[0] == last[0] == b"BATCH"
            and first[1][:1] == b"+" and last[1] == b"-" + first[1][1:])
