"""
Hub events as IRC lines.

One L{IRCRenderer} exists per combination of the capabilities that change how
events look (server-time, message-tags, away-notify, draft/message-redaction,
setname); every client with the
same combination shares it, so the hub renders each event once per variant.
History played back to a client is rendered by the same code, with a C{batch}
tag added.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from ...core.events import (
    AccountChanged,
    AwayChanged,
    Event,
    Invited,
    Joined,
    Kicked,
    Kind,
    Message,
    ModeChanged,
    MultilineMessage,
    MultilinePrivateMessage,
    NickChanged,
    Parted,
    PrivateMessage,
    Quit,
    RealnameChanged,
    Redacted,
    RoomRenamed,
    Signal,
    Source,
    Tags,
    TopicChanged,
    Wallops,
)
from ...core.rooms import ModeChange, RoomMode
from .wire import BODY_MAX_BYTES, escape_tag, format_line

# Mode letters, in CHANMODES order: lists, settings with an argument both ways,
# settings with an argument when set, flags; then the member prefixes.
MODE_LETTERS = {
    RoomMode.BAN: "b",
    RoomMode.BAN_EXCEPTION: "e",
    RoomMode.INVITE_EXCEPTION: "I",
    RoomMode.KEY: "k",
    RoomMode.LIMIT: "l",
    RoomMode.NO_CTCP: "C",
    RoomMode.INVITE_ONLY: "i",
    RoomMode.MODERATED: "m",
    RoomMode.NO_OUTSIDE: "n",
    RoomMode.SECRET: "s",
    RoomMode.TOPIC_LOCKED: "t",
    RoomMode.OPERATOR: "o",
    RoomMode.VOICE: "v",
}
LETTER_MODES = {letter: mode for mode, letter in MODE_LETTERS.items()}


def display_host(host: str) -> str:
    """A host as IRC can carry it: an IPv6 address may not start with ':'."""
    return "0" + host if host.startswith(":") else host


def mask(source: Source) -> str:
    if not source.user and not source.host:
        # The server itself (giving operators their status back, say).
        return source.nick
    return f"{source.nick}!{source.user}@{display_host(source.host)}"


def server_time(when: float) -> str:
    stamp = datetime.fromtimestamp(when, timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


_SERVER_TIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z",
                          re.ASCII)


def parse_server_time(text: str) -> float | None:
    """
    A time written as server-time writes it (C{YYYY-MM-DDThh:mm:ss.sssZ};
    any number of fractional digits, or none), as seconds since the epoch;
    C{None} if C{text} is not such a time.
    """
    found = _SERVER_TIME.fullmatch(text)
    if found is None:
        return None
    year, month, day, hour, minute, second, fraction = found.groups()
    try:
        stamp = datetime(int(year), int(month), int(day), int(hour), int(minute),
                         int(second), tzinfo=timezone.utc)
    except ValueError:
        return None
    return stamp.timestamp() + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)


def mode_string(changes: tuple[ModeChange, ...] | list[ModeChange]) -> list[str]:
    """Mode changes as IRC's C{+ov-b} followed by their arguments."""
    letters, arguments, sign = [], [], None
    for change in changes:
        wanted = "+" if change.adding else "-"
        if wanted != sign:
            letters.append(wanted)
            sign = wanted
        letters.append(MODE_LETTERS[change.mode])
        if change.argument is not None:
            arguments.append(change.argument)
    return ["".join(letters), *arguments]


def split_utf8(data: bytes, budget: int) -> list[bytes]:
    """
    Cut C{data} into pieces of at most C{budget} bytes, never inside a UTF-8
    character.
    """
    pieces = []
    while len(data) > budget:
        cut = budget
        # Back up over continuation bytes (10xxxxxx) to a character start.
        while cut > 0 and data[cut] & 0xC0 == 0x80:
            cut -= 1
        if cut == 0:
            cut = budget
        pieces.append(data[:cut])
        data = data[cut:]
    pieces.append(data)
    return pieces


_ACTION_OPEN, _ACTION_CLOSE = b"\x01ACTION ", b"\x01"


def message_lines(source: str, command: str, target: str, message: str,
                  tags: str = "", msgid: str = "", action: bool = False) -> bytes:
    """
    PRIVMSG or NOTICE lines carrying C{message}, each within IRC's 512 bytes.

    A message that an IRC client could have sent in one line is relayed in
    one line, cut (never inside a character) if the sender's mask makes it
    too long, as IRC servers do: the client that sent it knows its own mask
    and the limit, and its one message must arrive as one.  A longer message
    (from another front end) is split, nothing cut off: each piece is a whole
    message of its own, a CTCP ACTION is wrapped again, and a msgid gets a
    suffix so that it stays unique.
    """
    head = f":{source} {command} {target} :".encode("utf-8")
    text = message.encode("utf-8")
    if not action and len(text) <= BODY_MAX_BYTES - 2 - len(head):
        # Most messages: one line, whole (what the loop below makes of them).
        if msgid:
            tags = _with(tags, "msgid=" + msgid)
        if tags:
            return b"".join((b"@", tags.encode("utf-8"), b" ", head, text, b"\r\n"))
        return head + text + b"\r\n"
    opening, closing = (_ACTION_OPEN, _ACTION_CLOSE) if action else (b"", b"")
    budget = BODY_MAX_BYTES - 2 - len(head) - len(opening) - len(closing)
    pieces = split_utf8(text, budget)
    wrapped = len(opening) + len(text) + len(closing)
    # The sender's line: a trailing parameter needs its colon only if it is
    # empty, holds a space or starts with one.
    colon = not wrapped or action or b" " in text or text.startswith(b":")
    sent_alone = len(f"{command} {target} ".encode("utf-8")) + colon + wrapped \
        <= BODY_MAX_BYTES - 2
    if sent_alone:
        del pieces[1:]
    lines = []
    for number, piece in enumerate(pieces):
        piece_tags = tags
        if msgid:
            piece_id = msgid if number == 0 else f"{msgid}.{number}"
            piece_tags = _with(tags, "msgid=" + piece_id)
        prefix = f"@{piece_tags} ".encode("utf-8") if piece_tags else b""
        lines.append(prefix + head + opening + piece + closing + b"\r\n")
    return b"".join(lines)


def client_tags(tags: Tags) -> str:
    """Client tags as a message-tags string (without the C{@})."""
    return ";".join(f"{name}={escape_tag(value)}" if value else name for name, value in tags)


def _with(tags: str, more: str) -> str:
    return f"{tags};{more}" if tags and more else tags or more


_MULTILINE = (MultilineMessage, MultilinePrivateMessage)
MULTILINE_CONCAT = "draft/multiline-concat"


class IRCRenderer:
    """
    Renders events for IRC clients with one combination of capabilities.
    """

    def __init__(self, server_time: bool = False, message_tags: bool = False,
                 away_notify: bool = False, redaction: bool = False,
                 multiline: bool = False, setname: bool = False, account_tag: bool = False,
                 account_notify: bool = False, extended_join: bool = False):
        self.server_time = server_time
        self.message_tags = message_tags
        self.away_notify = away_notify
        self.redaction = redaction
        self.multiline = multiline
        self.setname = setname
        self.account_tag = account_tag
        self.account_notify = account_notify
        self.extended_join = extended_join

    def tags(self, event: Event, batch: str = "") -> str:
        tags = "time=" + server_time(event.time) if self.server_time else ""
        if self.account_tag:
            account = getattr(getattr(event, "source", None), "account", "")
            if account:
                tags = _with(tags, f"account={account}")
        if batch:
            return f"batch={batch};{tags}" if tags else "batch=" + batch
        return tags

    def __call__(self, event: Event, batch: str = "") -> bytes:
        """
        The lines that show C{event}, or nothing; C{batch} is the reference
        of the batch they belong to (history played back), if any.
        """
        source = mask(event.source)
        if type(event) in _MULTILINE:
            return self._lines(event, source, batch)
        if isinstance(event, (Message, PrivateMessage)):
            target = (event.status + event.room if isinstance(event, Message)
                      else event.target)
            command = "NOTICE" if event.kind is Kind.NOTICE else "PRIVMSG"
            tags = self.tags(event, batch)
            if self.message_tags:
                # The sender's client tags (TaggedMessage), for clients that
                # take tags only; and IRCv3's bot tag if a bot sent it.
                tags = _with(tags, client_tags(getattr(event, "tags", ())))
                if event.source.bot:
                    tags = _with(tags, "bot")
            return message_lines(source, command, target, event.text, tags,
                                 str(event.id) if self.message_tags else "",
                                 event.kind is Kind.ACTION)
        if isinstance(event, Signal):
            if not self.message_tags:
                return b""
            tags = _with(_with(self.tags(event, batch), client_tags(event.tags)),
                         f"msgid={event.id}")
            if event.source.bot:
                tags = _with(tags, "bot")
            return format_line(source, "TAGMSG", event.target, tags=tags)
        tags = self.tags(event, batch)
        if self.message_tags:
            # Every event has an id, so that clients can refer to it (and
            # page through history that plays it back) as to a message.
            tags = _with(tags, f"msgid={event.id}")
        if isinstance(event, Joined):
            if self.extended_join:
                return format_line(source, "JOIN", event.room, event.source.account or "*",
                                   event.realname or event.source.nick, tags=tags)
            return format_line(source, "JOIN", event.room, tags=tags)
        if isinstance(event, Parted):
            reason = (event.reason,) if event.reason else ()
            return format_line(source, "PART", event.room, *reason, tags=tags)
        if isinstance(event, Quit):
            return format_line(source, "QUIT", event.reason or "Quit", tags=tags)
        if isinstance(event, NickChanged):
            return format_line(source, "NICK", event.new_nick, tags=tags)
        if isinstance(event, TopicChanged):
            return format_line(source, "TOPIC", event.room, event.topic, tags=tags)
        if isinstance(event, Kicked):
            return format_line(source, "KICK", event.room, event.target,
                               event.reason or event.source.nick, tags=tags)
        if isinstance(event, ModeChanged):
            return format_line(source, "MODE", event.room, *mode_string(event.changes),
                               tags=tags)
        if isinstance(event, Invited):
            return format_line(source, "INVITE", event.target, event.room, tags=tags)
        if isinstance(event, Redacted):
            # A client that cannot take a redaction keeps showing the message.
            if not self.redaction:
                return b""
            reason = (event.reason,) if event.reason else ()
            return format_line(source, "REDACT", event.room, str(event.target_id), *reason,
                               tags=tags)
        if isinstance(event, RoomRenamed):
            reason = (event.reason,) if event.reason else ()
            return format_line(source, "RENAME", event.room, event.new_name, *reason,
                               tags=tags)
        if isinstance(event, AccountChanged):
            if not self.account_notify:
                return b""
            return format_line(source, "ACCOUNT", event.source.account or "*", tags=tags)
        if isinstance(event, AwayChanged):
            if not self.away_notify:
                return b""
            away = (event.message,) if event.message else ()
            return format_line(source, "AWAY", *away, tags=tags)
        if isinstance(event, RealnameChanged):
            if not self.setname:
                return b""
            return format_line(source, "SETNAME", event.realname, tags=tags)
        if isinstance(event, Wallops):
            return format_line(source, "WALLOPS", event.text, tags=tags)
        return b""

    def _lines(self, event, source: str, batch: str) -> bytes:
        """
        A message of several lines: one draft/multiline batch for clients
        that take it (the msgid and time on its start), otherwise each line
        that is not blank as a message of its own, the msgid on the first.
        """
        target = event.room if isinstance(event, Message) else event.target
        command = "NOTICE" if event.kind is Kind.NOTICE else "PRIVMSG"
        tags = self.tags(event, batch)
        if self.message_tags:
            tags = _with(tags, client_tags(event.tags))
        if self.multiline:
            ref = "m" + format(event.id, "x")
            out = [format_line(source, "BATCH", "+" + ref, "draft/multiline", target,
                               tags=_with(tags, f"msgid={event.id}"))]
            for line, concat in event.lines:
                inner = f"batch={ref};{MULTILINE_CONCAT}" if concat else "batch=" + ref
                out.append(format_line(source, command, target, line, tags=inner))
            out.append(format_line(source, "BATCH", "-" + ref))
            return b"".join(out)
        out = []
        msgid = str(event.id) if self.message_tags else ""
        for line, _ in event.lines:
            if not line.strip():
                continue
            out.append(message_lines(source, command, target, line, tags, msgid,
                                     event.kind is Kind.ACTION))
            msgid = ""
        return b"".join(out)
