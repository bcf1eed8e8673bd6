"""
Wiring: one hub, shared limits, and one listening service per endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from twisted.application import strports
from twisted.application.service import MultiService
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IReactorTime

from .core.hub import DEFAULT_ROOM_MODES, Hub
from .core.limits import AddressLimiter, Limits
from .core.operators import Operators
from .core.rooms import RoomMode
from .frontends.irc import IRCFactory, IRCSettings
from .frontends.line import LineChatFactory
from .frontends.web import web_site


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


class ChatService(MultiService):
    """
    All of the server's listeners.  A listener that cannot bind stops
    start-up with one line saying which and why, rather than a traceback or a
    half-started server.
    """

    hub: Hub

    def privilegedStartService(self) -> None:
        try:
            super().privilegedStartService()
        except CannotListenError as problem:
            raise SystemExit(f"chatservice: cannot listen: {problem}") from None


def chat_service(reactor: IReactorTime, config: ServerConfig) -> ChatService:
    """
    Build the whole server: a hub, and a listener for each endpoint of each
    front end.  Listening fails loudly at start-up if an endpoint cannot be
    bound.
    """
    hub = Hub(reactor, name=config.name, default_room=config.default_room,
              room_modes=config.room_modes, operators=config.operators)
    addresses = AddressLimiter(config.limits.max_per_address)
    top = ChatService()
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
