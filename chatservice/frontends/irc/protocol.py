"""
The IRC front end: IRC clients (irssi, weechat, HexChat, bots) in the same
rooms as everyone else.

Wire protocol
=============
IRC as RFC 1459 and RFC 2812 describe it, clarified by the modern IRC client
protocol document (https://modern.ircdocs.horse) and IRCv3: lines end in
CR LF (a bare LF is accepted), UTF-8 only (ISUPPORT UTF8ONLY: a line that is
not valid UTF-8 gets ``FAIL <command> INVALID_UTF8`` and is dropped), at most
512 bytes plus 4096 bytes of message tags; longer lines get 417 and are
dropped.

Registration: optional ``CAP LS 302`` / ``CAP REQ`` / ``CAP END``, optional
``PASS``, then ``NICK`` and ``USER`` in either order; the server answers with
001-005, LUSERS and the MOTD.  Rooms are channels (``#name``), a room's
operators are its chanops, and every nickname is shared with the other front
ends.  The commands are in L{chatservice.frontends.irc.commands}.

Capabilities: cap-notify, server-time, message-tags, echo-message,
multi-prefix, userhost-in-names, away-notify, batch, setname, extended-monitor,
labeled-response (see
L{chatservice.frontends.irc.labels}), draft/multiline (L{multiline}),
draft/channel-rename, draft/read-marker and draft/metadata-3 (their command
modules); and, when the server keeps history, draft/chathistory,
draft/event-playback, soju.im/search (see L{chatservice.frontends.irc.history})
and draft/message-redaction.  A command answered later (history read from
disk) holds the client's next commands until its answer is sent, so that
answers come in the order the commands came.  When an IRC
listener speaks TLS, ``CAP LS 302`` also lists the IRCv3 ``sts`` policy:
``sts=port=P`` on a plain connection (the client reconnects with TLS to port
P) and ``sts=duration=D`` on a TLS one (the client keeps to TLS for D
seconds).

The server PINGs a client that has been silent for the ping interval and drops
it ("Ping timeout") if the client stays silent for the ping timeout.
"""

from __future__ import annotations

import dataclasses
import hmac
from collections import deque
from datetime import datetime, timezone


from ...core import errors, names
from ...core.events import Joined, Parted, PresenceChanged, RoomRenamed
from ...core.hub import Hub, User
from ...core.limits import AddressLimiter, Limits
from ...core.rooms import Room
from .. import connection
from ..deadlines import Deadlines
from ..session import Session, SessionMachine
from ..waiting import WaitsForChecks
from . import history, labels, multiline
from . import numerics as N
from .commands import (
    VERSION, accounts, metadata, run, send_isupport, send_lusers, send_motd, send_names,
    send_topic)
from .render import IRCRenderer, display_host, mask
from .wire import BODY_MAX_BYTES, TAGS_MAX_BYTES, InputTooLong, Message, format_line, parse

@dataclasses.dataclass(frozen=True)
class IRCSettings:
    """
    What IRC clients are told about the server, and what it asks of them.

    @ivar description: shown in 002 and WHOIS.
    @ivar password: the server password clients must give with PASS, if any.
    @ivar motd: the message of the day, line by line; empty for none.
    @ivar ping_interval: seconds of silence before the server PINGs a client.
    @ivar ping_timeout: seconds a PINGed client has to answer.
    @ivar sts_port: the TLS IRC port that an IRCv3 C{sts} policy sends plain
        clients to; C{None} when there is none (and no policy).  The service
        sets it from the IRC listeners.
    @ivar sts_duration: seconds clients keep to TLS once they saw the
        policy on it; 0 advertises no policy on plain connections and tells
        clients on TLS to forget one they kept.
    """

    description: str = "A chatservice server"
    password: str | None = None
    motd: tuple[str, ...] = ()
    ping_interval: float = 120.0
    ping_timeout: float = 60.0
    sts_port: int | None = None
    sts_duration: int = 30 * 24 * 3600


class IRCFactory(connection.GuardedFactory):
    """Builds an L{IRCConnection} for each IRC client."""

    def __init__(self, hub: Hub, limits: Limits, addresses: AddressLimiter,
                 settings: IRCSettings = IRCSettings()):
        super().__init__(hub, limits, addresses)
        self.settings = settings
        self.deadlines = Deadlines(hub.clock)
        self._renderers: dict[tuple[bool, ...], IRCRenderer] = {}

    def set_limits(self, limits: Limits) -> None:
        # A line may carry 4096 bytes of tags before IRC's 512-byte body.
        super().set_limits(dataclasses.replace(
            limits, max_line_length=TAGS_MAX_BYTES + BODY_MAX_BYTES - 2))

    def protocol(self) -> IRCConnection:
        return IRCConnection()

    def renderer(self, caps: set[str]) -> IRCRenderer:
        """The renderer shared by every client with these capabilities."""
        key = ("server-time" in caps, "message-tags" in caps, "away-notify" in caps,
               "draft/message-redaction" in caps, "draft/multiline" in caps,
               "setname" in caps, "account-tag" in caps, "account-notify" in caps,
               "extended-join" in caps)
        found = self._renderers.get(key)
        if found is None:
            found = self._renderers[key] = IRCRenderer(*key)
        return found


class IRCConnection(WaitsForChecks, connection.GuardedLineReceiver):
    """
    One IRC client.
    """

    factory: IRCFactory

    # Per-connection state starts as these shared class attributes and is
    # set on the instance only when it changes: at 10,000 idle connections
    # every attribute an instance does not hold is memory saved.
    user: User | None = None
    nick = "*"
    username: str | None = None
    realname = ""
    password_given: str | None = None
    # Accounts: the account logged in to, an unfinished SASL exchange, the
    # last nickname asked for (even if refused), and the checks (logins,
    # protected nicks) that registration waits for.
    account = None
    sasl = None
    wanted_nick: str | None = None
    _held = 0
    _nick_checked: str | None = None
    caps: frozenset[str] = frozenset()
    cap_negotiating = False
    renderer: IRCRenderer
    _last_heard = 0.0
    _ping_slot: int | None = None
    _pinged = False
    _batches = 0
    # The id of the PART by which the client last left each room (by key).
    _left: dict[str, int] | None = None
    # The answer to the labeled command running now (labeled-response).
    capture: labels.Capture | None = None
    # Answers still to come (history being read), and the lines that wait
    # for them: a client's commands are answered in the order they came.
    _awaiting = 0
    _waiting_lines: deque[bytes] | None = None
    # The draft/multiline batch the client is sending, if any.
    multiline_batch: multiline.Collecting | None = None
    # The metadata keys the client subscribed to (draft/metadata).
    metadata_subs: frozenset[str] = frozenset()
    pending_metadata: metadata.Pending | None = None

    def __init__(self) -> None:
        super().__init__()
        # What (nearly) every IRC connection comes to hold, set now for the
        # reason GuardedLineReceiver.__init__ gives; the rest stay the class
        # defaults above until a connection needs them.
        self.session = SessionMachine(self)
        self.renderer = None
        self._last_heard = 0.0
        self._pinged = False
        self._ping_slot = None
        self.nick = "*"
        self.wanted_nick = None
        self.username = None
        self.realname = ""
        self.user = None
        self.caps = IRCConnection.caps
        self.cap_negotiating = False
        self._awaiting = 0
        self._nick_checked = None
        self._held = 0
        self._batches = 0
        self.account = None
        self.sasl = None
        self._left = None

    @property
    def hub(self) -> Hub:
        return self.factory.hub

    @property
    def server(self) -> str:
        return self.hub.name

    # Output

    def line(self, command: str, *params: str, source: str | None = None) -> None:
        """Send one line from the server, or from C{source} ("" for none)."""
        self.send(format_line(self.server if source is None else source, command, *params))

    def numeric(self, code: str, *params: str) -> None:
        """Send a numeric reply addressed to this client."""
        self.send(format_line(self.server, code, self.nick, *params))

    def echo(self, event) -> None:
        """Show the client an event it caused, as the others see it."""
        data = self.renderer(event)
        if data:
            self.send(data)

    def watched(self, event) -> None:
        """
        Something about a nickname this client MONITORs: it came online or
        went offline (730/731), or, with extended-monitor, the person went
        away or changed their real name.
        """
        if isinstance(event, PresenceChanged):
            if event.online:
                self.numeric(N.RPL_MONONLINE, mask(event.source))
            else:
                self.numeric(N.RPL_MONOFFLINE, event.source.nick)
        elif "extended-monitor" in self.caps:
            self.echo(event)

    def new_batch(self) -> str:
        """A batch reference not used before on this connection."""
        self._batches += 1
        return f"h{self._batches}"

    def serving(self, user: User) -> bool:
        """
        Whether this connection is still open and signed in as C{user}: an
        answer that comes later (history read from disk) checks this first.
        """
        return self.user is user and self._closing_reason is None and not self._lost

    def joined(self, user: User, room: Room, event: Joined) -> None:
        """The client joined C{room} (after the JOIN, topic and names)."""
        # What it saw there before it last left (if it left by PART) is not
        # played back again.
        seen = self._left.pop(room.key, 0) if self._left else 0
        history.replay_on_join(self, user, room, event, seen)

    def room_renamed(self, event: RoomRenamed) -> None:
        """
        A room this client is in has a new name: shown as a RENAME with
        draft/channel-rename; otherwise as leaving the old room and joining
        the new one (with its topic and names), which any client follows.
        """
        if "draft/channel-rename" in self.caps:
            self.echo(event)
            return
        user = self.user
        me = user.source
        why = f"Channel renamed to {event.new_name}" + (f": {event.reason}"
                                                        if event.reason else "")
        self.echo(Parted(event.id, event.time, me, event.room, why))
        self.echo(Joined(event.id, event.time, me, event.new_name))
        room = user.rooms.get(names.fold(event.new_name))
        if room is not None:
            send_topic(self, room, quiet_if_none=True)
            send_names(self, room)

    def metadata_changed(self, target: str, key: str, value: str | None) -> None:
        """Someone this client shares a channel with, or a channel, changed C{key}."""
        metadata.changed(self, target, key, value)

    def left(self, event: Parted) -> None:
        """The client left a room by PART: show it, and remember when."""
        self.echo(event)
        if self._left is None:
            self._left = {}
        self._left[names.fold(event.room)] = event.id

    def hold_registration(self, check) -> None:
        """Let registration (and further messages) wait until C{check} has fired."""
        self._held += 1

        def release(result):
            self._held -= 1
            if self.connected_still():
                self.try_register()
            return result
        check.addBoth(release)
        self.wait_for(check)

    def sasl_settled(self) -> None:
        """A SASL exchange ended: registration may go on if it waited."""
        self.try_register()

    def set_caps(self, caps: set[str]) -> None:
        """Enable exactly C{caps}."""
        self.caps = frozenset(caps)
        renderer = self.factory.renderer(self.caps)
        # A client that labels its commands has its output looked at first
        # (see L{labels}); the others write straight to their queue.
        send = (self._send_or_capture if labels.CAPABILITY in self.caps
                else self.send_queue.write)
        if renderer is not self.renderer or send != self.send:
            self.renderer = renderer
            self.send = send
            if self.user is not None:
                # Rooms keep each member's renderer and send: rebuild them.
                self.hub.client_changed(self.user)

    def _send_or_capture(self, data: bytes) -> None:
        capture = self.capture
        if capture is None:
            self.send_queue.write(data)
        else:
            capture.chunks.append(data)

    def send_uncaptured(self, data: bytes) -> None:
        """Send C{data} as something that is not part of a labeled answer."""
        self.send_queue.write(data)

    # Hooks of GuardedLineReceiver

    def connection_opened(self) -> None:
        self._last_heard = self.clock.seconds()
        self.renderer = self.factory.renderer(self.caps)

    def refuse_too_many_connections(self, limit: int) -> None:
        self.line("ERROR", f"Too many connections from your address (the limit is {limit})",
                  source="")

    def handle_line(self, line: bytes) -> None:
        self._last_heard = self.clock.seconds()
        if self._pinged:
            self._pinged = False
        if self._awaiting:
            waiting = self._waiting_lines
            if waiting is None:
                waiting = self._waiting_lines = deque()
            if len(waiting) >= self.factory.limits.flood_queue:
                self.close("Excess flood")
                return
            waiting.append(line)
            return
        try:
            message = parse(line)
        except InputTooLong:
            self.line_too_long()
            return
        if message is None:
            return
        if message.invalid_utf8:
            self.line("FAIL", message.command, "INVALID_UTF8",
                      "Your message was not valid UTF-8 and was dropped")
            return
        labels.answering(self, message, self.session.received)

    def answer_pending(self) -> None:
        """The command running now answers later: hold the next ones."""
        self._awaiting += 1

    def answer_sent(self) -> None:
        """An answer that came later was sent: go on with the held commands."""
        self._awaiting -= 1
        waiting = self._waiting_lines
        while waiting and not self._awaiting and self._closing_reason is None:
            self._handle(waiting.popleft())

    def wait_for(self, check) -> None:
        """
        Take no further line until C{check} (a password being checked) has
        fired: the same hold as for any answer that comes later, so that
        held lines keep their order and their labels.
        """
        self.answer_pending()

        def resume(result):
            self.answer_sent()
            return result
        check.addBoth(resume)
        # Failures were told to the client by the check's own errback.
        check.addErrback(lambda failure: None)

    def internal_error(self) -> None:
        self.numeric(N.ERR_UNKNOWNERROR, "*", "Internal error; the command was dropped")

    def line_too_long(self) -> None:
        self.numeric(N.ERR_INPUTTOOLONG, "Input line was too long")

    def connection_closing(self, reason: str) -> None:
        self.line("ERROR", f"Closing Link: {display_host(self.peer_host)} ({reason})",
                  source="")
        if self.capture is not None:
            # A labeled command that closes the connection: its answer
            # goes out now, before the queue stops taking output.
            labels.finish(self, self.capture)
            self.capture = None
        self.session.hang_up(reason)

    def connection_closed(self, reason: str) -> None:
        if self._ping_slot is not None:
            self.factory.deadlines.cancel(self._ping_slot, self)
            self._ping_slot = None
        self.session.hang_up(reason)

    # Keeping idle clients honest

    def _schedule_ping(self, delay: float) -> None:
        self._ping_slot = self.factory.deadlines.schedule(delay, self)

    def deadline_passed(self) -> None:
        """The ping deadline (see L{_schedule_ping}) came."""
        self._check_alive()

    def _check_alive(self) -> None:
        self._ping_slot = None
        settings = self.factory.settings
        silent = self.clock.seconds() - self._last_heard
        if self._pinged:
            if silent >= settings.ping_timeout:
                self.close(f"Ping timeout: {int(silent)} seconds")
                return
            self._schedule_ping(settings.ping_timeout - silent)
        elif silent >= settings.ping_interval:
            self._pinged = True
            self.line("PING", self.server, source="")
            self._schedule_ping(settings.ping_timeout)
        else:
            self._schedule_ping(settings.ping_interval - silent)

    # Registration

    def before_sign_in(self, session: Session, message: Message) -> None:
        """Registration: CAP, PASS, NICK, USER and the few commands allowed before it."""
        run(self, None, message)

    def after_sign_in(self, user: User, message: Message) -> None:
        if not multiline.collected(self, message):
            run(self, user, message)

    def try_register(self) -> None:
        """
        Sign the client in once it has given a nickname and a user name and
        finished capability negotiation.
        """
        if self.user is not None or self.username is None or self.nick == "*":
            return
        if self.cap_negotiating or self._held:
            return
        if self.sasl is not None:
            if self.sasl.checking is not None:
                return  # registration goes on once the check is done
            # Registration ended in the middle of an exchange: abort it.
            self.sasl = None
            self.numeric(accounts.ERR_SASLABORTED, "SASL authentication aborted")
        password = self.factory.settings.password
        if password is not None and not (
                self.password_given is not None
                and hmac.compare_digest(self.password_given.encode(), password.encode())):
            self.hub.stats.logins_failed += 1
            self.numeric(N.ERR_PASSWDMISMATCH, "Password incorrect")
            self.close("Bad password")
            return
        if password is None and self.password_given is not None and self.account is None:
            given, self.password_given = self.password_given, None
            checking = accounts.login_with_pass(self, given)
            if checking is not None:
                self.hold_registration(checking)
                return
        hub_accounts = self.hub.accounts
        if hub_accounts is not None:
            if hub_accounts.require_account and self.account is None:
                self.line("FAIL", "*", "ACCOUNT_REQUIRED",
                          "You must log in to an account to use this server (SASL, or "
                          "PASS account:password)")
                self.close("An account is required")
                return
            if self._nick_checked != names.fold(self.nick):
                self._check_nick(hub_accounts)
                return
        try:
            user = self.hub.register(self.nick, self, username=self.username,
                                     host=self.peer_host, realname=self.realname)
        except errors.NickInUse:
            # The refused nick was never the client's: address the reply to "*".
            wanted, self.nick = self.nick, "*"
            self.numeric(N.ERR_NICKNAMEINUSE, wanted, "Nickname is already in use")
            return
        except errors.ErroneousNick as problem:
            wanted, self.nick = self.nick, "*"
            self.numeric(N.ERR_ERRONEUSNICKNAME, wanted, str(problem))
            return
        if self.account is not None:
            user.account = self.account.name
        self.session.signed_in(user)

    def _check_nick(self, hub_accounts) -> None:
        """
        Registration waits while the store says whether the nickname is
        someone's; a protected nick is refused with the reason (433), and one
        held by a session that is not its account's is taken back for it.
        """
        nick, key = self.nick, names.fold(self.nick)
        account = self.account.name if self.account is not None else None
        checking = hub_accounts.nick_refusal(nick, account)

        def decide(refusal):
            if not self.connected_still() or names.fold(self.nick) != key:
                return
            if refusal is not None:
                self.nick = "*"
                self.numeric(N.ERR_NICKNAMEINUSE, nick, refusal)
                return
            self._nick_checked = key
            if account is not None:
                self.hub.ghost(nick, account)
        checking.addCallback(decide)
        checking.addErrback(lambda failure: self.log.failure(
            "Checking a nickname failed", failure))
        self.hold_registration(checking)

    def welcome(self, user: User) -> None:
        self.user = user
        self.registered()
        self.log.info("{peer} signed in over IRC as {nick}", peer=self.peer_host,
                      nick=user.nick)
        hub = self.hub
        self.numeric(N.RPL_WELCOME, f"Welcome to the {hub.name} IRC network, "
                     f"{user.nick}!{user.username}@{display_host(user.host)}")
        self.numeric(N.RPL_YOURHOST, f"Your host is {hub.name}, running version {VERSION}")
        self.numeric(N.RPL_CREATED, "This server was created "
                     + _date(hub.started))
        self.numeric(N.RPL_MYINFO, hub.name, VERSION, "Biow", "CIbeiklmnostv", "Ibeklov")
        send_isupport(self)
        send_lusers(self)
        send_motd(self)
        metadata.registered(self, user)
        self._schedule_ping(self.factory.settings.ping_interval)

    def sign_out(self, user: User, reason: str) -> None:
        self.hub.quit(user, reason)


def _date(when: float) -> str:
    return datetime.fromtimestamp(when, timezone.utc).strftime("%a %b %d %Y at %H:%M:%S UTC")
