"""
Handing one connection's output for a reactor turn to its socket with as
little Python in between as its transport allows.

A L{SendQueue<chatservice.frontends.sendqueue.SendQueue>} gathers a turn's
output and gives it here once per turn; L{sender_for} picks, once per
connection, what takes it:

- plain TCP: C{socket.send} at once when Twisted's own buffer is empty (one
  system call; the transport would instead register for writability, wait a
  reactor turn and send from Python's C{doWrite});
- TLS over TCP: one C{SSL_write} of the whole turn into the connection's
  memory BIO, and the BIO's bytes to the TCP socket as above.  This skips
  Twisted's C{BufferingTLSTransport}, which would hold each write for a
  reactor turn (one timed call per connection per turn) and then, after
  encrypting, hand the bytes to a TCP transport that waits another turn;
- anything else (a transport behind a PROXY header, a test's): its C{write}.

WebSocket output is framed by the WebSocket's own transport (see
L{chatservice.frontends.web.websocket}); its frames then go the same way
over the WebSocket's TCP or TLS connection.

Whatever a fast path cannot take now (a TLS handshake still running, a
connection closing, bytes Twisted holds already) goes the transport's usual
way behind what is already queued there, so order is kept; so do the bytes
the socket does not take, and errors, which the transport then meets and
reports as it would.  (The paths read attributes of Twisted's TCP and TLS
transports that have no public accessor; a Twisted that renamed them would
fail the tests.)
"""

from __future__ import annotations

from typing import Callable

from OpenSSL import SSL
from twisted.internet import tcp
from twisted.protocols.tls import TLSMemoryBIOProtocol

Sender = Callable[[bytes], None]

# Room for the TLS records' own bytes (header, explicit nonce, tag, padding:
# at most about 100 per 16 KiB record of any cipher suite) when reading back
# what one write encrypted; more is read again if this was not enough.
_RECORD_ROOM = 1024


def sender_for(transport) -> Sender:
    """What hands a turn's bytes to C{transport} (see the module's docstring)."""
    if isinstance(transport, tcp.Connection):
        return _tcp_sender(transport)
    if isinstance(transport, TLSMemoryBIOProtocol):
        return _tls_sender(transport)
    return transport.write


def _tcp_sender(transport: tcp.Connection) -> Sender:
    socket = transport.getHandle()

    def send(data: bytes) -> None:
        if (not transport._tempDataLen and not transport.dataBuffer
                and transport.connected and not transport.disconnecting):
            # Connected, and nothing is queued in Twisted's own buffer.
            try:
                sent = socket.send(data)
            except OSError:
                sent = 0
            if sent == len(data):
                return
            data = data[sent:]
        transport.write(data)
    return send


def _tls_sender(tls: TLSMemoryBIOProtocol) -> Sender:
    below = sender_for(tls.transport)

    def send(data: bytes) -> None:
        connection = tls._tlsConnection
        aggregator = getattr(tls, "_aggregator", None)
        if (connection is None or not tls._handshakeDone or tls.disconnecting
                or tls._appSendBuffer or getattr(aggregator, "_buffer", None)):
            # Not ready, closing, or holding older output: Twisted's way.
            tls.write(data)
            return
        size = len(data)
        done = 0
        try:
            while done < size:
                # A memory BIO never refuses: SSL_write takes everything at
                # once (the loop is for partial-write mode's sake).
                done += connection.send(data[done:] if done else data)
        except SSL.Error:
            # Renegotiation wants to read first, or the connection failed:
            # Twisted buffers the rest, or meets the error and reports it.
            tls.write(data[done:])
            if not done:
                return
        room = size + _RECORD_ROOM + (size >> 6)
        chunks = []
        try:
            while True:
                chunk = connection.bio_read(room)
                chunks.append(chunk)
                if len(chunk) < room:
                    break
        except SSL.WantReadError:
            pass  # the BIO is empty
        if chunks:
            below(chunks[0] if len(chunks) == 1 else b"".join(chunks))
    return send
