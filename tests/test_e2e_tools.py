"""
End to end with the programs people really use: nc, openssl s_client, and a
Python TLS socket, against plain and TLS listeners of one twistd.
"""

from __future__ import annotations

import socket
import ssl

import pytest

from server import join_announcement  # noqa: E402


def test_two_nc_processes_chat(server, nc):
    """Two real nc processes chat through the server and see each other's messages, joins and quits."""
    alice = server.spawn([nc, "127.0.0.1", str(server.port)], "nc-alice")
    alice.read_until("*** Welcome to chatservice! 0 people online.\r\n")
    alice.read_prompt()
    alice.send_line("alice")
    alice.read_until("*** #lobby has no topic.\r\n")

    bob = server.spawn([nc, "127.0.0.1", str(server.port)], "nc-bob")
    bob.read_until("*** Welcome to chatservice! 1 person online.\r\n")
    bob.read_prompt()
    bob.send_line("bob")
    bob.read_until("*** You joined #lobby; 1 other here.\r\n")
    alice.read_until(join_announcement("bob"))

    alice.send_line("hi bob, this is nc")
    bob.read_until("[#lobby] <alice> hi bob, this is nc\r\n")
    bob.send_line("/me waves back")
    alice.read_until("[#lobby] * bob waves back\r\n")

    bob.send_line("/quit done")
    bob.read_until("*** Closing the connection: Quit: done.\r\n")
    alice.read_until("*** bob quit (Quit: done)\r\n")
    # OpenBSD nc keeps running while its standard input is open, even once
    # the server has closed; at the end of its input it exits, with status 0
    # only because the server had closed the connection.
    bob.process.stdin.close()
    assert bob.read_until_closed() == b""
    assert bob.wait() == 0, bob.stderr()


def test_nc_and_socket_client(server, nc):
    """An nc user and a socket client in #lobby see each other's messages."""
    alice = server.user("alice")
    bob = server.spawn([nc, "127.0.0.1", str(server.port)], "nc-bob")
    bob.read_prompt()
    bob.send_line("bob")
    alice.read_until(join_announcement("bob"))
    bob.send_line("from nc")
    alice.read_until("[#lobby] <bob> from nc\r\n")
    alice.send_line("from a socket")
    bob.read_until("[#lobby] <alice> from a socket\r\n")


def test_python_tls_client(tls_server, tls_context):
    """A Python TLS socket that verifies the server's certificate signs in and chats on the TLS port."""
    alice = tls_server.connect("alice", tls=tls_context)
    assert isinstance(alice.sock, ssl.SSLSocket)
    assert alice.sock.version() in ("TLSv1.2", "TLSv1.3")
    assert alice.read_line() == "*** Welcome to chatservice! 0 people online."
    alice.read_prompt()
    alice.send_line("alice")
    alice.read_until("*** #lobby has no topic.\r\n")
    bob = tls_server.user("bob", tls=tls_context)
    alice.read_until(join_announcement("bob"))
    bob.send_line("encrypted hello")
    alice.read_until("[#lobby] <bob> encrypted hello\r\n")


def test_plain_and_tls_users_share_a_room(tls_server, tls_context):
    """A plain user and a TLS user in the same room see each other's messages, nick changes and quits."""
    plain = tls_server.user("plain")
    secure = tls_server.user("secure", tls=tls_context)
    plain.read_until(join_announcement("secure"))
    plain.send_line("hello over tcp")
    secure.read_until("[#lobby] <plain> hello over tcp\r\n")
    secure.send_line("hello over tls")
    plain.read_until("[#lobby] <secure> hello over tls\r\n")
    secure.send_line("/nick safe")
    plain.read_until("*** secure is now known as safe\r\n")
    plain.send_line("/msg safe private over both")
    secure.read_until("[private] <plain> private over both\r\n")
    secure.send_line("/quit bye")
    secure.read_until_closed()
    plain.read_until("*** safe quit (Quit: bye)\r\n")


def test_openssl_s_client(tls_server, openssl, certificate):
    """openssl s_client -quiet on the TLS port chats with a plain-port user, verifying the test's self-signed certificate."""
    key, cert = certificate
    alice = tls_server.user("alice")
    carol = tls_server.spawn(
        [openssl, "s_client", "-quiet", "-connect", f"127.0.0.1:{tls_server.tls_port}",
         "-CAfile", str(cert), "-verify_return_error", "-verify_ip", "127.0.0.1"],
        "s_client")
    carol.read_until("*** Welcome to chatservice! 1 person online.\r\n", timeout=10)
    carol.read_prompt()
    carol.send_line("carol")
    carol.read_until("*** You joined #lobby; 1 other here.\r\n")
    alice.read_until(join_announcement("carol"))
    carol.send_line("hello through openssl")
    alice.read_until("[#lobby] <carol> hello through openssl\r\n")
    alice.send_line("hello, s_client")
    carol.read_until("[#lobby] <alice> hello, s_client\r\n")
    carol.send_line("/quit")
    carol.read_until("*** Closing the connection: Quit.\r\n")
    carol.read_until_closed()
    assert carol.wait() == 0, carol.stderr()
    alice.read_until("*** carol quit (Quit)\r\n")
    assert "verify error" not in carol.stderr()


def test_tls_port_rejects_untrusting_client(tls_server):
    """A TLS client that does not trust the self-signed certificate fails its handshake, and the server goes on serving."""
    context = ssl.create_default_context()  # the system's CAs only
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_server.connect("doubter", tls=context)
    tls_server.user("after")


def test_openssl_s_client_on_plain_port(server, openssl):
    """openssl s_client against the plain port fails instead of hanging, and the server recognises the TLS handshake and hangs up."""
    probe = server.spawn(
        [openssl, "s_client", "-quiet", "-connect", f"127.0.0.1:{server.port}"],
        "s_client-plain")
    try:
        returncode = probe.wait(timeout=10)
    except Exception:
        pytest.fail("openssl s_client did not exit against the plain port:\n"
                    + probe.stderr())
    assert returncode != 0
    server.wait_for_log(lambda log: "TLS on the plain-text port" in log,
                        "the TLS handshake to be recognised")
    server.user("after")


def test_tls_client_hello_bytes_on_plain_port(server):
    """Bytes of a TLS ClientHello on the plain port get a hint to use the TLS port, and the connection is closed."""
    client = server.connect("tls-on-plain")
    client.read_prompt()
    # The start of a TLS 1.2 ClientHello record.
    client.send(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(32))
    rest = client.read_until_closed().decode()
    assert rest == (
        "*** This port speaks plain text, not TLS: connect with nc or telnet, "
        "or use the server's TLS port.\r\n"
        "*** Closing the connection: TLS on the plain-text port.\r\n")
    server.user("after")


def test_plain_bytes_on_tls_port(tls_server, tls_context):
    """Plain text sent to the TLS port does not reach the chat, and the TLS port keeps serving."""
    with socket.create_connection(("127.0.0.1", tls_server.tls_port), timeout=5) as raw:
        raw.sendall(b"alice\r\nhello in clear\r\n")
        raw.settimeout(5)
        received = b""
        for _ in range(100):
            try:
                data = raw.recv(4096)
            except (ConnectionResetError, socket.timeout):
                break
            if not data:
                break
            received += data
        assert b"Welcome" not in received
    tls_server.user("alice", tls=tls_context)


def test_stuck_tls_connections_are_dropped(start_server, tls_context):
    """TLS connections the server closes are dropped even if the client never completes the handshake or never answers the TLS close, freeing their place in the per-address count."""
    server = start_server("--registration-timeout", "1", "--max-per-address", "2",
                          "--exempt", "none", tls=1)
    # One client connects to the TLS port and never sends a ClientHello: the
    # server's greeting waits for a handshake that never comes.
    silent = server.connect("silent", port=server.tls_port)
    # Another quits, reads the server's TLS close_notify, and never answers
    # it (Python's ssl module does not answer by itself).
    quitter = server.user("quitter", tls=tls_context)
    quitter.send_line("/quit")
    quitter.read_until_closed()
    # Both places are taken until the server gives up on them.
    refused = server.connect("refused")
    refused.read_until("*** Too many connections from your address")
    for client in (silent,):
        client.read_until_closed(timeout=15)
    server.wait_for_log(lambda log: log.count("Disconnected 127.0.0.1: Quit") == 1,
                        "the quitter's connection to be dropped", timeout=15)
    server.user("newcomer")
