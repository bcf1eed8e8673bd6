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
    # BufferingTLSTransport's list of writes held for its next turn (emptied
    # in place); a plain TLSMemoryBIOProtocol holds none.
    held = getattr(getattr(tls, "_aggregator", None), "_buffer", ())
    encrypt = _encrypt_raw if _lib is not None else _encrypt

    def send(data: bytes) -> None:
        connection = tls._tlsConnection
        if (connection is None or not tls._handshakeDone or tls.disconnecting
                or tls._appSendBuffer or held):
            # Not ready, closing, or holding older output: Twisted's way.
            tls.write(data)
            return
        done = encrypt(connection, data)
        if done < len(data):
            # Renegotiation wants to read first, or the connection failed:
            # Twisted buffers the rest, or meets the error and reports it.
            tls.write(data[done:] if done else data)
            if not done:
                return
        encrypted = (_read_raw if _lib is not None else _read)(connection, len(data))
        if encrypted:
            below(encrypted)
    return send


def _encrypt(connection: SSL.Connection, data: bytes) -> int:
    """SSL_write C{data}; return how much of it was taken."""
    done = 0
    try:
        while done < len(data):
            # A memory BIO never refuses: SSL_write takes everything at once
            # (the loop is for partial-write mode's sake).
            done += connection.send(data[done:] if done else data)
    except SSL.Error:
        pass
    return done


def _read(connection: SSL.Connection, size: int) -> bytes:
    """What the memory BIO holds: the records of C{size} bytes just written."""
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
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


# The same two calls through pyOpenSSL's own binding of OpenSSL, without
# pyOpenSSL's wrappers: these cost more than the encryption of a turn's few
# lines (about 3 us of 5 per connection and turn).  They use pyOpenSSL's
# private binding and Connection attributes; without them, the above.
try:
    from OpenSSL._util import ffi as _ffi
    from OpenSSL._util import lib as _lib
    _SSL_write, _BIO_read, _ERR_clear_error = _lib.SSL_write, _lib.BIO_read, _lib.ERR_clear_error
    _OUT_SIZE = 1 << 16
    # One buffer for every connection: the reactor's thread alone reads.
    _out = _ffi.new("char[]", _OUT_SIZE)
    _out_bytes = _ffi.buffer(_out)
except (ImportError, AttributeError):  # pragma: no cover - another pyOpenSSL
    _lib = None


def _encrypt_raw(connection: SSL.Connection, data: bytes) -> int:
    ssl, size, done = connection._ssl, len(data), 0
    while done < size:
        # Partial-write mode (pyOpenSSL sets it) returns after each 16 KiB.
        count = _SSL_write(ssl, data[done:] if done else data, size - done)
        if count <= 0:
            # Leave no error behind for pyOpenSSL's next call to misreport.
            _ERR_clear_error()
            break
        done += count
    return done


def _read_raw(connection: SSL.Connection, size: int) -> bytes:
    bio = connection._from_ssl
    chunks = []
    while True:
        count = _BIO_read(bio, _out, _OUT_SIZE)
        if count <= 0:
            break
        chunks.append(_out_bytes[:count])
        if count < _OUT_SIZE:
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
