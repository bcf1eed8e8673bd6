"""
Reloading the configuration without a restart: on SIGHUP, an IRC operator's
REHASH or a line operator's /rehash.

A reload parses the same command line again over the config file as it is
now on disk, which also re-reads the files the options name (certificates
and keys, the MOTD file, the operators file), and then applies what can
change while people are connected:

 - listeners added or removed, and the TLS certificate of each kept TLS
   listener (new connections get the new one; open ones keep theirs);
 - the limits (new connections get all of them), the operators, the MOTD and
   the other IRC settings, the web origins and the trusted proxies.

Anything else that changed (the server name, the data directory,
persistence, history settings...) is logged as ignored until a restart.  A
reload that fails (a bad file, an unreadable key, a port that cannot be
bound) changes nothing, and says why to the log and to whoever asked.
Reloads run one at a time.
"""

from __future__ import annotations

import dataclasses
import signal
from typing import Callable

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python import usage

from . import systemd
from .config import ConfigError, option_keys
from .core.errors import ReloadFailed
from .core.limits import exempt_networks
from .service import irc_settings, line_tls_port

log = Logger()

# Options whose new values a reload applies; a change to any other option
# waits for a restart.
LIVE = frozenset({
    "port", "irc", "web", "web-origin", "trusted-proxy",
    "oper", "oper-file", "motd", "motd-file", "description", "password",
    "ping-interval", "ping-timeout",
    "max-line-length", "no-flood-control", "flood-rate", "flood-burst", "flood-queue",
    "max-send-queue", "max-per-address", "registration-timeout", "max-nick-attempts",
    "exempt", "sts-duration",
})


class Reloader:
    """
    Reloads one running L{ChatService}'s configuration.

    @ivar label: what is reloaded, for operators: the config file, or
        C{"command-line"} without one.
    """

    def __init__(self, service, parse: Callable[[], usage.Options], options: usage.Options):
        """
        @param parse: parse the command line (and its config file) again,
            raising L{ConfigError} or L{usage.UsageError}.
        @param options: the options the service was started with.
        """
        self.service = service
        self._parse = parse
        self._keys = list(option_keys(type(options)))
        self._values = {key: options[key] for key in self._keys}
        self.label = options.config_file or "command-line"
        self._lock = defer.DeferredLock()

    def reload(self, asked_by: str) -> defer.Deferred:
        """
        Reload; fire with a one-line summary of what changed, or fail with
        L{ReloadFailed} saying why nothing did.
        """
        return self._lock.run(self._reload, asked_by)

    @defer.inlineCallbacks
    def _reload(self, asked_by: str):
        systemd.reloading()
        try:
            summary = yield self._attempt()
        except ReloadFailed as failed:
            log.warn("Reload of {label} asked by {who} failed, nothing changed: {why}",
                     label=self.label, who=asked_by, why=str(failed))
            raise
        finally:
            systemd.ready("Listening")
        log.info("Reload of {label} asked by {who}: {summary}",
                 label=self.label, who=asked_by, summary=summary)
        return summary

    @defer.inlineCallbacks
    def _attempt(self):
        try:
            options = self._parse()
        except (ConfigError, usage.UsageError) as problem:
            raise ReloadFailed(_one_line(problem)) from None
        service = self.service
        old, new = service.config, options["config"]
        try:
            plan = service.listeners.plan({"port": new.line_endpoints,
                                           "irc": new.irc_endpoints,
                                           "web": new.web_endpoints})
        except Exception as problem:
            raise ReloadFailed(f"{problem.__class__.__name__}: {_one_line(problem)}") from None
        try:
            yield service.listeners.carry_out(plan)
        except Exception as problem:
            raise ReloadFailed(f"cannot listen: {_one_line(problem)}") from None

        service.line.set_limits(new.limits)
        service.irc.set_limits(new.limits)
        service.addresses.limit = new.limits.max_per_address
        service.addresses.exempt = exempt_networks(new.limits.exempt)
        service.irc.settings = irc_settings(new)
        service.line.tls_port = line_tls_port(new)
        service.hub.operators = new.operators
        service.web.sockets.configure(new.web_origins, new.trusted_proxies)
        service.listeners.set_trusted(new.trusted_proxies)
        service.config = dataclasses.replace(
            old, line_endpoints=new.line_endpoints, irc_endpoints=new.irc_endpoints,
            web_endpoints=new.web_endpoints, web_origins=new.web_origins,
            trusted_proxies=new.trusted_proxies, limits=new.limits, irc=new.irc,
            operators=new.operators)
        return self._summary(options, old, new, plan)

    def _summary(self, options, old, new, plan) -> str:
        """What changed and what waits for a restart; keys only, never values."""
        changed, ignored = [], []
        for key in self._keys:
            if options[key] != self._values[key]:
                (changed if key in LIVE else ignored).append(key)
                if key in LIVE:
                    self._values[key] = options[key]
        if new.irc.motd != old.irc.motd and not {"motd", "motd-file"} & set(changed):
            changed.append("motd-file contents")
        if new.operators.names() != old.operators.names() and "oper" not in changed:
            changed.append("operators")
        parts = [f"reloaded {self.label}"]
        for listener in plan.added:
            parts.append(f"listening on {listener.description}")
        for listener in plan.removed:
            parts.append(f"no longer listening on {listener.description}")
        if plan.certificates:
            parts.append(f"certificates re-read for {len(plan.certificates)} TLS listener"
                         + ("s" if len(plan.certificates) > 1 else ""))
        if changed:
            parts.append("changed: " + ", ".join(changed))
        if ignored:
            parts.append("ignored until restart: " + ", ".join(ignored))
        return "; ".join(parts)


def _one_line(problem: Exception) -> str:
    return " ".join(str(problem).split())


def install_sighup(reactor, reload: Callable[[], object]) -> Callable[[], None]:
    """
    Make SIGHUP call C{reload} from the reactor's loop (the signal handler
    itself only wakes the reactor); return what puts the old handler back.
    """
    def handler(signum, frame):
        reactor.callFromThread(reload)

    previous = signal.signal(signal.SIGHUP, handler)
    return lambda: signal.signal(signal.SIGHUP, previous)
