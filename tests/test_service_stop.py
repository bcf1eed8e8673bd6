"""
How the whole service stops: listeners first, then a goodbye to each client,
then the store; on a fake reactor.
"""

from __future__ import annotations

from twisted.internet import error
from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure

from chatservice.service import GOODBYE_TIMEOUT, HistorySettings, ServerConfig, chat_service


def started(**config):
    reactor = MemoryReactorClock()
    service = chat_service(reactor, ServerConfig(
        line_endpoints=("tcp:0",), irc_endpoints=("tcp:0",),
        history=HistorySettings(persistence=False), **config))
    service.privilegedStartService()
    service.startService()
    return reactor, service


def connect(factory, port=40000):
    peer = IPv4Address("TCP", "10.0.0.1", port)
    protocol = factory.buildProtocol(peer)
    transport = StringTransport(peerAddress=peer)
    protocol.makeConnection(transport)
    return protocol, transport


def test_stop_waits_for_clients_to_take_their_goodbye():
    """Stopping tells each client, and finishes once every connection has gone."""
    reactor, service = started()
    line, irc = service.front_ends
    alice, alice_transport = connect(line)
    alice.dataReceived(b"alice\r\n")
    bob, bob_transport = connect(irc, 40001)
    stopped = []
    service.stopService().addCallback(stopped.append)
    assert alice_transport.value().endswith(b"*** The server is shutting down.\r\n")
    assert bob_transport.value().endswith(b"(Server shutting down)\r\n")
    assert alice_transport.disconnecting and bob_transport.disconnecting
    assert service.hub.user_count == 0
    alice.connectionLost(Failure(error.ConnectionDone()))
    assert not stopped
    bob.connectionLost(Failure(error.ConnectionDone()))
    assert len(stopped) == 1
    reactor.advance(0)  # the flushers' turn, which finds nothing to write
    assert not [call for call in reactor.getDelayedCalls() if call.active()]


def test_stop_drops_clients_that_do_not_go_in_time():
    """A connection still open when the goodbye time is up is dropped, and stopping finishes."""
    reactor, service = started()
    line, _ = service.front_ends
    _, transport = connect(line)
    stopped = []
    service.stopService().addCallback(stopped.append)
    reactor.advance(GOODBYE_TIMEOUT - 0.1)
    assert not stopped and not transport.disconnected
    reactor.advance(0.2)
    assert len(stopped) == 1
    assert transport.disconnected


def test_metrics_listener_and_lag_timer_stop_with_the_service():
    """With --metrics, a listener and the lag timer run while the service does, and stop with it."""
    reactor, service = started(metrics_endpoint="tcp:9100:interface=127.0.0.1")
    ports = [port for port, *_ in reactor.tcpServers]
    assert 9100 in ports
    assert [call for call in reactor.getDelayedCalls() if call.active()]
    service.stopService()
    reactor.advance(GOODBYE_TIMEOUT)
    assert not [call for call in reactor.getDelayedCalls() if call.active()]


def test_listeners_get_the_backlog():
    """Every listener the service opens asks for a backlog of 1024."""
    reactor, _ = started(metrics_endpoint="tcp:9100")
    assert [backlog for _, _, backlog, _ in reactor.tcpServers] == [1024, 1024, 1024]
