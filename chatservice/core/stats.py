"""
Counters of what the server does, for the people who run it to watch.

Counting sits on the hot path (every message, every delivery), so a counter
is a plain integer attribute of a plain object, incremented where the thing
happens: one attribute add, no locks, no labels to look up.  Turning the
counts into a monitoring system's format (Prometheus, see
L{chatservice.metrics}) is the service's job, done only when someone asks.

L{ChatStats} is the hub's: what happens in the chat whatever the wire.
L{ConnectionStats} is each front end's: connections by transport, bytes
out, and why connections ended.
"""

from __future__ import annotations

from collections import Counter

# Why a connection ended, as the short, fixed labels that monitoring shows:
# the reason a front end gives when it closes a connection starts with one
# of these (a quit message or a ping time may follow).  Anything else is
# counted as "other", so that no free text ever becomes a label.
DISCONNECT_KINDS: tuple[tuple[str, str], ...] = (
    ("Quit", "quit"),
    ("Ping timeout", "ping_timeout"),
    ("Excess flood", "excess_flood"),
    ("Send queue exceeded", "send_queue"),
    ("Registration timed out", "registration_timeout"),
    ("Too many connections from your address", "too_many_per_address"),
    ("Too many invalid nicknames", "nick_attempts"),
    ("Bad password", "bad_password"),
    ("Killed by ", "killed"),
    ("Server shutting down", "shutdown"),
    ("Connection closed", "closed_by_client"),
    ("Connection reset", "connection_lost"),
    ("TLS on the plain-text port", "wrong_protocol"),
    ("HTTP on the chat port", "wrong_protocol"),
    ("IRC on the line-chat port", "wrong_protocol"),
)


def disconnect_kind(reason: str) -> str:
    """The label under which a connection closed for C{reason} is counted."""
    for prefix, kind in DISCONNECT_KINDS:
        if reason.startswith(prefix):
            return kind
    return "other"


class ChatStats:
    """
    What the hub counts.

    @ivar room_messages: messages (and actions, notices) said in rooms.
    @ivar private_messages: messages sent to one person.
    @ivar deliveries: copies of events handed to clients, counted per
        fan-out (a message to a room of N others is N deliveries).
    @ivar logins_failed: logins refused for a wrong password or certificate:
        accounts (see L{chatservice.core.accounts.Accounts.failed}), the
        server password and OPER.
    """

    __slots__ = ("room_messages", "private_messages", "deliveries", "logins_failed")

    def __init__(self) -> None:
        self.room_messages = 0
        self.private_messages = 0
        self.deliveries = 0
        self.logins_failed = 0


class ConnectionStats:
    """
    What one front end counts.

    @ivar accepted: connections accepted, by transport (tcp, tls, ws, wss).
    @ivar open: connections open now, by transport.
    @ivar bytes_out: bytes handed to transports for clients.
    @ivar disconnects: connections ended, by L{disconnect_kind}.
    """

    __slots__ = ("accepted", "open", "bytes_out", "disconnects")

    def __init__(self) -> None:
        self.accepted: Counter[str] = Counter()
        self.open: Counter[str] = Counter()
        self.bytes_out = 0
        self.disconnects: Counter[str] = Counter()

    def connected(self, transport: str) -> None:
        self.accepted[transport] += 1
        self.open[transport] += 1

    def disconnected(self, transport: str, reason: str) -> None:
        self.open[transport] -= 1
        self.disconnects[disconnect_kind(reason)] += 1
