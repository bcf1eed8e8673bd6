"""
The server's listening ports, which a reload may add, remove, or give a new
TLS certificate.

Each listener is a Twisted endpoint string for one front end.  A TLS
endpoint's certificate options sit behind a L{SwappableTLS}: a reload swaps
in the certificate now on disk, so that new connections get it while the
connections already open keep the one they were made with.

TLS listeners of the line and IRC front ends ask each client for a
certificate (for SASL EXTERNAL) without requiring one: Twisted's ``ssl:``
endpoint asks for none (its C{CertificateOptions} verifies nobody), so
L{SwappableTLS} sets C{VERIFY_PEER} without C{VERIFY_FAIL_IF_NO_PEER_CERT},
with a verify callback that accepts any certificate, once on each
certificate's OpenSSL context before its first connection (not on each
connection: that costs a C callback each): the certificate is not checked
against any authority, only its fingerprint is compared with the ones
accounts registered.  Web listeners do not ask (browsers would show a
certificate picker).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import MultiService
from twisted.internet import defer, endpoints
from OpenSSL import SSL
from twisted.internet.interfaces import IOpenSSLServerConnectionCreator
from zope.interface import implementer

from .frontends import proxy, tlsmemory

# Connections a TCP or TLS listener lets wait to be accepted, unless its
# endpoint string says otherwise: Twisted's default of 50 drops connections
# when many clients come back at once (after a restart, say).
LISTEN_BACKLOG = 1024
# Front ends whose TLS listeners ask clients for a certificate.
ASK_CERTIFICATES = frozenset({"port", "irc"})
# Endpoint types whose parser takes a backlog= argument.
_BACKLOG_TYPES = frozenset({"tcp", "tcp6", "ssl", "unix"})
# Endpoint types that wrap another endpoint string (the rest of the string).
_WRAPPERS = frozenset({"haproxy"})
_UNESCAPED_COLON = re.compile(r"(?<!\\):")


def with_backlog(description: str, backlog: int = LISTEN_BACKLOG) -> str:
    """
    C{description} with C{backlog=} added when it listens on a socket and
    gives no backlog of its own; any other endpoint string unchanged.
    """
    kind, colon, rest = description.partition(":")
    kind = kind.strip().lower()
    if kind in _WRAPPERS and colon:
        return f"{description[:len(description) - len(rest)]}{with_backlog(rest, backlog)}"
    if kind not in _BACKLOG_TYPES:
        return description
    arguments = _UNESCAPED_COLON.split(rest) if colon else []
    if any(argument.strip().lower().startswith("backlog=") for argument in arguments):
        return description
    return f"{description}:backlog={backlog}"


@implementer(IOpenSSLServerConnectionCreator)
class SwappableTLS:
    """
    A TLS server connection creator whose certificate options can be
    replaced; each connection is made with the options of its moment.
    """

    # The options whose context was last set to ask for certificates.
    _asking = None

    def __init__(self, options, ask_certificates: bool = False):
        self.options = options
        self.ask_certificates = ask_certificates

    def serverConnectionForTLS(self, protocol):
        options = self.options
        if not self.ask_certificates:
            return options.serverConnectionForTLS(protocol)
        if not tlsmemory.CONTEXT_VERIFY:  # pragma: no cover - another pyOpenSSL
            connection = options.serverConnectionForTLS(protocol)
            connection.set_verify(SSL.VERIFY_PEER, tlsmemory.accept_any_certificate)
            return connection
        if options is not self._asking:
            # New options (at start, or a reload's certificate): their one
            # context, which every connection they make shares, asks.
            tlsmemory.ask_for_certificates(options.getContext())
            self._asking = options
        return options.serverConnectionForTLS(protocol)


def _tls_endpoint(endpoint):
    """The TLS endpoint inside C{endpoint} (perhaps behind wrappers), or None."""
    seen = 0
    while endpoint is not None and seen < 10:
        if isinstance(endpoint, endpoints.SSL4ServerEndpoint):
            return endpoint
        endpoint = getattr(endpoint, "_wrappedEndpoint", None)
        seen += 1
    return None


def build(reactor, description: str, trusted_proxies=(), ask_certificates: bool = False):
    """
    The endpoint C{description} names, with its TLS options (if any) behind
    a L{SwappableTLS}; return (endpoint, swappable or None).  A ``haproxy:``
    endpoint reads PROXY headers from C{trusted_proxies} (networks) only.
    Raises as C{serverFromString} does for a bad string or an unreadable
    certificate.
    """
    proxied = proxy.is_proxied(description)
    inner = description[len(proxy.PREFIX):] if proxied else description
    endpoint = endpoints.serverFromString(reactor, with_backlog(inner))
    swappable = None
    tls = _tls_endpoint(endpoint)
    if tls is not None:
        tlsmemory.share_write_names()
        swappable = SwappableTLS(tls._sslContextFactory, ask_certificates)
        tls._sslContextFactory = swappable
    if proxied:
        endpoint = proxy.ProxiedEndpoint(endpoint, trusted_proxies, reactor)
    return endpoint, swappable


class Listener(StreamServerEndpointService):
    """One endpoint of one front end."""

    _raiseSynchronously = True

    def __init__(self, kind: str, description: str, endpoint, factory, tls):
        super().__init__(endpoint, factory)
        self.kind = kind
        self.description = description
        self.tls = tls


@dataclass
class Plan:
    """What a reload does to the listeners, prepared before anything changes."""

    added: list[Listener] = field(default_factory=list)
    removed: list[Listener] = field(default_factory=list)
    # (listener kept, its new TLS options)
    certificates: list[tuple[Listener, object]] = field(default_factory=list)


class Listeners(MultiService):
    """
    Every listener, by front end (C{kind}: C{"port"}, C{"irc"}, C{"web"})
    and endpoint string.
    """

    def __init__(self, reactor, factories: Mapping[str, object], trusted_proxies=()):
        super().__init__()
        self.reactor = reactor
        self.factories = dict(factories)
        # One list shared by every haproxy: listener, changed in place by
        # set_trusted, so that a reload reaches the listeners already open.
        self.trusted: list = []
        self.set_trusted(trusted_proxies)

    def set_trusted(self, trusted_proxies) -> None:
        """Believe PROXY headers from C{trusted_proxies} (addresses or networks) only."""
        self.trusted[:] = proxy.trusted_networks(trusted_proxies)

    def add(self, kind: str, description: str) -> Listener:
        """Listen (now, if running) on C{description} for front end C{kind}."""
        endpoint, tls = build(self.reactor, description, self.trusted,
                              kind in ASK_CERTIFICATES)
        listener = Listener(kind, description, endpoint, self.factories[kind], tls)
        listener.setServiceParent(self)
        return listener

    def wanted(self) -> dict[str, tuple[str, ...]]:
        found: dict[str, list[str]] = {kind: [] for kind in self.factories}
        for listener in self:
            found[listener.kind].append(listener.description)
        return {kind: tuple(descriptions) for kind, descriptions in found.items()}

    def plan(self, wanted: Mapping[str, tuple[str, ...]]) -> Plan:
        """
        What it takes to listen on C{wanted} instead: endpoints to add (built
        now, so that a bad certificate fails here), listeners to stop, and a
        fresh copy of each kept TLS listener's certificate.
        """
        plan = Plan()
        current = {(listener.kind, listener.description): listener for listener in self}
        for kind, descriptions in wanted.items():
            for description in dict.fromkeys(descriptions):
                kept = current.pop((kind, description), None)
                endpoint, tls = build(self.reactor, description, self.trusted,
                                      kind in ASK_CERTIFICATES)
                if kept is None:
                    plan.added.append(Listener(kind, description, endpoint,
                                               self.factories[kind], tls))
                elif kept.tls is not None and tls is not None:
                    plan.certificates.append((kept, tls.options))
        plan.removed = list(current.values())
        return plan

    @defer.inlineCallbacks
    def carry_out(self, plan: Plan):
        """
        Stop the removed listeners, start the added ones, and swap the kept
        ones' certificates.  If an added one cannot listen, the ones started
        are stopped, the removed ones listen again, and the error is raised:
        the listeners are as they were.
        """
        for listener in plan.removed:
            yield listener.disownServiceParent()
        started = []
        try:
            for listener in plan.added:
                self._start(listener)
                started.append(listener)
        except Exception:
            for listener in started:
                yield listener.disownServiceParent()
            for listener in plan.removed:
                self._start(listener)
            raise
        for listener, options in plan.certificates:
            listener.tls.options = options

    def _start(self, listener: Listener) -> None:
        """Listen now; if that fails, leave C{listener} out and raise."""
        listener._raiseSynchronously = True
        try:
            listener.setServiceParent(self)
        except Exception:
            if listener in self.services:
                self.services.remove(listener)
            listener.parent = None
            listener.running = False
            raise
