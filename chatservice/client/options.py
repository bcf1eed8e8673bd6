"""The command line of ``chatservice-client``, addresses and TLS contexts."""

from __future__ import annotations

import argparse
import ssl

from .. import __version__

PLAIN_PORT = 8000
TLS_PORT = 8443
TIMEOUT = 10.0

INSECURE_WARNING = ("warning: --insecure: the server's certificate is not checked; "
                    "anyone on the way can read and change this chat")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="chatservice-client",
        description="Chat on a chatservice line port from a terminal.")
    p.add_argument("address", metavar="HOST[:PORT]",
                   help=f"the server; the port defaults to {PLAIN_PORT}, "
                        f"or {TLS_PORT} with --tls")
    p.add_argument("--tls", action="store_true",
                   help="connect with TLS, verifying the server's certificate and "
                        "host name against the system's trust store")
    p.add_argument("--cafile", metavar="FILE",
                   help="with --tls: trust the certificates in FILE (PEM) instead of "
                        "the system's trust store (for a self-signed server)")
    p.add_argument("--insecure", action="store_true",
                   help="with --tls: do not verify the certificate at all (testing only)")
    p.add_argument("--nick", metavar="NAME",
                   help="answer the server's nickname prompt with NAME")
    p.add_argument("--no-color", "--no-colour", dest="no_color", action="store_true",
                   help="no colours (also when NO_COLOR is set or output is not a terminal)")
    p.add_argument("--timeout", type=float, default=TIMEOUT, metavar="SECONDS",
                   help=f"how long to wait for a connection and for the server's greeting "
                        f"(default {TIMEOUT:g})")
    p.add_argument("--no-reconnect", dest="reconnect", action="store_false",
                   help="exit when the connection drops instead of reconnecting")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = parser()
    options = p.parse_args(argv)
    if (options.cafile or options.insecure) and not options.tls:
        p.error("--cafile and --insecure only make sense with --tls")
    if options.cafile and options.insecure:
        p.error("--cafile and --insecure exclude each other")
    if options.timeout <= 0:
        p.error("--timeout must be positive")
    try:
        options.host, options.port = split_address(
            options.address, TLS_PORT if options.tls else PLAIN_PORT)
    except ValueError as problem:
        p.error(str(problem))
    return options


def split_address(address: str, default_port: int) -> tuple[str, int]:
    """C{host}, C{host:port}, C{[v6]} or C{[v6]:port} into (host, port)."""
    host, port = address, ""
    if address.startswith("["):
        end = address.find("]")
        if end < 0:
            raise ValueError(f"invalid address {address!r}")
        host, rest = address[1:end], address[end + 1:]
        if rest and not rest.startswith(":"):
            raise ValueError(f"invalid address {address!r}")
        port = rest[1:]
    elif address.count(":") == 1:
        host, port = address.split(":")
    if not host:
        raise ValueError(f"invalid address {address!r}: no host")
    if not port:
        return host, default_port
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"invalid port {port!r}")
    return host, int(port)


def tls_context(cafile: str | None = None, insecure: bool = False) -> ssl.SSLContext:
    """
    A client context: the system's trust store (or only C{cafile}) and host
    name checking; with C{insecure}, no checks at all.
    """
    context = ssl.create_default_context(cafile=cafile)
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
