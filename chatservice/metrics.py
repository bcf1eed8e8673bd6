"""
Metrics for Prometheus, served on a listener of their own (``--metrics``).

Wire protocol
=============
HTTP/1.1.  ``GET /metrics`` answers 200 with the Prometheus text exposition
format, as C{prometheus_client} writes it and with its content type
(``text/plain; version=...; charset=utf-8``); ``/`` answers with a line pointing there;
anything else is 404.  Nothing is written to the log per request: a scraper
asks every few seconds.

The counts themselves are plain integers that the hub (L{ChatStats}) and
each front end (L{ConnectionStats}) keep as things happen; the
L{ChatCollector} here reads them only when a scraper asks, so the chat's hot
path never touches C{prometheus_client}.  No label ever holds a nickname, a
room or an address: labels are the front end (line, irc), the transport
(tcp, tls, ws, wss), the kind of message (room, private) and why a
connection ended (a fixed list, L{chatservice.core.stats.DISCONNECT_KINDS}).
"""

from __future__ import annotations

import bisect
from typing import Iterable, Mapping

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from twisted.application.service import Service
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.web.pages import notFound
from twisted.web.resource import Resource
from twisted.web.server import Site

from .core.hub import Hub
from .core.stats import ConnectionStats

# Upper bounds, in seconds, of the reactor lag histogram's buckets: from
# "idle" (a millisecond) to "something blocked the server" (seconds).
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ReactorLag(Service):
    """
    How late a timer set for every C{interval} seconds fires: the time the
    reactor was too busy (or blocked) to run it.  A healthy server stays in
    the first buckets; work that blocks the reactor shows up here before
    users complain.
    """

    _call: IDelayedCall | None = None

    def __init__(self, clock: IReactorTime, interval: float = 1.0):
        self.clock = clock
        self.interval = interval
        self.buckets = [0] * len(LAG_BUCKETS)  # not cumulative; +Inf is count
        self.count = 0
        self.sum = 0.0
        self._due = 0.0

    def startService(self) -> None:
        super().startService()
        self._schedule()

    def stopService(self):
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
        return super().stopService()

    def _schedule(self) -> None:
        self._due = self.clock.seconds() + self.interval
        self._call = self.clock.callLater(self.interval, self._fired)

    def _fired(self) -> None:
        self.observe(max(0.0, self.clock.seconds() - self._due))
        self._schedule()

    def observe(self, lag: float) -> None:
        """Count one timer that fired C{lag} seconds late."""
        at = bisect.bisect_left(LAG_BUCKETS, lag)
        if at < len(self.buckets):
            self.buckets[at] += 1
        self.count += 1
        self.sum += lag

    def cumulative(self) -> list[tuple[str, int]]:
        """The buckets as Prometheus wants them: cumulative, ending in +Inf."""
        total, result = 0, []
        for bound, count in zip(LAG_BUCKETS, self.buckets):
            total += count
            result.append((repr(bound), total))
        result.append(("+Inf", self.count))
        return result


class ChatCollector(Collector):
    """
    Reads the hub's, the front ends' and the store's counts when scraped.

    @param front_ends: each front end's name (line, irc) and its stats.
    """

    def __init__(self, hub: Hub, front_ends: Mapping[str, ConnectionStats],
                 lag: ReactorLag | None = None):
        self.hub = hub
        self.front_ends = front_ends
        self.lag = lag

    def collect(self) -> Iterable[Metric]:
        yield from self._connections()
        hub, chat = self.hub, self.hub.stats
        yield GaugeMetricFamily("chatservice_users_signed_in",
                                "People signed in now, over every front end.",
                                value=hub.user_count)
        yield GaugeMetricFamily("chatservice_rooms", "Rooms that exist now (kept empty ones too).",
                                value=hub.room_count)
        messages = CounterMetricFamily(
            "chatservice_messages_received",
            "Messages, actions and notices accepted from clients, to a room or to one person.",
            labels=["target"])
        messages.add_metric(["room"], chat.room_messages)
        messages.add_metric(["private"], chat.private_messages)
        yield messages
        yield CounterMetricFamily(
            "chatservice_deliveries",
            "Events handed to clients (a message to a room of N others is N deliveries).",
            value=chat.deliveries)
        yield CounterMetricFamily("chatservice_logins_failed",
                                  "Logins refused for a wrong password or certificate.",
                                  value=chat.logins_failed)
        yield from self._history()
        if self.lag is not None:
            yield HistogramMetricFamily(
                "chatservice_reactor_lag_seconds",
                "How late a timer set for every second fired: time the server was busy.",
                buckets=self.lag.cumulative(), sum_value=self.lag.sum)

    def _connections(self) -> Iterable[Metric]:
        accepted = CounterMetricFamily(
            "chatservice_connections_accepted",
            "Connections accepted, by front end and transport (IRC over WebSocket: irc, ws).",
            labels=["frontend", "transport"])
        open_ = GaugeMetricFamily("chatservice_connections_open",
                                  "Connections open now, by front end and transport.",
                                  labels=["frontend", "transport"])
        sent = CounterMetricFamily("chatservice_sent_bytes",
                                   "Bytes of output handed to clients' transports, by front end.",
                                   labels=["frontend"])
        disconnects = CounterMetricFamily(
            "chatservice_disconnects", "Connections ended, by front end and reason.",
            labels=["frontend", "reason"])
        for name, stats in self.front_ends.items():
            for transport in ("tcp", "tls", "ws", "wss"):
                if transport in ("ws", "wss") and name != "irc":
                    continue
                accepted.add_metric([name, transport], stats.accepted[transport])
                open_.add_metric([name, transport], stats.open[transport])
            sent.add_metric([name], stats.bytes_out)
            for reason, count in sorted(stats.disconnects.items()):
                disconnects.add_metric([name, reason], count)
        return accepted, open_, sent, disconnects

    def _history(self) -> Iterable[Metric]:
        store = self.hub.store
        if store is None:
            return
        yield CounterMetricFamily("chatservice_history_events_stored",
                                  "Events written to the history store.", value=store.stored)
        yield CounterMetricFamily(
            "chatservice_history_events_dropped",
            "Events the history store could not keep (a full queue, a failing disk).",
            value=store.dropped)
        yield GaugeMetricFamily("chatservice_history_queue_events",
                                "Events waiting for the history writer.",
                                value=getattr(store, "queued", 0))


class MetricsPage(Resource):
    """``/metrics``: the registry's metrics in Prometheus text format."""

    isLeaf = True

    def __init__(self, registry: CollectorRegistry):
        super().__init__()
        self.registry = registry

    def render_GET(self, request) -> bytes:
        request.setHeader(b"Content-Type", CONTENT_TYPE_LATEST.encode("ascii"))
        return generate_latest(self.registry)


class _Root(Resource):
    """``/``: says where the metrics are; any other path is not found."""

    def getChild(self, path: bytes, request) -> Resource:
        if path == b"":
            return self
        return notFound()

    def render_GET(self, request) -> bytes:
        request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        return b"chatservice metrics: GET /metrics\n"


class MetricsSite(Site):
    """The metrics listener's site; it logs nothing per request."""

    noisy = False

    def log(self, request) -> None:
        pass


def registry_for(collector: ChatCollector, process: bool = True) -> CollectorRegistry:
    """
    A registry of the chat's metrics and, with C{process}, the process's own
    (CPU seconds, memory, open files), all under one scrape.
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    if process:
        ProcessCollector(registry=registry)
    return registry


def metrics_site(registry: CollectorRegistry) -> MetricsSite:
    root = _Root()
    root.putChild(b"metrics", MetricsPage(registry))
    return MetricsSite(root)
