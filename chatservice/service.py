"""
Wiring: one hub, shared limits, and one listening service per endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from twisted.application import strports
from twisted.application.service import MultiService
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IReactorTime

from .core.accounts import Accounts
from .core.hub import DEFAULT_ROOM_MODES, Hub
from .core.limits import AddressLimiter, Limits
from .core.operators import Operators
from .core.rooms import RoomMode
from .frontends.irc import IRCFactory, IRCSettings
from .frontends.line import LineChatFactory
from .frontends.web import web_site
from .store.memory import MemoryStore


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
    """

    registration_open: bool = True
    require_account: bool = False


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
        believed.
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
    accounts: AccountSettings = field(default_factory=AccountSettings)


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
                    require_account=settings.require_account)


class ChatService(MultiService):
    """
    All of the server's listeners, and the store behind the hub.

    The store is opened when the service starts, not when it is built:
    twistd may fork into the background in between, and neither the writer's
    thread nor a database connection survives a fork.  A store or a listener
    that cannot be used stops start-up with one line saying which and why,
    rather than a traceback or a half-started server.
    """

    hub: Hub
    store = None

    def __init__(self, reactor: IReactorTime, config: ServerConfig):
        super().__init__()
        self.reactor = reactor
        self.config = config

    def privilegedStartService(self) -> None:
        if self.store is None:
            settings = self.config.history
            self.store = open_store(self.reactor, settings)
            self.hub.attach_store(self.store, settings.since_join, settings.replay_lines)
            self.hub.use_accounts(open_accounts(self.reactor, self.store, self.config.accounts))
        try:
            super().privilegedStartService()
        except CannotListenError as problem:
            raise SystemExit(f"chatservice: cannot listen: {problem}") from None

    def stopService(self):
        stopped = super().stopService()
        if self.store is not None:
            stopped.addBoth(self._close_store)
        return stopped

    def _close_store(self, result):
        close = getattr(self.hub.accounts and self.hub.accounts.store, "close", None)
        if close is not None:
            close()
        self.store.close()
        return result


def chat_service(reactor: IReactorTime, config: ServerConfig) -> ChatService:
    """
    Build the whole server: a hub, and a listener for each endpoint of each
    front end.  Listening fails loudly at start-up if an endpoint cannot be
    bound.
    """
    hub = Hub(reactor, name=config.name, default_room=config.default_room,
              room_modes=config.room_modes, operators=config.operators)
    addresses = AddressLimiter(config.limits.max_per_address)
    top = ChatService(reactor, config)
    top.hub = hub
    # IRC over TCP and IRC over WebSocket are one wire format: one factory,
    # so that both share its renderers.
    irc = IRCFactory(hub, config.limits, addresses, config.irc)
    front_ends = [
        (LineChatFactory(hub, config.limits, addresses), config.line_endpoints),
        (irc, config.irc_endpoints),
        (web_site(irc, config.web_origins, config.trusted_proxies), config.web_endpoints),
    ]
    for factory, endpoints in front_ends:
        for description in endpoints:
            strports.service(description, factory, reactor=reactor).setServiceParent(top)
    return top
