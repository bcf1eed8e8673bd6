"""
End to end: how twistd starts, fails to start, and stops.
"""

from __future__ import annotations

import signal
import socket
import subprocess

import pytest

from server import HOST, free_ports, is_listening, run_twistd, join_announcement


def last_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def assert_failed_clearly(result: subprocess.CompletedProcess, *expected: str) -> str:
    """
    twistd exited non-zero, saying what was wrong on one line, without a
    traceback; return that line.
    """
    output = result.stdout
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines()
              if any(text in line for text in expected)]
    assert len(errors) == 1, output
    return errors[0]


def test_unknown_option(tmp_path):
    """An unknown option makes twistd exit non-zero, naming the option, with nothing listening."""
    [port] = free_ports()
    result = run_twistd(["-n", "--pidfile=", "chat", "--port", f"tcp:{port}:interface={HOST}",
                         "--no-such-option"], tmp_path)
    line = assert_failed_clearly(result, "--no-such-option")
    assert last_line(result.stdout) == line
    assert line.endswith("option --no-such-option not recognized")
    assert not is_listening(port)


def test_bad_endpoint(tmp_path):
    """A malformed endpoint string makes twistd exit non-zero with a one-line error naming it."""
    result = run_twistd(["-n", "--pidfile=", "chat", "--port", "tcp:notaport"], tmp_path)
    line = assert_failed_clearly(result, "tcp:notaport")
    assert last_line(result.stdout) == line
    assert "--port 'tcp:notaport'" in line


def test_unknown_endpoint_type(tmp_path):
    """An endpoint of an unknown type makes twistd exit non-zero with a one-line error naming it."""
    result = run_twistd(["-n", "--pidfile=", "chat", "--port", "carrierpigeon:8000"],
                        tmp_path)
    line = assert_failed_clearly(result, "carrierpigeon:8000")
    assert last_line(result.stdout) == line


def test_missing_certificate(tmp_path):
    """A missing certificate file makes twistd exit non-zero with a one-line error naming the file, and no port listens."""
    plain, tls = free_ports(2)
    result = run_twistd(
        ["-n", "--pidfile=", "chat", "--port", f"tcp:{plain}:interface={HOST}",
         "--port", f"ssl:{tls}:privateKey=/nonexistent/key.pem:"
                   f"certKey=/nonexistent/cert.pem:interface={HOST}"], tmp_path)
    line = assert_failed_clearly(result, "/nonexistent/")
    assert last_line(result.stdout) == line
    assert "No such file or directory" in line
    assert not is_listening(plain)
    assert not is_listening(tls)


def test_invalid_certificate(tmp_path, certificate):
    """A certificate file that is not a certificate makes twistd exit non-zero with one line of error."""
    key, _ = certificate
    bogus = tmp_path / "bogus.pem"
    bogus.write_text("this is not a certificate\n")
    [port] = free_ports()
    result = run_twistd(
        ["-n", "--pidfile=", "chat", "--port",
         f"ssl:{port}:privateKey={key}:certKey={bogus}:interface={HOST}"], tmp_path)
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stdout, result.stdout
    assert f"ssl:{port}" in last_line(result.stdout), result.stdout
    assert not is_listening(port)


@pytest.mark.parametrize("option, value", [
    ("--max-line-length", "0"),
    ("--flood-rate", "-1"),
    ("--registration-timeout", "soon"),
    ("--default-room", "lobby"),
])
def test_bad_option_values(tmp_path, option, value):
    """A bad option value makes twistd exit non-zero with a one-line error."""
    [port] = free_ports()
    result = run_twistd(["-n", "--pidfile=", "chat", "--port", f"tcp:{port}:interface={HOST}",
                         option, value], tmp_path)
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stdout, result.stdout
    assert value in last_line(result.stdout), result.stdout
    assert not is_listening(port)


def test_port_in_use(tmp_path):
    """A port already in use makes twistd exit non-zero with a one-line error, leaving none of its other ports listening."""
    with socket.socket() as occupier:
        occupier.bind((HOST, 0))
        occupier.listen()
        taken = occupier.getsockname()[1]
        [free] = free_ports()
        result = run_twistd(
            ["-n", "--pidfile=", "chat", "--port", f"tcp:{free}:interface={HOST}",
             "--port", f"tcp:{taken}:interface={HOST}"], tmp_path)
        line = assert_failed_clearly(result, "already in use")
        assert f"{taken}" in line
        assert "cannot listen" in line
        assert not is_listening(free)


def test_port_in_use_by_another_chat_server(tmp_path, server):
    """A second twistd on the port of a running one exits non-zero, and the first keeps serving."""
    result = run_twistd(["-n", "--pidfile=", "chat", "--port",
                         f"tcp:{server.port}:interface={HOST}"], tmp_path)
    assert_failed_clearly(result, "already in use")
    server.user("alice")


def test_help(tmp_path):
    """twistd chat --help lists the options and exits 0."""
    result = run_twistd(["-n", "chat", "--help"], tmp_path)
    assert result.returncode == 0, result.stdout
    for option in ("--port", "--name", "--default-room", "--max-line-length",
                   "--no-flood-control", "--max-send-queue", "--max-per-address",
                   "--registration-timeout", "--max-nick-attempts"):
        assert option in result.stdout


def test_sigterm_stops_cleanly(server):
    """SIGTERM makes twistd close its clients' connections and exit, reporting the signal as its status."""
    alice = server.user("alice")
    # Twisted re-raises the signal that stopped it once it has shut down.
    assert server.terminate(10) in (0, -signal.SIGTERM), server.log()
    alice.read_until_closed()
    assert "Server Shut Down." in server.log()
    assert not is_listening(server.port)


def test_several_plain_ports(start_server):
    """Several --port options each listen, and users on different ports share the hub."""
    server = start_server(plain=2)
    alice = server.user("alice")
    bob = server.connect("bob", port=server.plain_ports[1])
    bob.sign_in("bob")
    alice.read_until(join_announcement("bob"))
    bob.send_line("from the second port")
    alice.read_until("[#lobby] <bob> from the second port\r\n")
