"""
Wiring: one hub, shared limits, and one listening service per endpoint.
"""

from __future__ import annotations

from typing import Iterable

from twisted.application import strports
from twisted.application.service import MultiService
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IReactorTime

from .core.hub import Hub
from .core.limits import AddressLimiter, Limits
from .frontends.line import LineChatFactory


class ChatService(MultiService):
    """
    All of the server's listeners.  A listener that cannot bind stops
    start-up with one line saying which and why, rather than a traceback or a
    half-started server.
    """

    def privilegedStartService(self) -> None:
        try:
            super().privilegedStartService()
        except CannotListenError as problem:
            raise SystemExit(f"chatservice: cannot listen: {problem}") from None


def chat_service(reactor: IReactorTime, line_endpoints: Iterable[str], limits: Limits,
                 name: str = "chatservice", default_room: str = "#lobby") -> MultiService:
    """
    Build the whole server: a hub, and a line-chat listener on each of
    C{line_endpoints} (Twisted endpoint strings).  Listening fails loudly at
    start-up if an endpoint cannot be bound.
    """
    hub = Hub(reactor, name=name, default_room=default_room)
    addresses = AddressLimiter(limits.max_per_address)
    top = ChatService()
    top.hub = hub
    line = LineChatFactory(hub, limits, addresses)
    for description in line_endpoints:
        strports.service(description, line, reactor=reactor).setServiceParent(top)
    return top
