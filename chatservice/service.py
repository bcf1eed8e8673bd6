"""
Wiring: one hub, shared limits, and one listening service per endpoint; the
metrics listener beside them; and the order in which it all stops.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field, replace

from twisted.application import strports
from twisted.application.service import MultiService
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.error import CannotListenError, ReactorNotRunning
from twisted.internet.interfaces import IReactorTime
from twisted.logger import ILogObserver, Logger

from .core.accounts import Accounts
from .core.errors import ReloadFailed
from .core.files import FileLimits
from .core.hub import DEFAULT_ROOM_MODES, Hub
from .core.limits import AddressLimiter, Limits
from .core.operators import Operators
from .core.rooms import RoomMode
from .frontends.connection import GuardedFactory
from .frontends import secure
from .frontends.irc import IRCFactory, IRCSettings
from .frontends.line import LineChatFactory
from .frontends.web import web_site
from .listeners import Listeners, with_backlog
from .sharing import FileSharing
from .store.memory import MemoryStore
from . import systemd


@dataclass(frozen=True)
class HistorySettings:
    """
    What the server remembers, and where.

    @ivar persistence: keep history and rooms in a SQLite database in
        C{data_dir}; without it, in memory until the server stops.
    @ivar data_dir: the directory holding the database (created on start).
    @ivar days: events older than this many days are deleted; 0 keeps them.
    @ivar max_per_room: each room keeps at most this many events.
    @ivar since_join: people read a room's history only from their own join.
    @ivar replay_lines: messages shown on joining a room to clients that do
        not fetch history themselves.
    @ivar queue_limit: events that may wait for a slow disk before new ones
        are dropped (and counted).
    """

    persistence: bool = True
    data_dir: str = "chatservice-data"
    days: float = 90
    max_per_room: int = 100_000
    since_join: bool = False
    replay_lines: int = 15
    queue_limit: int = 100_000


@dataclass(frozen=True)
class AccountSettings:
    """
    Who may have an account, and whether one is needed.

    @ivar registration_open: people create their own accounts; otherwise
        only C{python -m chatservice.accounts add} does.
    @ivar require_account: nobody signs in without logging in.
    @ivar token_days: days a login token ("remember me") lasts unused.
    """

    registration_open: bool = True
    require_account: bool = False
    token_days: float = 30.0


@dataclass(frozen=True)
class ServerConfig:
    """
    Everything that shapes one server, whatever its front ends.

    @ivar line_endpoints: Twisted endpoint strings for line chat.
    @ivar irc_endpoints: Twisted endpoint strings for IRC.
    @ivar web_endpoints: Twisted endpoint strings for the web page and IRC
        over WebSocket.
    @ivar web_origins: origins browsers may open a WebSocket from; empty
        means the page's own.
    @ivar trusted_proxies: addresses or networks whose X-Forwarded-For is
        believed, and the only ones that may connect to a ``haproxy:``
        endpoint.
    @ivar metrics_endpoint: Twisted endpoint string of the Prometheus
        metrics listener, or C{None} for none.
    @ivar log_format: how twistd writes the log: text, or json (one object
        per line).
    @ivar web_url: where people reach the web front end, for shared files'
        links; C{None} for one made from the first web endpoint.
    @ivar files: the limits on shared files.
    """

    line_endpoints: tuple[str, ...] = ("tcp:8000",)
    irc_endpoints: tuple[str, ...] = ()
    web_endpoints: tuple[str, ...] = ()
    web_origins: tuple[str, ...] = ()
    trusted_proxies: tuple[str, ...] = ()
    name: str = "chatservice"
    default_room: str = "#lobby"
    room_modes: frozenset[RoomMode] = DEFAULT_ROOM_MODES
    limits: Limits = field(default_factory=Limits)
    irc: IRCSettings = field(default_factory=IRCSettings)
    operators: Operators = field(default_factory=Operators)
    history: HistorySettings = field(default_factory=HistorySettings)
    metrics_endpoint: str | None = None
    log_format: str = "text"
    web_url: str | None = None
    files: FileLimits = field(default_factory=FileLimits)
    accounts: AccountSettings = field(default_factory=AccountSettings)


# Seconds connections have, once told that the server is stopping, to take
# their last output before they are dropped: the process exits within 5 s.
GOODBYE_TIMEOUT = 3.0


def open_store(reactor: IReactorTime, settings: HistorySettings):
    """
    The store C{settings} ask for.  A data directory or database that
    cannot be used stops start-up with one line saying why.
    """
    if not settings.persistence:
        return MemoryStore(reactor, settings.max_per_room, settings.days)
    from .store import StoreError
    from .store.sqlite import SQLiteStore

    try:
        return SQLiteStore.open(settings.data_dir, reactor,
                                max_per_room=settings.max_per_room,
                                max_days=settings.days,
                                queue_limit=settings.queue_limit)
    except StoreError as problem:
        raise SystemExit(f"chatservice: {problem}") from None


def open_accounts(reactor, store, settings: AccountSettings) -> Accounts:
    """
    Accounts in the same database as C{store}'s history (in memory with an
    in-memory store); password hashing runs in the reactor's thread pool.
    """
    from twisted.internet.threads import deferToThreadPool

    from .store.accounts import MemoryAccounts, SQLiteAccounts, ThreadRunner

    path = getattr(store, "path", None)
    kept = MemoryAccounts() if path is None else SQLiteAccounts(ThreadRunner(path, reactor))

    def run(function, *args):
        return deferToThreadPool(reactor, reactor.getThreadPool(), function, *args)
    return Accounts(kept, reactor, run=run, registration_open=settings.registration_open,
                    require_account=settings.require_account,
                    token_lifetime=settings.token_days * 86400)


class ChatService(MultiService):
    """
    All of the server's listeners, and the store behind the hub.

    The store is opened when the service starts, not when it is built:
    twistd may fork into the background in between, and neither the writer's
    thread nor a database connection survives a fork.  A store or a listener
    that cannot be used stops start-up with one line saying which and why,
    rather than a traceback or a half-started server.

    Once listening it tells systemd (when C{NOTIFY_SOCKET} is set), and,
    with a C{reloader} and C{handle_signals}, reloads on SIGHUP.
    """

    hub: Hub
    listeners: Listeners
    log = Logger()
    store = None
    reloader = None
    handle_signals = False
    _restore_sighup = None
    # A log observer for twistd to use instead of its own (--log-format).
    log_observer: ILogObserver | None = None

    def __init__(self, reactor: IReactorTime, config: ServerConfig):
        super().__init__()
        self.reactor = reactor
        self.config = config
        self.front_ends: list[GuardedFactory] = []
        self.sharing = FileSharing()

    def setServiceParent(self, parent) -> None:
        # twistd hands over its application, which is where it looks for a
        # log observer of the service's own when it starts logging.
        if self.log_observer is not None and hasattr(parent, "setComponent"):
            parent.setComponent(ILogObserver, self.log_observer)
        super().setServiceParent(parent)

    def privilegedStartService(self) -> None:
        if self.store is None:
            settings = self.config.history
            self.store = open_store(self.reactor, settings)
            self.hub.attach_store(self.store, settings.since_join, settings.replay_lines)
            self.hub.use_accounts(open_accounts(self.reactor, self.store, self.config.accounts))
            if self.config.web_endpoints:
                self.sharing.start(self.hub, self.store, self.config, self.reactor)
        try:
            super().privilegedStartService()
        except CannotListenError as problem:
            raise SystemExit(f"chatservice: cannot listen: {problem}") from None

    def startService(self) -> None:
        super().startService()
        if self.reloader is not None and self.handle_signals:
            from .reload import install_sighup
            self._restore_sighup = install_sighup(self.reactor, self._sighup)
        systemd.ready("Listening")

    def _sighup(self) -> None:
        self.reloader.reload("SIGHUP").addErrback(self._sighup_failed)

    def _sighup_failed(self, failure) -> None:
        # The reloader logged why a reload failed; anything else is a bug.
        if not failure.check(ReloadFailed):
            self.log.failure("Reloading on SIGHUP went wrong", failure)

    def stopService(self):
        """
        Stop listening, tell every client goodbye and let its last output
        go, then write what history is still queued.
        """
        systemd.stopping()
        if self._restore_sighup is not None:
            self._restore_sighup()
            self._restore_sighup = None
        stopped = super().stopService()
        stopped.addBoth(self._say_goodbye)
        if self.store is not None:
            stopped.addBoth(self._close_store)
        stopped.addErrback(lambda failure: self.log.failure("Stopping failed", failure))
        return stopped

    def _say_goodbye(self, result):
        done: Deferred = Deferred()
        timer = self.reactor.callLater(GOODBYE_TIMEOUT, done.callback, None)

        def all_gone(_):
            if timer.active():
                timer.cancel()
                done.callback(None)

        gatherResults([front_end.shut_down() for front_end in self.front_ends]
                      ).addCallback(all_gone)
        done.addCallback(self._drop_the_rest)
        done.addCallback(lambda _: result)
        return done

    def _drop_the_rest(self, _) -> None:
        for front_end in self.front_ends:
            for connection in list(front_end.connections):
                connection.transport.abortConnection()

    def _close_store(self, result):
        self.sharing.stop()
        close = getattr(self.hub.accounts and self.hub.accounts.store, "close", None)
        if close is not None:
            close()
        self.store.close()
        return result

    def stop_on_signals(self) -> None:
        """
        Once the reactor runs, take over SIGTERM and SIGINT: both stop the
        server cleanly and the process exits 0 (Twisted's own handlers make
        it die of the signal instead, which service managers report as a
        failure).  A second signal while stopping is ignored.
        """
        reactor = self.reactor

        def stop() -> None:
            try:
                reactor.stop()
            except ReactorNotRunning:
                pass

        def handler(number, frame) -> None:
            self.log.info("Stopping on signal {signal}", signal=signal.Signals(number).name)
            reactor.callFromThread(stop)

        def install() -> None:
            signal.signal(signal.SIGTERM, handler)
            signal.signal(signal.SIGINT, handler)

        reactor.callWhenRunning(install)


def line_tls_port(config: ServerConfig) -> int | None:
    """The TLS line-chat port plain connections from the network are told of."""
    return secure.tls_port(config.line_endpoints)


def irc_settings(config: ServerConfig) -> IRCSettings:
    """The IRC settings, with plain connections sent to the first TLS IRC listener (sts)."""
    return replace(config.irc, sts_port=secure.tls_port(config.irc_endpoints))


def chat_service(reactor: IReactorTime, config: ServerConfig) -> ChatService:
    """
    Build the whole server: a hub, and a listener for each endpoint of each
    front end.  Listening fails loudly at start-up if an endpoint cannot be
    bound.
    """
    hub = Hub(reactor, name=config.name, default_room=config.default_room,
              room_modes=config.room_modes, operators=config.operators)
    top = ChatService(reactor, config)
    top.hub = hub
    # Kept on the service so that a reload can change their settings.
    top.addresses = AddressLimiter(config.limits.max_per_address, config.limits.exempt)
    top.line = LineChatFactory(hub, config.limits, top.addresses)
    top.line.tls_port = line_tls_port(config)
    # IRC over TCP and IRC over WebSocket are one wire format: one factory,
    # so that both share its renderers.
    top.irc = IRCFactory(hub, config.limits, top.addresses, irc_settings(config))
    top.front_ends = [top.line, top.irc]
    top.web = web_site(top.irc, config.web_origins, config.trusted_proxies, top.sharing)
    top.listeners = Listeners(reactor, {"port": top.line, "irc": top.irc, "web": top.web},
                              config.trusted_proxies)
    top.listeners.setServiceParent(top)
    for kind, endpoints in (("port", config.line_endpoints), ("irc", config.irc_endpoints),
                            ("web", config.web_endpoints)):
        for description in endpoints:
            top.listeners.add(kind, description)
    if config.metrics_endpoint is not None:
        add_metrics(top, config.metrics_endpoint,
                    {"line": top.line.stats, "irc": top.irc.stats})
    return top


def add_metrics(top: ChatService, description: str, front_ends) -> None:
    """Serve the server's metrics for Prometheus on their own listener."""
    from .metrics import ChatCollector, ReactorLag, metrics_site, registry_for

    lag = ReactorLag(top.reactor)
    lag.setServiceParent(top)
    registry = registry_for(ChatCollector(top.hub, front_ends, lag))
    strports.service(with_backlog(description), metrics_site(registry),
                     reactor=top.reactor).setServiceParent(top)
