"""
The Prometheus collector, the reactor lag histogram, the metrics page and
the listen backlog added to endpoint strings; on fake clocks, no sockets.
"""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import error
from twisted.internet.task import Clock
from twisted.web.test.requesthelper import DummyRequest

from chatservice.metrics import (
    LAG_BUCKETS,
    ChatCollector,
    ReactorLag,
    metrics_site,
    registry_for,
)
from chatservice.listeners import LISTEN_BACKLOG, with_backlog
from chatservice.store.memory import MemoryStore
from irc_helpers import MixedServer


def scrape(registry: CollectorRegistry) -> dict[tuple[str, tuple], float]:
    """The registry's samples, parsed back from the text format, by name and labels."""
    text = generate_latest(registry).decode("utf-8")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples}


def registry(mixed: MixedServer, lag: ReactorLag | None = None) -> CollectorRegistry:
    collector = ChatCollector(mixed.hub, {"line": mixed.line_factory.stats,
                                          "irc": mixed.irc_factory.stats}, lag)
    return registry_for(collector, process=False)


def test_collector_reports_the_chat():
    """A scrape shows the connections, people, rooms, messages, deliveries, bytes and disconnects so far."""
    mixed = MixedServer()
    alice, bob = mixed.room("#lobby", "alice", "bob")
    carol = mixed.sign_in_line("carol")
    alice.line("PRIVMSG #lobby :hello")
    bob.line("PRIVMSG alice :hi")
    carol.line("/quit")
    carol.lose(error.ConnectionDone())
    mixed.line_factory.flusher.flush()
    mixed.irc_factory.flusher.flush()
    got = scrape(registry(mixed))
    assert got["chatservice_connections_accepted_total",
               (("frontend", "irc"), ("transport", "tcp"))] == 2
    assert got["chatservice_connections_open", (("frontend", "irc"), ("transport", "tcp"))] == 2
    assert got["chatservice_connections_accepted_total",
               (("frontend", "line"), ("transport", "tcp"))] == 1
    assert got["chatservice_connections_open", (("frontend", "line"), ("transport", "tcp"))] == 0
    assert got["chatservice_connections_open", (("frontend", "irc"), ("transport", "ws"))] == 0
    assert got["chatservice_users_signed_in", ()] == 2
    assert got["chatservice_rooms", ()] == 1
    assert got["chatservice_messages_received_total", (("target", "room"),)] == 1
    assert got["chatservice_messages_received_total", (("target", "private"),)] == 1
    # hello to bob and carol, hi to alice, carol's quit to alice and bob.
    assert got["chatservice_deliveries_total", ()] >= 5
    assert got["chatservice_disconnects_total", (("frontend", "line"), ("reason", "quit"))] == 1
    assert got["chatservice_sent_bytes_total", (("frontend", "line"),)] > 0
    assert got["chatservice_sent_bytes_total", (("frontend", "irc"),)] > 0
    assert got["chatservice_logins_failed_total", ()] == 0


def test_collector_reads_counts_at_scrape_time():
    """Two scrapes with a message between them differ by that message."""
    mixed = MixedServer()
    alice, _ = mixed.room("#lobby", "alice", "bob")
    metrics = registry(mixed)
    before = scrape(metrics)
    alice.line("PRIVMSG #lobby :again")
    after = scrape(metrics)
    key = ("chatservice_messages_received_total", (("target", "room"),))
    assert after[key] == before[key] + 1
    key = ("chatservice_deliveries_total", ())
    assert after[key] == before[key] + 1


def test_no_nick_or_room_in_any_label():
    """Nicknames and room names never appear in the metrics, whatever they are."""
    mixed = MixedServer()
    alice, bob = mixed.room("#secretroom", "alicesecret", "bobsecret")
    alice.line("PRIVMSG #secretroom :x")
    alice.line("QUIT :bobsecret #secretroom")
    alice.lose(error.ConnectionDone())
    text = generate_latest(registry(mixed)).decode()
    assert "secret" not in text


def test_history_counts_come_from_the_store():
    """With a store, its stored and dropped counts and its queue depth are reported."""
    mixed = MixedServer()
    store = MemoryStore(mixed.clock)
    mixed.hub.attach_store(store)
    alice, _ = mixed.room("#lobby", "alice", "bob")
    alice.line("PRIVMSG #lobby :kept")
    store.dropped = 3
    got = scrape(registry(mixed))
    assert got["chatservice_history_events_stored_total", ()] == store.stored > 0
    assert got["chatservice_history_events_dropped_total", ()] == 3
    assert got["chatservice_history_queue_events", ()] == 0


def test_without_a_store_no_history_metrics():
    """Without a store there are no history metrics to mislead anyone."""
    got = scrape(registry(MixedServer()))
    assert not [name for name, _ in got if "history" in name]


def test_reactor_lag_measures_how_late_the_timer_fires():
    """A timer that fires 0.3 s late lands in the 0.5 s bucket; on time, in the first."""
    clock = Clock()
    lag = ReactorLag(clock)
    lag.startService()
    clock.advance(1.0)
    clock.advance(1.3)
    assert lag.count == 2
    assert lag.sum == pytest.approx(0.3)
    buckets = dict(lag.cumulative())
    assert buckets["0.001"] == 1
    assert buckets["0.25"] == 1
    assert buckets["0.5"] == 2
    assert buckets["+Inf"] == 2
    lag.stopService()
    assert not clock.getDelayedCalls()


def test_reactor_lag_histogram_in_the_scrape():
    """The lag histogram is scraped with cumulative buckets, a count and a sum."""
    mixed = MixedServer()
    lag = ReactorLag(mixed.clock)
    lag.observe(0.0)
    lag.observe(20.0)
    got = scrape(registry(mixed, lag))
    assert got["chatservice_reactor_lag_seconds_bucket", (("le", "0.001"),)] == 1
    assert got["chatservice_reactor_lag_seconds_bucket", (("le", str(LAG_BUCKETS[-1])),)] == 1
    assert got["chatservice_reactor_lag_seconds_bucket", (("le", "+Inf"),)] == 2
    assert got["chatservice_reactor_lag_seconds_count", ()] == 2
    assert got["chatservice_reactor_lag_seconds_sum", ()] == 20.0


def render(site, path: bytes) -> tuple[int, bytes, DummyRequest]:
    request = DummyRequest(path.strip(b"/").split(b"/") if path != b"/" else [b""])
    request.uri = request.path = path
    resource = site.getResourceFor(request)
    body = resource.render(request)
    return request.responseCode or 200, body, request


def test_metrics_page_serves_the_text_format():
    """/metrics answers in Prometheus' text format; / points there; other paths are 404."""
    mixed = MixedServer()
    site = metrics_site(registry(mixed))
    code, body, request = render(site, b"/metrics")
    assert code == 200
    assert request.responseHeaders.getRawHeaders(b"content-type")[0].startswith(
        b"text/plain; version=")
    assert b"chatservice_users_signed_in 0.0" in body
    code, body, _ = render(site, b"/")
    assert b"/metrics" in body
    code, _, _ = render(site, b"/nothing/here")
    assert code == 404


@pytest.mark.parametrize("given, expected", [
    ("tcp:8000", f"tcp:8000:backlog={LISTEN_BACKLOG}"),
    ("tcp:8000:interface=127.0.0.1", f"tcp:8000:interface=127.0.0.1:backlog={LISTEN_BACKLOG}"),
    ("TCP:8000", f"TCP:8000:backlog={LISTEN_BACKLOG}"),
    ("tcp6:8000:interface=\\:\\:1", f"tcp6:8000:interface=\\:\\:1:backlog={LISTEN_BACKLOG}"),
    ("ssl:8443:privateKey=k.pem:certKey=c.pem",
     f"ssl:8443:privateKey=k.pem:certKey=c.pem:backlog={LISTEN_BACKLOG}"),
    ("unix:/run/chat.sock", f"unix:/run/chat.sock:backlog={LISTEN_BACKLOG}"),
    ("haproxy:tcp:8000", f"haproxy:tcp:8000:backlog={LISTEN_BACKLOG}"),
    ("tcp:8000:backlog=10", "tcp:8000:backlog=10"),
    ("tcp:8000:Backlog=10:interface=::1", "tcp:8000:Backlog=10:interface=::1"),
    ("systemd:domain=INET:index=0", "systemd:domain=INET:index=0"),
    ("8000", "8000"),
])
def test_backlog_added_unless_given(given, expected):
    """TCP, TLS and UNIX endpoint strings get backlog=1024 unless they give one; others are left alone."""
    assert with_backlog(given) == expected


def test_backlog_strings_still_parse():
    """Every rewritten endpoint string is one Twisted's parser accepts, with the backlog it says."""
    from twisted.internet import endpoints
    from twisted.internet.testing import MemoryReactor

    reactor = MemoryReactor()
    endpoint = endpoints.serverFromString(reactor, with_backlog("tcp:8000:interface=127.0.0.1"))
    assert endpoint._backlog == LISTEN_BACKLOG
    endpoint = endpoints.serverFromString(reactor, with_backlog("tcp:8000:backlog=7"))
    assert endpoint._backlog == 7
