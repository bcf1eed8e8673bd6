"""
Giving back the memory a TLS connection's handshake and welcome made it
keep, and asking for client certificates without a callback per connection.

An idle TLS connection costs far more than a plain one, most of it
OpenSSL's: the C{SSL} object itself (about 16 KB with OpenSSL 4, whatever
the context says), and the two memory BIOs that Twisted's
C{TLSMemoryBIOProtocol} puts between it and the socket.  A memory BIO's
buffer never shrinks: it stays as large as the most it ever held at once,
which for most connections is the handshake's flight (the certificate
chain) or the burst of lines that greets a client who signs in.  Once both
BIOs are empty, L{release_buffers} gives the connection two new, empty
BIOs: a few kilobytes each idle connection, for the price of two
allocations once.

The C{SSL} object is left alone: OpenSSL already frees its record buffers
while they are empty (Twisted sets C{SSL_MODE_RELEASE_BUFFERS}).

Both use pyOpenSSL's private binding of OpenSSL and its C{Connection}'s
attributes (as L{directwrite} does); without them, they do nothing but what
pyOpenSSL's public methods do.
"""

from __future__ import annotations

from OpenSSL import SSL
from twisted.internet import tcp
from twisted.protocols.tls import TLSMemoryBIOProtocol

try:
    from OpenSSL._util import ffi as _ffi
    from OpenSSL._util import lib as _lib
    _BIO_new, _BIO_s_mem, _SSL_set_bio = _lib.BIO_new, _lib.BIO_s_mem, _lib.SSL_set_bio
    _BIO_get_mem_data, _SSL_CTX_set_verify = _lib.BIO_get_mem_data, _lib.SSL_CTX_set_verify
except (ImportError, AttributeError):  # pragma: no cover - another pyOpenSSL
    _lib = None


def release_buffers(transport) -> bool:
    """
    Give C{transport}'s TLS connection new, empty memory BIOs if its own
    are empty (nothing received still to decrypt, nothing encrypted still
    to send); return whether it did.  Anything but a TLS transport over
    memory BIOs is left as it is.
    """
    if (_lib is None or not isinstance(transport, TLSMemoryBIOProtocol)
            or transport.disconnecting):
        return False
    connection = transport._tlsConnection
    if connection is None or getattr(connection, "_into_ssl", None) is None:
        return False
    into, out = connection._into_ssl, connection._from_ssl
    if _BIO_get_mem_data(into, _ffi.NULL) or _BIO_get_mem_data(out, _ffi.NULL):
        return False
    new_into, new_out = _BIO_new(_BIO_s_mem()), _BIO_new(_BIO_s_mem())
    if new_into == _ffi.NULL or new_out == _ffi.NULL:  # pragma: no cover - out of memory
        for bio in (new_into, new_out):
            if bio != _ffi.NULL:
                _lib.BIO_free(bio)
        return False
    # SSL_set_bio frees the old pair (as SSL_free would have) and points
    # the record layers at the new one; pyOpenSSL reads and writes them
    # through these two attributes.
    _SSL_set_bio(connection._ssl, new_into, new_out)
    connection._into_ssl, connection._from_ssl = new_into, new_out
    return True


def _accept_any_certificate(ok, store) -> int:
    # Any certificate (self-signed included) is taken: only its fingerprint
    # matters, compared with those accounts registered.
    return 1


if _lib is not None:
    # One callback for the whole process: pyOpenSSL's Connection.set_verify
    # makes a helper and a C callback (a closure) for each connection.
    _ACCEPT_ANY = _ffi.callback("int (*)(int, X509_STORE_CTX *)", _accept_any_certificate)


def ask_for_certificates(context: SSL.Context) -> None:
    """
    Make every connection that C{context} makes from now on ask the client
    for a certificate without requiring one (C{VERIFY_PEER} without
    C{VERIFY_FAIL_IF_NO_PEER_CERT}), and take any certificate it shows.

    Set once on a context that has already made a connection (Twisted's
    options make one to check their ciphers, after which pyOpenSSL refuses
    changes): OpenSSL copies the mode and callback into each new connection.
    """
    _SSL_CTX_set_verify(context._context, SSL.VERIFY_PEER, _ACCEPT_ANY)


def accept_any_certificate(connection, certificate, errno, depth, ok) -> bool:
    """A pyOpenSSL verify callback that takes any certificate (see above)."""
    return True


#: Whether L{ask_for_certificates} can be used (pyOpenSSL's binding is there).
CONTEXT_VERIFY = _lib is not None


def share_write_names(transport_class: type = tcp.Server) -> None:
    """
    Put the names Twisted's TCP transport sets when it first writes through
    its own buffer into the class's shared table of attribute names, by
    setting them on an instance made for nothing else, before the first
    connection.

    A TLS connection's handshake always goes that way, a turn or more
    after the connection was made: by then a busy listener has made many
    more, CPython (3.11) takes no new names into the table (see
    C{GuardedLineReceiver.__init__}), and each TLS connection's transport
    got a dictionary of its own, about 600 bytes more.  (Plain connections
    write straight to the socket: see L{directwrite}.)  Once per class.
    """
    if transport_class in _shared:
        return
    _shared.add(transport_class)
    probe = transport_class.__new__(transport_class)
    probe.dataBuffer = b""
    probe.offset = 0


# The classes share_write_names was done for.
_shared: set[type] = set()
