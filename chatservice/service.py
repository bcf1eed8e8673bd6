"""
Wiring: one hub, shared limits, and one listening service per endpoint.
"""

from __future__ import annotations

from typing import Iterable

from twisted.application import strports
from twisted.application.service import MultiService
from twisted.internet.interfaces import IReactorCore, IReactorTime

from .core.hub import Hub
from .core.limits import AddressLimiter, Limits
from .frontends.line import LineChatFactory


def chat_service(reactor: IReactorTime, line_endpoints: Iterable[str], limits: Limits,
                 name: str = "chatservice", default_room: str = "#lobby") -> MultiService:
    """
    Build the whole server: a hub, and a line-chat listener on each of
    C{line_endpoints} (Twisted endpoint strings).  Listening fails loudly at
    start-up if an endpoint cannot be bound.
    """
    hub = Hub(reactor, name=name, default_room=default_room)
    addresses = AddressLimiter(limits.max_per_address)
    top = MultiService()
    top.hub = hub
    line = LineChatFactory(hub, limits, addresses)
    for description in line_endpoints:
        strports.service(description, line, reactor=reactor).setServiceParent(top)
    return top
