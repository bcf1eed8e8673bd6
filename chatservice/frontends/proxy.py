"""
Listening behind a load balancer that speaks HAProxy's PROXY protocol, for
every front end: a listener given as ``haproxy:ENDPOINT`` (for example
``--irc haproxy:tcp:6667`` or ``--port haproxy:ssl:8443:privateKey=...``).

Wire protocol
=============
Each connection to such a listener opens with one PROXY header, sent by the
proxy before anything of the client's:

version 1 (text)
    ``PROXY TCP4 <client> <proxy> <client port> <proxy port>\\r\\n`` (or
    ``TCP6``, or ``PROXY UNKNOWN ...\\r\\n``), at most 107 bytes.
version 2 (binary)
    the 12-byte signature ``\\r\\n\\r\\n\\x00\\r\\nQUIT\\n``, a version and
    command byte (``0x21`` PROXY, ``0x20`` LOCAL), an address family and
    protocol byte, a 16-bit length and that many bytes of addresses (and
    optional TLVs, which are ignored).

Twisted's parsers read both.  After the header the connection is the front
end's own protocol (for ``haproxy:ssl:``, the TLS handshake comes after the
header, as HAProxy sends it with ``send-proxy`` to a TLS server).

The connection is counted, logged and shown to others under the header's
client address.  A header that names no client (v1 ``UNKNOWN``, v2
``LOCAL``: a proxy's health check) leaves the proxy's own address.

Only proxies listed with ``--trusted-proxy`` may speak it: a connection from
any other address is closed at once, with a log line, before it is read, so
nobody can claim an address by sending a header of their own.  A connection
whose first bytes are not a valid header, or that sends no complete header
within L{HEADER_TIMEOUT} seconds, is closed too.

Why not Twisted's own ``haproxy:`` wrapper as it is: it hands the front end
the connection before the header has arrived (so ``connectionMade`` sees the
proxy's address, and a line-chat greeting would be sent before the client's
address is known), believes any sender, and drops a header split over two
reads if the first is short.  This module keeps Twisted's parsers and its
C{getPeer}, and starts the front end's protocol only once the header is read.
(The parsers live in private modules of C{twisted.protocols.haproxy}, unchanged
for many releases; the tests of this module would show a change.)
"""

from __future__ import annotations

import ipaddress

from twisted.internet import endpoints
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.protocols import policies, tls
from twisted.protocols.haproxy._exceptions import InvalidProxyHeader
from twisted.protocols.haproxy._v1parser import V1Parser
from twisted.protocols.haproxy._v2parser import V2Parser
from twisted.protocols.haproxy._wrapper import HAProxyProtocolWrapper
from twisted.python.failure import Failure
from zope.interface import directlyProvides, providedBy

PREFIX = "haproxy:"
#: Seconds a trusted proxy has to send its complete header.
HEADER_TIMEOUT = 10.0

_V1 = V1Parser.PROXYSTR + b" "
_V2 = V2Parser.PREFIX


def is_proxied(description: str) -> bool:
    """Whether the endpoint string C{description} expects PROXY headers."""
    return description.startswith(PREFIX)


def trusted_networks(proxies) -> tuple:
    """The networks of C{proxies} (addresses or networks as text)."""
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


def is_trusted(peer, networks) -> bool:
    """Whether the address C{peer} (an C{IAddress}) lies in one of C{networks}."""
    try:
        address = ipaddress.ip_address(peer.host.split("%", 1)[0])
    except (AttributeError, ValueError):
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


def _is_ip(host) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class TrustedProxyProtocol(HAProxyProtocolWrapper):
    """
    Reads one PROXY header from a trusted proxy, then connects the wrapped
    protocol, whose transport's C{getPeer} is the header's client.
    """

    factory: TrustedProxyFactory
    log = Logger()

    _started = False
    _buffer = b""
    _deadline = None

    def makeConnection(self, transport) -> None:
        # ProtocolWrapper.makeConnection, less connecting the wrapped
        # protocol: that waits for the header.
        directlyProvides(self, providedBy(transport))
        self.transport = transport
        self.connected = 1
        self.factory.registerProtocol(self)
        proxy = transport.getPeer()
        if not is_trusted(proxy, self.factory.trusted):
            self.log.info("Refused a PROXY connection from {proxy}: not a --trusted-proxy",
                          proxy=getattr(proxy, "host", proxy))
            transport.abortConnection()
            return
        self._deadline = self.factory.clock.callLater(HEADER_TIMEOUT, self._give_up,
                                                      "no PROXY header in time")

    def dataReceived(self, data: bytes) -> None:
        if self._started:
            self.wrappedProtocol.dataReceived(data)
            return
        if self._parser is None:
            data = self._buffer + data
            self._buffer = b""
            if data.startswith(_V2) and len(data) >= 16:
                self._parser = V2Parser()
            elif data.startswith(_V1):
                self._parser = V1Parser()
            elif _V2.startswith(data[:12]) or _V1.startswith(data):
                self._buffer = data  # too short to tell yet
                return
            else:
                self._give_up("no PROXY header")
                return
        try:
            self._proxyInfo, remaining = self._parser.feed(data)
        except InvalidProxyHeader:
            self._give_up("an invalid PROXY header")
            return
        if self._proxyInfo is None:
            return
        source = self._proxyInfo.source
        if source is not None and not _is_ip(getattr(source, "host", None)):
            # Twisted's v1 parser takes any word for an address; the
            # client's host is shown to everybody, so it must be one.
            self._give_up("a PROXY header whose client is not an IP address")
            return
        self._start()
        if remaining and self.connected:
            self.wrappedProtocol.dataReceived(remaining)

    def _start(self) -> None:
        if self._deadline is not None and self._deadline.active():
            self._deadline.cancel()
        self._started = True
        self.wrappedProtocol.makeConnection(self)

    def _give_up(self, why: str) -> None:
        self._deadline = None
        self.log.info("Closed a connection from proxy {proxy}: {why}",
                      proxy=getattr(self.transport.getPeer(), "host", "?"), why=why)
        self.transport.abortConnection()

    def connectionLost(self, reason: Failure) -> None:
        if self._deadline is not None and self._deadline.active():
            self._deadline.cancel()
        self.connected = 0
        self.factory.unregisterProtocol(self)
        # The wrapped protocol never heard of a connection without a header.
        if self._started:
            self.wrappedProtocol.connectionLost(reason)


class TrustedProxyFactory(policies.WrappingFactory):
    """
    Wraps a front end's factory so that its connections open with a PROXY
    header from one of the C{trusted} networks.
    """

    protocol = TrustedProxyProtocol
    noisy = False

    def __init__(self, wrapped, trusted, clock: IReactorTime):
        super().__init__(wrapped)
        self.trusted = trusted
        self.clock = clock

    def logPrefix(self) -> str:
        return f"{self.wrappedFactory.__class__.__name__} (PROXY)"


class ProxiedEndpoint:
    """
    Listens on C{endpoint} with every connection's factory wrapped for PROXY
    headers; for TLS, the header comes before the handshake.
    """

    def __init__(self, endpoint, trusted, clock):
        self._endpoint = endpoint
        self._trusted = trusted
        self._clock = clock
        self._tls = None
        if isinstance(endpoint, endpoints.SSL4ServerEndpoint):
            # HAProxy's send-proxy writes the header in the clear, then the
            # TLS handshake: listen on plain TCP, header first, TLS inside.
            self._tls = endpoint._sslContextFactory
            self._endpoint = endpoints.TCP4ServerEndpoint(
                endpoint._reactor, endpoint._port, endpoint._backlog, endpoint._interface)

    def listen(self, factory):
        if self._tls is not None:
            factory = tls.TLSMemoryBIOFactory(self._tls, False, factory)
        return self._endpoint.listen(TrustedProxyFactory(factory, self._trusted, self._clock))
