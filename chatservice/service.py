"""
Wiring: one hub, shared limits, and one listening service per endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from twisted.application.service import MultiService
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IReactorTime

from .core.hub import DEFAULT_ROOM_MODES, Hub
from .core.limits import AddressLimiter, Limits
from .core.operators import Operators
from .core.rooms import RoomMode
from .frontends import proxy, secure
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
        self.store.close()
        return result


def _line_chat(hub: Hub, config: ServerConfig, addresses: AddressLimiter) -> LineChatFactory:
    factory = LineChatFactory(hub, config.limits, addresses)
    # Plain connections from the network are told to use TLS instead.
    factory.tls_port = secure.tls_port(config.line_endpoints)
    return factory


def chat_service(reactor: IReactorTime, config: ServerConfig) -> ChatService:
    """
    Build the whole server: a hub, and a listener for each endpoint of each
    front end.  Listening fails loudly at start-up if an endpoint cannot be
    bound.
    """
    hub = Hub(reactor, name=config.name, default_room=config.default_room,
              room_modes=config.room_modes, operators=config.operators)
    addresses = AddressLimiter(config.limits.max_per_address, config.limits.exempt)
    top = ChatService(reactor, config)
    top.hub = hub
    # IRC over TCP and IRC over WebSocket are one wire format: one factory,
    # so that both share its renderers.
    # Plain IRC connections are sent to the first TLS IRC listener (sts).
    irc_settings = replace(config.irc, sts_port=secure.tls_port(config.irc_endpoints))
    irc = IRCFactory(hub, config.limits, addresses, irc_settings)
    front_ends = [
        (_line_chat(hub, config, addresses), config.line_endpoints),
        (irc, config.irc_endpoints),
        (web_site(irc, config.web_origins, config.trusted_proxies), config.web_endpoints),
    ]
    for factory, endpoints in front_ends:
        for description in endpoints:
            proxy.service(reactor, description, factory,
                          config.trusted_proxies).setServiceParent(top)
    return top
