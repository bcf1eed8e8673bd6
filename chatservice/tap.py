"""
The twistd plugin's options and service (``twistd -n chat``).
"""

from __future__ import annotations

import ipaddress

from twisted.internet import endpoints
from twisted.python import usage
from twisted.python.filepath import FilePath

from .config import ConfigFileOptions
from .core import names
from .core.files import GiB, MiB, FileLimits
from .core.limits import Limits
from .core.operators import Operators
from .frontends.irc import IRCSettings
from .frontends.irc.render import LETTER_MODES
from .core.rooms import FLAGS
from .service import AccountSettings, HistorySettings, ServerConfig, chat_service

DEFAULT_PORT = "tcp:8000"
_DEFAULTS = Limits()
_IRC_DEFAULTS = IRCSettings()
_HISTORY_DEFAULTS = HistorySettings()
_FILE_DEFAULTS = FileLimits()


def _number(kind, option: str, accepts, wanted: str, doc: str):
    """
    A coercer for a numeric option: C{kind} of the text, refused with one
    sentence naming the option unless C{accepts} it.
    """
    whole = "whole " if kind is int else ""

    def coerce(value: str):
        try:
            number = kind(value)
        except ValueError:
            number = None
        if number is None or not accepts(number):
            raise ValueError(f"--{option} must be {wanted.format(whole=whole)}, not {value!r}")
        return number
    coerce.coerceDoc = doc
    return coerce


def _positive(kind, option: str):
    # "not > 0" also refuses NaN, which callLater cannot take.
    return _number(kind, option, lambda number: number > 0,
                   "a positive {whole}number", "Must be positive.")


def _not_negative(kind, option: str):
    return _number(kind, option, lambda number: 0 <= number < float("inf"),
                   "a {whole}number of 0 or more", "0 or more.")


def _one_of(option: str, *choices: str):
    """A coercer that takes only one of C{choices} for --C{option}."""
    def check(value: str) -> str:
        if value not in choices:
            raise ValueError(f"--{option} must be {' or '.join(choices)}, not {value!r}")
        return value
    return check


class Options(ConfigFileOptions):
    synopsis = "[options]"
    longdesc = (
        "A multi-protocol chat server.  Line chat (nc, telnet, openssl s_client) "
        "listens on each --port and IRC on each --irc; with neither given, line "
        "chat listens on " + DEFAULT_PORT + "."
    )

    optFlags = [
        ["no-flood-control", None,
         "Do not delay or disconnect clients that send lines too fast."],
        ["no-persistence", None,
         "Keep history and rooms in memory only: nothing is written to disk "
         "and everything is forgotten when the server stops."],
        ["require-account", None,
         "Nobody signs in without logging in to an account."],
        ["upload-requires-account", None,
         "Only people logged in to an account may share files."],
    ]
    optParameters = [
        ["name", None, "chatservice", "Server name shown to people when they connect."],
        ["description", None, _IRC_DEFAULTS.description,
         "Server description shown to IRC clients (002, WHOIS)."],
        ["default-room", None, "#lobby", "Room everybody joins on signing in."],
        ["room-modes", None, "nt",
         "Modes a new room starts with, as IRC letters from imnst "
         "(n: members only speak, t: operators set the topic)."],
        ["password", None, None, "Server password IRC clients must give with PASS."],
        ["motd", None, None, "Message of the day shown to IRC clients."],
        ["motd-file", None, None, "File holding the message of the day."],
        ["oper-file", None, None,
         "File of server operators, one NAME:PASSWORD-HASH per line."],
        ["max-line-length", None, _DEFAULTS.max_line_length,
         "Longest line-chat line accepted, in bytes.", _positive(int, "max-line-length")],
        ["flood-rate", None, _DEFAULTS.flood_rate,
         "Lines per second a client may send in the long run.", _positive(float, "flood-rate")],
        ["flood-burst", None, _DEFAULTS.flood_burst,
         "Lines a client may send at once before being slowed down.", _positive(int, "flood-burst")],
        ["flood-queue", None, _DEFAULTS.flood_queue,
         "Delayed lines a client may have waiting before it is disconnected "
         "for flooding.", _positive(int, "flood-queue")],
        ["max-send-queue", None, _DEFAULTS.max_send_queue,
         "Bytes of output that may wait for a client that is not reading "
         "before it is disconnected.", _positive(int, "max-send-queue")],
        ["max-per-address", None, _DEFAULTS.max_per_address,
         "Connections allowed from one IPv4 address or IPv6 /64.", _positive(int, "max-per-address")],
        ["registration-timeout", None, _DEFAULTS.registration_timeout,
         "Seconds a new connection has to choose a nickname.", _positive(float, "registration-timeout")],
        ["max-nick-attempts", None, _DEFAULTS.max_nick_attempts,
         "Invalid or taken nicknames a connection may try before it is "
         "disconnected.", _positive(int, "max-nick-attempts")],
        ["ping-interval", None, _IRC_DEFAULTS.ping_interval,
         "Seconds of silence before the server PINGs an IRC client.", _positive(float, "ping-interval")],
        ["ping-timeout", None, _IRC_DEFAULTS.ping_timeout,
         "Seconds a PINGed IRC client has to answer before it is dropped.",
         _positive(float, "ping-timeout")],
        ["sts-duration", None, _IRC_DEFAULTS.sts_duration,
         "Seconds IRC clients keep to TLS once told of the TLS port (IRCv3 sts, "
         "advertised when an --irc listener speaks TLS); 0 advertises no policy.",
         _not_negative(int, "sts-duration")],
        ["data-dir", None, _HISTORY_DEFAULTS.data_dir,
         "Directory holding the database of history and rooms "
         "(chatservice.sqlite3); created on start."],
        ["history-days", None, _HISTORY_DEFAULTS.days,
         "Days a room's events are kept; 0 keeps them for ever.",
         _not_negative(float, "history-days")],
        ["history-max-per-room", None, _HISTORY_DEFAULTS.max_per_room,
         "Events kept per room; the oldest go first.",
         _positive(int, "history-max-per-room")],
        ["history-visibility", None, "all",
         "What a room's members read of its history: all of it, or "
         "since-join (only what was said since they joined).",
         _one_of("history-visibility", "all", "since-join")],
        ["replay-lines", None, _HISTORY_DEFAULTS.replay_lines,
         "Messages shown on joining a room to clients that do not fetch "
         "history themselves; 0 for none.", _not_negative(int, "replay-lines")],
        ["registration", None, "open",
         "Who creates accounts: open (anyone, for themselves) or closed (only "
         "python -m chatservice.accounts add).",
         _one_of("registration", "open", "closed")],
        ["login-token-days", None, AccountSettings.token_days,
         "Days a login token (the web page's remember me) lasts unused; each "
         "use renews it.", _positive(float, "login-token-days")],
        ["history-queue", None, _HISTORY_DEFAULTS.queue_limit,
         "Events that may wait for a slow disk before new ones are dropped "
         "(and counted).", _positive(int, "history-queue")],
        ["metrics", None, None,
         "Serve metrics for Prometheus at /metrics on this Twisted endpoint, "
         "e.g. tcp:9100:interface=127.0.0.1 (off by default; never on a chat port)."],
        ["log-format", None, "text",
         "How the log is written: text, or json (one JSON object per line).",
         _one_of("log-format", "text", "json")],
        ["web-url", None, None,
         "Address people reach the web front end at, for shared files' links "
         "(default: made from the first --web endpoint)."],
        ["upload-max-size", None, _FILE_DEFAULTS.max_size // MiB,
         "Largest shared file, in MiB.", _positive(float, "upload-max-size")],
        ["uploads-per-hour", None, _FILE_DEFAULTS.per_hour,
         "Files one person may share in an hour.", _positive(int, "uploads-per-hour")],
        ["upload-storage", None, _FILE_DEFAULTS.total // GiB,
         "GiB all shared files may take together.", _positive(float, "upload-storage")],
        ["upload-days", None, _FILE_DEFAULTS.days,
         "Days a shared file is kept; 0 keeps it for ever.",
         _not_negative(float, "upload-days")],
        ["upload-timeout", None, _FILE_DEFAULTS.idle_timeout,
         "Every so many seconds an upload must have sent 1 KiB a second, else it "
         "is abandoned.",
         _positive(float, "upload-timeout")],
    ]

    def __init__(self) -> None:
        super().__init__()
        self["port"] = []
        self["irc"] = []
        self["web"] = []
        self["web-origin"] = []
        self["trusted-proxy"] = []
        self["oper"] = []
        self["exempt"] = None  # the default, until --exempt is given

    #: Repeatable options that do not start as a list, with their defaults
    #: (for the config file): --exempt starts as None, its default not being
    #: the "none" that an empty list means.
    repeatable = {"exempt": _DEFAULTS.exempt}

    def opt_exempt(self, network: str) -> None:
        """
        An address or network (repeatable) that --max-per-address does not apply to, e.g. 10.0.0.0/8 for a team behind one NAT; "none" for no exemptions [default: 127.0.0.0/8 and ::1]
        """
        if network == "none":
            self["exempt"] = []
            return
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError as problem:
            raise usage.UsageError(f"--exempt {network!r}: {problem}") from None
        self["exempt"] = (self["exempt"] or []) + [network]

    def opt_port(self, description: str) -> None:
        """
        Listen for line chat on this Twisted endpoint (repeatable), e.g. tcp:8000 or ssl:8443:privateKey=key.pem:certKey=cert.pem [default: tcp:8000]
        """
        self["port"].append(description)

    def opt_irc(self, description: str) -> None:
        """
        Listen for IRC on this Twisted endpoint (repeatable), e.g. tcp:6667 or ssl:6697:privateKey=key.pem:certKey=cert.pem
        """
        self["irc"].append(description)

    def opt_web(self, description: str) -> None:
        """
        Serve the chat page and IRC over WebSocket (/ws) on this Twisted endpoint (repeatable), e.g. tcp:8080, or ssl:8443:privateKey=key.pem:certKey=cert.pem for HTTPS and WSS
        """
        self["web"].append(description)

    def opt_web_origin(self, origin: str) -> None:
        """
        An origin (scheme://host[:port]) whose pages may open the WebSocket besides the page's own (repeatable)
        """
        self["web-origin"].append(origin)

    def opt_trusted_proxy(self, address: str) -> None:
        """
        An address or network (repeatable) of a reverse proxy whose X-Forwarded-For header is believed for WebSocket clients, and the only ones that may connect to a haproxy: endpoint
        """
        try:
            ipaddress.ip_network(address, strict=False)
        except ValueError as problem:
            raise usage.UsageError(f"--trusted-proxy {address!r}: {problem}") from None
        self["trusted-proxy"].append(address)

    def opt_oper(self, credentials: str) -> None:
        """
        A server operator as NAME:PASSWORD (repeatable); the password may be a hash from python -m chatservice.core.operators, and a plain one is hashed at once
        """
        name, colon, password = credentials.partition(":")
        if not colon or not name or not password:
            raise usage.UsageError(f"--oper wants NAME:PASSWORD, not {credentials!r}")
        self["oper"].append((name, password))

    def parseOptions(self, options=None) -> None:
        """
        Parse.  Under twistd, a problem exits non-zero with one line saying
        what: twistd itself would print its whole --help before that line.
        """
        try:
            super().parseOptions(options)
        except usage.UsageError as problem:
            if self.parent is None:
                raise
            raise SystemExit(f"twistd chat: {problem}") from None

    def postOptions(self) -> None:
        if not self["port"] and not self["irc"] and not self["web"]:
            self["port"] = [DEFAULT_PORT]
        for option in ("port", "irc", "web"):
            for description in self[option]:
                _check_endpoint(option, description)
        if self["metrics"] is not None:
            _check_endpoint("metrics", self["metrics"])
        if not self["trusted-proxy"] and any(
                description.startswith("haproxy:")
                for option in ("port", "irc", "web") for description in self[option]):
            raise usage.UsageError("a haproxy: endpoint needs --trusted-proxy: the address "
                                   "of the proxy whose PROXY headers are believed")
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
            exempt=(_DEFAULTS.exempt if self["exempt"] is None else tuple(self["exempt"])),
            registration_timeout=self["registration-timeout"],
            max_nick_attempts=self["max-nick-attempts"],
        )
        self["config"] = ServerConfig(
            line_endpoints=tuple(self["port"]),
            irc_endpoints=tuple(self["irc"]),
            web_endpoints=tuple(self["web"]),
            web_origins=tuple(self["web-origin"]),
            trusted_proxies=tuple(self["trusted-proxy"]),
            name=self["name"],
            default_room=self["default-room"],
            room_modes=_room_modes(self["room-modes"]),
            limits=self["limits"],
            irc=IRCSettings(
                description=self["description"],
                password=self["password"],
                motd=_motd(self["motd"], self["motd-file"]),
                ping_interval=self["ping-interval"],
                ping_timeout=self["ping-timeout"],
                sts_duration=self["sts-duration"],
            ),
            operators=_operators(self["oper"], self["oper-file"]),
            history=HistorySettings(
                persistence=not self["no-persistence"],
                data_dir=self["data-dir"],
                days=self["history-days"],
                max_per_room=self["history-max-per-room"],
                since_join=self["history-visibility"] == "since-join",
                replay_lines=self["replay-lines"],
                queue_limit=self["history-queue"],
            ),
            metrics_endpoint=self["metrics"],
            log_format=self["log-format"],
            web_url=_web_url(self["web-url"]),
            files=FileLimits(
                max_size=int(self["upload-max-size"] * MiB),
                per_hour=self["uploads-per-hour"],
                total=int(self["upload-storage"] * GiB),
                days=self["upload-days"],
                idle_timeout=self["upload-timeout"],
                requires_account=bool(self["upload-requires-account"]),
            ),
            accounts=AccountSettings(
                registration_open=self["registration"] == "open",
                require_account=bool(self["require-account"]),
                token_days=self["login-token-days"],
            ),
        )


def _check_endpoint(option: str, description: str) -> None:
    """
    Parse an endpoint string now, so that a typo or a missing certificate
    stops twistd before anything starts.
    """
    from twisted.internet import reactor

    try:
        endpoints.serverFromString(reactor, description)
    except Exception as problem:
        raise usage.UsageError(
            f"--{option} {description!r}: {problem.__class__.__name__}: {problem}"
        ) from None


def _web_url(url: str | None) -> str | None:
    if url is not None and not url.startswith(("http://", "https://")):
        raise usage.UsageError(f"--web-url must start with http:// or https://, not {url!r}")
    return url.rstrip("/") if url else None


def _room_modes(letters: str):
    modes = set()
    for letter in letters.lstrip("+"):
        mode = LETTER_MODES.get(letter)
        if mode not in FLAGS:
            raise usage.UsageError(f"--room-modes: {letter!r} is not one of imnst")
        modes.add(mode)
    return frozenset(modes)


def _read(option: str, path: str) -> str:
    try:
        return FilePath(path).getContent().decode("utf-8")
    except (OSError, UnicodeDecodeError) as problem:
        raise usage.UsageError(f"--{option} {path!r}: {problem}") from None


def _motd(text: str | None, path: str | None) -> tuple[str, ...]:
    if path is not None:
        text = _read("motd-file", path)
    return tuple(text.splitlines()) if text else ()


def _operators(given: list[tuple[str, str]], path: str | None) -> Operators:
    operators = Operators()
    for name, password in given:
        operators.add(name, password)
    if path is not None:
        for number, line in enumerate(_read("oper-file", path).splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, colon, hashed = line.partition(":")
            if not colon or not name or not hashed:
                raise usage.UsageError(f"--oper-file {path!r}, line {number}: "
                                       "expected NAME:PASSWORD-HASH")
            operators.add(name, hashed)
    return operators


def makeService(options: Options):
    from twisted.internet import reactor

    from .reload import Reloader

    service = chat_service(reactor, options["config"])
    service.reloader = service.hub.reloader = Reloader(
        service, lambda: _parse_again(options.argv), options)
    service.handle_signals = True
    service.stop_on_signals()
    if options["config"].log_format == "json" and options.parent is not None:
        from .logs import json_observer_for

        service.log_observer = json_observer_for(options.parent)
    return service


def _parse_again(argv: list[str]) -> Options:
    """The options C{argv} gives now, its files read again (for a reload)."""
    options = Options()
    options.parse_with_file(argv)
    return options
