"""
Where TLS is, for the front ends that point people to it: which port of a
list of listeners speaks TLS, and whether one connection is encrypted, came
over a socket of its own (not a WebSocket) and reached a loopback address;
and the client certificate a TLS connection showed (for SASL EXTERNAL).

IRC advertises the TLS port as an IRCv3 ``sts`` policy; line chat tells
people on a plain port open to the network which port to use instead.
"""

from __future__ import annotations

import hashlib
import ipaddress

from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL
from twisted.internet import endpoints
from twisted.internet.interfaces import ISSLTransport, ITCPTransport

#: Endpoint types whose listeners speak TLS.
TLS_TYPES = ("ssl",)


def tls_port(descriptions) -> int | None:
    """
    The port of the first TLS listener among the endpoint strings
    C{descriptions} (behind a ``haproxy:`` prefix or not); C{None} if none
    has one.
    """
    for description in descriptions:
        try:
            args, options = endpoints._parse(description)
        except (ValueError, IndexError):
            continue
        if args and args[0] == "haproxy":
            args = args[1:]
        if not args or args[0] not in TLS_TYPES:
            continue
        port = args[1] if len(args) > 1 else options.get("port", "")
        if port.isdigit() and 0 < int(port) < 65536:
            return int(port)
    return None


def is_encrypted(transport) -> bool:
    """Whether the connection over C{transport} is encrypted with TLS."""
    return ISSLTransport.providedBy(transport)


def is_socket(transport) -> bool:
    """
    Whether C{transport} is a TCP connection of its own (plain, TLS or behind
    a PROXY header), not a WebSocket's messages or a UNIX socket.
    """
    return ITCPTransport.providedBy(transport)


def is_loopback(address) -> bool:
    """Whether C{address} (an C{IAddress}) is a loopback IP address."""
    try:
        ip = ipaddress.ip_address(address.host.split("%", 1)[0])
    except (AttributeError, ValueError):
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def asks_certificate(transport) -> bool:
    """
    Whether the TLS connection over C{transport} asked the client for a
    certificate (its listener does: see L{chatservice.listeners}).
    """
    if not is_encrypted(transport):
        return False
    try:
        return bool(transport.getHandle().get_verify_mode() & SSL.VERIFY_PEER)
    except (AttributeError, SSL.Error):
        return False


def certificate_fingerprint(transport) -> str | None:
    """
    The SHA-256 of the DER form of the certificate the client showed over
    C{transport}, as 64 lower-case hex digits; C{None} if it showed none.
    """
    if not is_encrypted(transport):
        return None
    try:
        certificate = transport.getPeerCertificate()
    except (AttributeError, SSL.Error):
        return None
    if certificate is None:
        return None
    der = certificate.to_cryptography().public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest()
