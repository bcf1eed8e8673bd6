"""
IRC over WebSocket, as the IRCv3 WebSocket specification describes it.

Wire protocol
=============
An HTTP GET of ``/ws`` or ``/`` with ``Upgrade: websocket`` upgrades to a
WebSocket (a plain GET of ``/`` gets the page).  The two subprotocols of the
IRCv3 WebSocket specification are spoken:

``binary.ircv3.net``
    Each binary message carries one IRC line as bytes, without its CR LF, in
    both directions.  A line that is not UTF-8 is refused with
    ``FAIL <command> INVALID_UTF8``, as on IRC's TCP port (UTF8ONLY).
``text.ircv3.net``
    Each text message carries one IRC line, UTF-8, without its CR LF, in
    both directions.

A client offering both gets the one it lists first (the specification asks
the server to respect the client's order of preference).  A client offering
no subprotocol is answered without one, in binary messages, unless its first
message is a text message: then in text messages (the specification leaves
this case to the server, and suggests both).  A client offering only other
subprotocols is refused (406).

Whatever was negotiated, the server takes both kinds of message from the
client: a message is one line, and a line break inside it ends that line
(what follows is dropped, never run as a second command).  What the lines say
is exactly the IRC front end's protocol, run by the same L{IRCConnection} code
with every limit it has (flood control, send queue, per-address count,
registration timeout, ping timeout).  The server sends only UTF-8 in text
messages.

A text message that is not UTF-8 closes the connection (1007), and a frame or
message longer than an IRC line with its tags closes it (1009).  Browsers may
connect only from an allowed origin: the page's own (the Origin's host and
port equal the Host header) and any listed with --web-origin.

When the server stops, each client gets IRC's ``ERROR`` line and then a
close frame with code 1001 (going away); otherwise the server closes with
1000.

The client's address is the TCP peer's, unless the peer is a trusted proxy:
then it is the last address in the proxy's ``X-Forwarded-For`` header.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import txaio
from autobahn.twisted.resource import WebSocketResource
from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.types import ConnectionDeny
from twisted.internet import error
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import IPushProducer, ISSLTransport, ITransport
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from ..irc import IRCFactory
from ..irc.wire import BODY_MAX_BYTES, TAGS_MAX_BYTES

# Autobahn logs every frame and handshake at debug level through txaio;
# twistd would print all of it.  Its warnings and errors still show.
txaio.use_twisted()
txaio.set_global_log_level("warn")

TEXT = "text.ircv3.net"
BINARY = "binary.ircv3.net"
#: The subprotocols spoken, each with whether its messages are binary.
SUBPROTOCOLS = {BINARY: True, TEXT: False}
SUBPROTOCOL = TEXT  # the page's
MAX_MESSAGE_BYTES = TAGS_MAX_BYTES + BODY_MAX_BYTES


# The first byte of an unfragmented server frame (FIN and the opcode), for
# a text and a binary message.
_TEXT_FRAME = 0x81
_BINARY_FRAME = 0x82


def frame_lines(first: int, data: bytes, limit: int) -> bytes:
    """
    The server's frames, each starting with the byte C{first}, for the IRC
    lines in C{data} (one message per line, without its CR LF): unmasked, so
    that the same bytes serve every client.  A line longer than C{limit} is
    left out, as autobahn refuses to send it.
    """
    frames = []
    for line in data.split(b"\r\n"):
        size = len(line)
        if not size:
            continue
        if size > limit > 0:
            _LineTransport.log.warn("Not sent: a WebSocket message of {size} bytes", size=size)
            continue
        if size < 126:
            frames.append(bytes((first, size)) + line)
        elif size < 1 << 16:
            frames.append(bytes((first, 126)) + size.to_bytes(2, "big") + line)
        else:
            frames.append(bytes((first, 127)) + size.to_bytes(8, "big") + line)
    return frames[0] if len(frames) == 1 else b"".join(frames)


@implementer(ITransport)
class _LineTransport:
    """
    What the IRC connection writes to: each IRC line it writes becomes one
    WebSocket message, binary or text as the socket's C{binary} says.

    Its send queue gives it a turn's lines through L{frame_lines} and sends
    the frames over L{carrier} itself, in one write; C{write} (autobahn's
    C{sendMessage} per line) is for what cannot go that way.
    """

    log = Logger()

    def __init__(self, socket: IRCWebSocket, peer):
        self._socket = socket
        self._peer = peer
        self.disconnecting = False
        # What monitoring calls this transport.
        self.transport_name = "wss" if ISSLTransport.providedBy(socket.transport) else "ws"

    def write(self, data: bytes) -> None:
        socket = self._socket
        if socket.state != socket.STATE_OPEN:
            # The WebSocket is closing: nothing more may be sent (autobahn
            # would raise), and the IRC connection hears of it in onClose.
            return
        binary = socket.binary is not False
        for line in data.split(b"\r\n"):
            if line:
                socket.sendMessage(line, isBinary=binary)

    def writeSequence(self, data) -> None:
        self.write(b"".join(data))

    @property
    def carrier(self) -> ITransport:
        """The connection the WebSocket runs over (TCP or TLS)."""
        return self._socket.transport

    def frame_lines(self, pending: list[bytes], shared: dict) -> bytes | None:
        """
        The frames for the IRC output in C{pending}, in order, to be written
        to L{carrier}; C{None} when autobahn must send them (compression
        negotiated, its own queue holding frames, the WebSocket closing).
        C{shared} keeps each piece's frames for the turn, for the other
        clients it is sent to: built once, not once per client.
        """
        socket = self._socket
        if (socket.state != socket.STATE_OPEN or socket._perMessageCompress is not None
                or socket.send_queue or socket.autoFragmentSize or socket.maskServerFrames):
            return None
        first = _TEXT_FRAME if socket.binary is False else _BINARY_FRAME
        frames = shared.get(first)
        if frames is None:
            frames = shared[first] = {}
        # Clients in a room mostly get the same pieces in the same order in
        # a turn: the whole turn's frames are kept too, keyed by the pieces.
        key = pending[0] if len(pending) == 1 else tuple(pending)
        framed = frames.get(key)
        if framed is None:
            limit = socket.maxMessagePayloadSize
            out = []
            for data in pending:
                piece = frames.get(data)
                if piece is None:
                    piece = frames[data] = frame_lines(first, data, limit)
                out.append(piece)
            framed = frames[key] = out[0] if len(out) == 1 else b"".join(out)
        return framed

    def loseConnection(self) -> None:
        if not self.disconnecting:
            self.disconnecting = True
            if self._socket.factory.irc.shutting_down:
                # 1001, "going away": autobahn's sendClose allows only 1000
                # and application codes, so the frame is sent as it would.
                self._socket.sendCloseFrame(code=1001, reasonUtf8=b"Server shutting down")
            else:
                self._socket.sendClose(1000)

    def abortConnection(self) -> None:
        self.disconnecting = True
        self._socket.dropConnection(abort=True)

    def getPeer(self):
        return self._peer

    def getHost(self):
        return self._socket.transport.getHost()

    def registerProducer(self, producer: IPushProducer, streaming: bool) -> None:
        self._socket.transport.registerProducer(producer, streaming)

    def unregisterProducer(self) -> None:
        self._socket.transport.unregisterProducer()


class IRCWebSocket(WebSocketServerProtocol):
    """
    One WebSocket, carrying one IRC client.
    """

    # Not "log": autobahn's own logger lives there.
    events = Logger()
    factory: IRCWebSocketFactory

    _irc = None
    #: Whether messages to the client are binary; C{None} while that waits
    #: for the first message of a client that negotiated no subprotocol
    #: (binary until then).
    binary: bool | None = None

    def onConnect(self, request):
        settings = self.factory
        if not settings.origin_allowed(request.origin, request.headers):
            self.events.info("Refused a WebSocket from origin {origin}", origin=request.origin)
            raise ConnectionDeny(ConnectionDeny.FORBIDDEN, "Origin not allowed")
        self._peer = settings.client_address(self.transport.getPeer(),
                                             request.headers.get("x-forwarded-for", ""))
        return self._choose(request.protocols)

    def _choose(self, offered) -> str | None:
        """
        The first subprotocol in the client's list that this server speaks;
        C{None} (and replies decided by the client's first message) when the
        client offers none.
        """
        for protocol in offered:
            if protocol in SUBPROTOCOLS:
                self.binary = SUBPROTOCOLS[protocol]
                return protocol
        if offered:
            raise ConnectionDeny(ConnectionDeny.NOT_ACCEPTABLE,
                                 f"This server speaks the {BINARY} and {TEXT} subprotocols")
        self.binary = None
        return None

    def onOpen(self) -> None:
        self._irc = self.factory.irc.buildProtocol(self._peer)
        self._irc.makeConnection(_LineTransport(self, self._peer))

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        if self.state != self.STATE_OPEN:
            # Autobahn still delivers what arrives after the server's close
            # frame; the connection is ending, so none of it runs.
            return
        if self.binary is None:
            # No subprotocol: answer in the kind the client speaks.
            self.binary = isBinary
        # One message is one line; a line break inside it is not a second
        # line but the end of this one.  A text message is UTF-8 (autobahn
        # checked); a binary one may not be, and the IRC connection replaces
        # what is not, as for its TCP clients.
        self._irc.dataReceived(payload.split(b"\n", 1)[0].rstrip(b"\r") + b"\r\n")

    def onClose(self, wasClean: bool, code, reason) -> None:
        irc, self._irc = self._irc, None
        if irc is not None:
            cause = error.ConnectionDone() if wasClean else error.ConnectionLost()
            irc.connectionLost(Failure(cause))


class IRCWebSocketFactory(WebSocketServerFactory):
    """
    Builds an L{IRCWebSocket} for each WebSocket, handing its IRC lines to
    the IRC front end's L{IRCFactory}.

    @ivar allowed_origins: origins (scheme://host[:port]) browsers may
        connect from besides the page's own.
    @ivar trusted_proxies: networks whose X-Forwarded-For header is believed.
    """

    protocol = IRCWebSocket

    def __init__(self, irc: IRCFactory, allowed_origins=(), trusted_proxies=()):
        super().__init__()
        self.irc = irc
        self.configure(allowed_origins, trusted_proxies)
        self.setProtocolOptions(
            maxFramePayloadSize=MAX_MESSAGE_BYTES,
            maxMessagePayloadSize=MAX_MESSAGE_BYTES,
            openHandshakeTimeout=30,
            closeHandshakeTimeout=5,
            # Say why when failing a connection (1007, 1009) with a close
            # frame, rather than dropping the TCP connection without one.
            failByDrop=False,
            # Ping and registration deadlines are the IRC connection's.
            autoPingInterval=0,
        )

    def configure(self, allowed_origins=(), trusted_proxies=()) -> None:
        """Set the allowed origins and trusted proxies (again, on a reload)."""
        self.allowed_origins = frozenset(origin.rstrip("/").lower() for origin in allowed_origins)
        self.trusted_proxies = tuple(ipaddress.ip_network(p, strict=False)
                                     for p in trusted_proxies)

    def origin_allowed(self, origin: str | None, headers: dict) -> bool:
        host = headers.get("host", "")
        if "origin" not in headers:
            # Not a browser (browsers always send Origin): nothing to protect.
            return True
        if not origin or origin == "null":
            return False
        origin = origin.rstrip("/").lower()
        # The page's own origin always; listed ones besides.
        return origin in self.allowed_origins or urlsplit(origin).netloc == host.lower()

    def client_address(self, peer, forwarded_for: str):
        """The address a client is counted and shown under."""
        if not forwarded_for or not self.trusted_proxies:
            return peer
        try:
            proxy = ipaddress.ip_address(peer.host)
        except (AttributeError, ValueError):
            return peer
        if not any(proxy in network for network in self.trusted_proxies):
            return peer
        last = forwarded_for.split(",")[-1].strip()
        try:
            client = ipaddress.ip_address(last)
        except ValueError:
            return peer
        kind = IPv6Address if client.version == 6 else IPv4Address
        return kind("TCP", str(client), 0)


class IRCWebSocketResource(WebSocketResource):
    """
    The ``/ws`` resource: hands the HTTP connection over to the WebSocket.
    """

    def render(self, request):
        channel = request.channel
        # The HTTP channel is done with this connection: its idle timeout
        # and its place as the transport's producer go to the WebSocket.
        channel.setTimeout(None)
        if channel.transport is not None:
            channel.transport.unregisterProducer()
        return super().render(request)
