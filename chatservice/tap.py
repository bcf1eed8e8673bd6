"""
The twistd plugin's options and service (``twistd -n chat``).
"""

from __future__ import annotations

from twisted.internet import endpoints
from twisted.python import usage

from .core import names
from .core.limits import Limits
from .service import chat_service

DEFAULT_PORT = "tcp:8000"
_DEFAULTS = Limits()


def _positive(kind):
    def coerce(value: str):
        number = kind(value)
        if not number > 0:  # also refuses NaN, which callLater cannot take
            raise ValueError(f"must be a positive number, not {value}")
        return number
    coerce.coerceDoc = "Must be positive."
    return coerce


class Options(usage.Options):
    synopsis = "[options]"
    longdesc = (
        "A multi-protocol chat server.  Line chat (nc, telnet, openssl s_client) "
        "listens on each --port; with none given, on " + DEFAULT_PORT + "."
    )

    optFlags = [
        ["no-flood-control", None,
         "Do not delay or disconnect clients that send lines too fast."],
    ]
    optParameters = [
        ["name", None, "chatservice", "Server name shown to people when they connect."],
        ["default-room", None, "#lobby", "Room everybody joins on signing in."],
        ["max-line-length", None, _DEFAULTS.max_line_length,
         "Longest line accepted, in bytes.", _positive(int)],
        ["flood-rate", None, _DEFAULTS.flood_rate,
         "Lines per second a client may send in the long run.", _positive(float)],
        ["flood-burst", None, _DEFAULTS.flood_burst,
         "Lines a client may send at once before being slowed down.", _positive(int)],
        ["flood-queue", None, _DEFAULTS.flood_queue,
         "Delayed lines a client may have waiting before it is disconnected "
         "for flooding.", _positive(int)],
        ["max-send-queue", None, _DEFAULTS.max_send_queue,
         "Bytes of output that may wait for a client that is not reading "
         "before it is disconnected.", _positive(int)],
        ["max-per-address", None, _DEFAULTS.max_per_address,
         "Connections allowed from one IPv4 address or IPv6 /64.", _positive(int)],
        ["registration-timeout", None, _DEFAULTS.registration_timeout,
         "Seconds a new connection has to choose a nickname.", _positive(float)],
        ["max-nick-attempts", None, _DEFAULTS.max_nick_attempts,
         "Invalid or taken nicknames a connection may try before it is "
         "disconnected.", _positive(int)],
    ]

    def __init__(self) -> None:
        super().__init__()
        self["port"] = []

    def opt_port(self, description: str) -> None:
        """
        Listen for line chat on this Twisted endpoint (repeatable), e.g. tcp:8000 or ssl:8443:privateKey=key.pem:certKey=cert.pem [default: tcp:8000]
        """
        self["port"].append(description)

    def postOptions(self) -> None:
        if not self["port"]:
            self["port"] = [DEFAULT_PORT]
        for description in self["port"]:
            _check_endpoint(description)
        problem = names.room_problem(self["default-room"])
        if problem:
            raise usage.UsageError(f"--default-room {self['default-room']!r}: {problem}")
        self["limits"] = Limits(
            max_line_length=self["max-line-length"],
            flood_control=not self["no-flood-control"],
            flood_rate=self["flood-rate"],
            flood_burst=self["flood-burst"],
            flood_queue=self["flood-queue"],
            max_send_queue=self["max-send-queue"],
            max_per_address=self["max-per-address"],
            registration_timeout=self["registration-timeout"],
            max_nick_attempts=self["max-nick-attempts"],
        )


def _check_endpoint(description: str) -> None:
    """
    Parse an endpoint string now, so that a typo or a missing certificate
    stops twistd before anything starts.
    """
    from twisted.internet import reactor

    try:
        endpoints.serverFromString(reactor, description)
    except Exception as problem:
        raise usage.UsageError(
            f"--port {description!r}: {problem.__class__.__name__}: {problem}"
        ) from None


def makeService(options: Options):
    from twisted.internet import reactor

    return chat_service(reactor, options["port"], options["limits"],
                        name=options["name"], default_room=options["default-room"])
