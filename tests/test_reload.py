"""
Unit tests of reloading (L{chatservice.reload}, L{chatservice.listeners}), of
the REHASH and /rehash commands, and of the systemd notifications
(L{chatservice.systemd}), on fake reactors and a socket of the test's own.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import tempfile

import pytest
from twisted.internet import defer
from twisted.internet.error import CannotListenError
from twisted.internet.testing import MemoryReactorClock

from chatservice import systemd
from chatservice.core import errors
from chatservice.core.limits import Limits
from chatservice.frontends.irc.wire import TAGS_MAX_BYTES
from chatservice.reload import Reloader, install_sighup
from chatservice.tap import Options, _parse_again
from chatservice.service import chat_service
from irc_helpers import MixedServer, cheap_hash


class PortsReactor(MemoryReactorClock):
    """A memory reactor that knows which TCP ports are open, and refuses C{taken} ones."""

    def __init__(self):
        super().__init__()
        self.open: set[int] = set()
        self.taken: set[int] = set()
        self.from_threads: list = []

    def callFromThread(self, function, *args, **kwargs):
        self.from_threads.append((function, args, kwargs))

    def listenTCP(self, port, factory, backlog=50, interface=""):
        if port in self.taken or port in self.open:
            raise CannotListenError(interface, port, OSError("Address already in use"))
        listening = super().listenTCP(port, factory, backlog, interface)
        self.open.add(port)
        listening.stopListening = lambda: self.open.discard(port)
        return listening


class Running:
    """
    A chat service built from C{argv} on a L{PortsReactor}, started, with its
    reloader; in memory, so that it leaves no database behind.
    """

    def __init__(self, *argv: str, signals: bool = False):
        self.argv = ["--no-persistence", *argv]
        self.reactor = PortsReactor()
        options = Options()
        options.parseOptions(self.argv)
        self.service = chat_service(self.reactor, options["config"])
        self.reloader = Reloader(self.service, lambda: _parse_again(self.argv), options)
        self.service.hub.reloader = self.service.reloader = self.reloader
        self.service.handle_signals = signals
        self.service.privilegedStartService()
        self.service.startService()

    def reload(self, *argv: str):
        """Reload with C{argv} as the command line; return the summary or the failure."""
        self.argv[:] = ["--no-persistence", *argv]
        results = []
        self.reloader.reload("test").addBoth(results.append)
        assert results, "the reload did not finish"
        return results[0]


def test_limits_operators_origins_applied():
    """A reload gives the factories the new limits (IRC keeping its tag room), the hub the new operators, the web the new origins and proxies."""
    running = Running("--port", "tcp:7001", "--web", "tcp:7002")
    summary = running.reload("--port", "tcp:7001", "--web", "tcp:7002",
                             "--max-line-length", "300", "--max-per-address", "3",
                             "--oper", "boss:" + cheap_hash("pw"),
                             "--web-origin", "https://chat.example", "--trusted-proxy", "10.0.0.0/8",
                             "--motd", "Hello")
    service = running.service
    assert service.line.limits.max_line_length == 300
    assert service.irc.limits.max_line_length > TAGS_MAX_BYTES
    assert service.addresses.limit == 3
    assert service.hub.operators.names() == {"boss"}
    assert service.web.sockets.allowed_origins == {"https://chat.example"}
    assert [str(n) for n in service.web.sockets.trusted_proxies] == ["10.0.0.0/8"]
    assert service.irc.settings.motd == ("Hello",)
    assert service.config.limits.max_line_length == 300
    assert summary.startswith("reloaded command-line; changed: ")
    for key in ("max-line-length", "max-per-address", "oper", "web-origin", "trusted-proxy", "motd"):
        assert key in summary


def test_files_named_on_the_command_line_are_read_again(tmp_path):
    """Without a config file, a reload reads the MOTD and operators files again."""
    motd, opers = tmp_path / "motd.txt", tmp_path / "opers"
    motd.write_text("Old news\n")
    opers.write_text("boss:" + cheap_hash("pw") + "\n")
    argv = ["--port", "tcp:7001", "--motd-file", str(motd), "--oper-file", str(opers)]
    running = Running(*argv)
    motd.write_text("Fresh news\nand more\n")
    opers.write_text("boss:" + cheap_hash("pw") + "\nsecond:" + cheap_hash("pw2") + "\n")
    summary = running.reload(*argv)
    assert summary == "reloaded command-line; changed: motd-file contents, operators"
    assert running.service.irc.settings.motd == ("Fresh news", "and more")
    assert running.service.hub.operators.names() == {"boss", "second"}
    opers.write_text("no colon here\n")
    failure = running.reload(*argv)
    assert "line 1: expected NAME:PASSWORD-HASH" in str(failure.value)
    assert running.service.hub.operators.names() == {"boss", "second"}


def test_unchanged_reload_changes_nothing():
    """Reloading the same configuration reports no change."""
    running = Running("--port", "tcp:7001")
    assert running.reload("--port", "tcp:7001") == "reloaded command-line"
    assert running.reactor.open == {7001}


def test_name_and_data_dir_wait_for_restart():
    """A new server name or data directory is reported as ignored until restart, and not applied."""
    running = Running("--port", "tcp:7001", "--name", "first", "--no-persistence")
    summary = running.reload("--port", "tcp:7001", "--name", "second", "--data-dir", "elsewhere",
                             "--no-persistence")
    assert summary.endswith("ignored until restart: name, data-dir")
    assert running.service.hub.name == "first"
    assert running.service.config.name == "first"
    # Still not applied, so still reported.
    assert "ignored until restart: name" in running.reload(
        "--port", "tcp:7001", "--name", "second", "--no-persistence")


def test_listeners_added_and_removed():
    """A reload listens on new endpoints and stops listening on those no longer given."""
    running = Running("--port", "tcp:7001", "--irc", "tcp:7002")
    summary = running.reload("--port", "tcp:7001", "--irc", "tcp:7003", "--web", "tcp:7004")
    assert running.reactor.open == {7001, 7003, 7004}
    assert "listening on tcp:7003; listening on tcp:7004; no longer listening on tcp:7002" in summary
    assert running.service.config.irc_endpoints == ("tcp:7003",)


def test_listener_on_a_port_freed_by_the_same_reload():
    """An endpoint whose string changed but whose port did not is stopped before its replacement listens."""
    running = Running("--irc", "tcp:7002")
    running.reload("--irc", "tcp:7002:interface=127.0.0.1")
    assert running.reactor.open == {7002}
    assert [l.description for l in running.service.listeners] == ["tcp:7002:interface=127.0.0.1"]


def test_unbindable_listener_changes_nothing():
    """When a new endpoint cannot be bound, the reload fails, the removed listener listens again, and no setting changes."""
    running = Running("--port", "tcp:7001", "--irc", "tcp:7002")
    running.reactor.taken.add(7009)
    failure = running.reload("--port", "tcp:7001", "--irc", "tcp:7003", "--irc", "tcp:7009",
                             "--max-line-length", "300")
    assert failure.check(errors.ReloadFailed)
    assert "cannot listen" in str(failure.value) and "7009" in str(failure.value)
    assert running.reactor.open == {7001, 7002}
    assert sorted(l.description for l in running.service.listeners) == ["tcp:7001", "tcp:7002"]
    assert running.service.line.limits.max_line_length == Limits().max_line_length


@pytest.mark.parametrize("argv, reason", [
    (["--max-line-length", "0"], "--max-line-length must be a positive whole number"),
    (["--port", "ssl:7005:privateKey=/nonexistent/key.pem"], "--port 'ssl:7005"),
    (["--oper-file", "/nonexistent/opers"], "--oper-file '/nonexistent/opers'"),
    (["--port", "tcp:7001", "--bogus"], "option --bogus not recognized"),
])
def test_bad_reload_changes_nothing(argv, reason):
    """A reload whose options are bad fails saying why, and changes nothing."""
    running = Running("--port", "tcp:7001")
    before = running.service.config
    failure = running.reload(*argv)
    assert failure.check(errors.ReloadFailed)
    assert reason in str(failure.value)
    assert running.service.config is before
    assert running.reactor.open == {7001}


def test_bad_config_file_reload(tmp_path):
    """A config file broken after start-up fails the reload with the file's one-line reason."""
    path = tmp_path / "chat.toml"
    path.write_text('name = "x"\n')
    running = Running("--config", str(path), "--port", "tcp:7001")
    path.write_text("max-line-length = -5\n")
    failure = running.reload("--config", str(path), "--port", "tcp:7001")
    assert str(failure.value) == f"{path}: max-line-length: must be a positive whole number, not '-5'"
    assert running.reloader.label == str(path)


def test_reloads_run_one_at_a_time():
    """A reload asked for while one waits on its listeners runs after it."""
    running = Running("--port", "tcp:7001")
    gate = defer.Deferred()
    listeners = running.service.listeners
    carry_out = listeners.carry_out
    order = []

    def slow(plan):
        order.append("first starts")
        listeners.carry_out = carry_out
        return gate.addCallback(lambda _: carry_out(plan))

    listeners.carry_out = slow
    running.argv[:] = ["--no-persistence", "--port", "tcp:7002"]
    first = running.reloader.reload("one").addCallback(lambda s: order.append("first done"))
    second = running.reloader.reload("two").addCallback(lambda s: order.append("second done"))
    assert order == ["first starts"] and not second.called
    gate.callback(None)
    assert sorted(order) == ["first done", "first starts", "second done"]
    assert first.called and second.called
    assert running.reactor.open == {7002}


# systemd

@pytest.fixture
def notify_socket(monkeypatch):
    directory = tempfile.mkdtemp(prefix="notify", dir="/tmp")
    path = os.path.join(directory, "s")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    yield sock
    sock.close()
    shutil.rmtree(directory)


def received(sock) -> dict[str, str]:
    return dict(line.split("=", 1) for line in sock.recv(4096).decode().split("\n"))


def test_notifications_over_the_socket(notify_socket):
    """READY, RELOADING (with the monotonic time) and STOPPING reach NOTIFY_SOCKET as datagrams."""
    assert systemd.ready("Listening")
    assert received(notify_socket) == {"READY": "1", "STATUS": "Listening",
                                       "MAINPID": str(os.getpid())}
    assert systemd.reloading()
    reloading = received(notify_socket)
    assert reloading["RELOADING"] == "1" and int(reloading["MONOTONIC_USEC"]) > 0
    assert systemd.stopping()
    assert received(notify_socket) == {"STOPPING": "1"}


def test_abstract_socket():
    """A NOTIFY_SOCKET starting with @ names a socket in the abstract namespace."""
    name = f"chatservice-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        assert systemd.notify("READY=1", environ={"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(100) == b"READY=1"


def test_without_or_with_a_dead_socket():
    """Without NOTIFY_SOCKET nothing is sent; a socket nobody listens on is not fatal."""
    assert not systemd.notify("READY=1", environ={})
    assert not systemd.notify("READY=1", environ={"NOTIFY_SOCKET": "/nonexistent/notify"})


def test_service_notifies_start_reload_and_stop(notify_socket):
    """The service says READY once started, RELOADING then READY around a reload, and STOPPING."""
    running = Running("--port", "tcp:7001")
    assert received(notify_socket)["READY"] == "1"
    running.reload("--port", "tcp:7001")
    assert received(notify_socket)["RELOADING"] == "1"
    assert received(notify_socket)["READY"] == "1"
    running.reload("--max-line-length", "-1")
    assert received(notify_socket)["RELOADING"] == "1"
    assert received(notify_socket)["READY"] == "1"
    running.service.stopService()
    assert received(notify_socket) == {"STOPPING": "1"}


def test_sighup_handler_only_schedules():
    """SIGHUP's handler only hands the reload to the reactor's thread; the old handler comes back."""
    calls = []

    class Reactor:
        def callFromThread(self, function, *args):
            calls.append(function)

    def reload():
        raise AssertionError("ran in the signal handler")

    previous = signal.getsignal(signal.SIGHUP)
    restore = install_sighup(Reactor(), reload)
    try:
        os.kill(os.getpid(), signal.SIGHUP)
    finally:
        restore()
    assert calls == [reload]
    assert signal.getsignal(signal.SIGHUP) == previous


def test_service_reloads_on_sighup():
    """A started service reloads on SIGHUP, from the reactor's loop; stopping puts the old handler back."""
    previous = signal.getsignal(signal.SIGHUP)
    running = Running("--port", "tcp:7001", signals=True)
    try:
        running.argv[:] = ["--no-persistence", "--port", "tcp:7002"]
        os.kill(os.getpid(), signal.SIGHUP)
        assert running.reactor.open == {7001}
        for function, args, kwargs in running.reactor.from_threads:
            function(*args, **kwargs)
        assert running.reactor.open == {7002}
        running.argv[:] = ["--no-persistence", "--port", "tcp:7002", "--max-line-length", "nope"]
        os.kill(os.getpid(), signal.SIGHUP)
        function, args, kwargs = running.reactor.from_threads[-1]
        function(*args, **kwargs)
        assert running.reactor.open == {7002}
    finally:
        running.service.stopService()
    assert signal.getsignal(signal.SIGHUP) == previous


# REHASH and /rehash

class FakeReloader:
    label = "chat.toml"

    def __init__(self):
        self.asked: list[tuple[str, defer.Deferred]] = []

    def reload(self, asked_by):
        reloading = defer.Deferred()
        self.asked.append((asked_by, reloading))
        return reloading


def test_irc_rehash():
    """REHASH: 481 to a non-operator; 382 then a NOTICE with the outcome to an operator."""
    server = MixedServer(operators=None)
    server.hub.operators.add("boss", cheap_hash("pw"))
    server.hub.reloader = reloader = FakeReloader()
    boss = server.register("boss")
    boss.line("REHASH")
    assert boss.take() == [":chatservice 481 boss :Permission Denied - You're not an IRC operator"]
    boss.line("OPER boss pw")
    boss.take()
    boss.line("REHASH extra :parameters ignored")
    assert boss.take() == [":chatservice 382 boss chat.toml Rehashing"]
    assert reloader.asked[0][0] == "operator boss"
    reloader.asked[0][1].callback("reloaded chat.toml; changed: motd")
    assert boss.take() == [":chatservice NOTICE boss :*** Rehash: reloaded chat.toml",
                           ":chatservice NOTICE boss :*** changed: motd"]
    boss.line("REHASH")
    boss.take()
    reloader.asked[1][1].errback(errors.ReloadFailed("chat.toml: unknown key 'x'"))
    assert boss.take() == [
        ":chatservice NOTICE boss :*** Rehash failed, nothing changed: chat.toml: unknown key 'x'"]


def test_irc_rehash_without_reloader_and_after_quit():
    """A hub that cannot reload says so; an outcome arriving after the operator left goes nowhere."""
    server = MixedServer()
    server.hub.operators.add("boss", cheap_hash("pw"))
    boss = server.register("boss")
    boss.line("OPER boss pw")
    boss.take()
    boss.line("REHASH")
    assert boss.take() == [
        ":chatservice NOTICE boss :*** This server cannot reload its configuration."]
    server.hub.reloader = reloader = FakeReloader()
    boss.line("REHASH")
    boss.take()
    boss.lose()
    reloader.asked[0][1].callback("reloaded")


def test_line_oper_and_rehash():
    """/rehash is refused to non-operators; /oper makes an operator, whose /rehash reports the outcome."""
    server = MixedServer()
    server.hub.operators.add("boss", cheap_hash("pw"))
    server.hub.reloader = reloader = FakeReloader()
    boss = server.sign_in_line("boss")
    boss.line("/rehash")
    assert boss.take() == ["*** Only server operators may do that."]
    boss.line("/oper boss")
    assert boss.take() == ["*** Usage: /oper NAME PASSWORD"]
    boss.line("/oper")
    assert boss.take() == ["*** Usage: /oper NAME PASSWORD"]
    boss.line("/oper boss wrong\x00\x1b[31m")
    assert boss.take() == ["*** Wrong operator name or password."]
    boss.line("/oper boss pw")
    assert boss.take() == ["*** You are now a server operator."]
    boss.line("/rehash")
    assert boss.take() == ["*** Rehashing chat.toml..."]
    reloader.asked[0][1].callback("reloaded chat.toml")
    assert boss.take() == ["*** Rehash: reloaded chat.toml"]
    boss.line("/rehash")
    boss.take()
    reloader.asked[1][1].errback(errors.ReloadFailed("cannot listen: port taken"))
    assert boss.take() == ["*** Rehash failed, nothing changed: cannot listen: port taken"]
