"""
End to end: SASL EXTERNAL with a TLS client certificate, against a real
``twistd -n chat``: certificates made in the test, registered with
NickServ's CERT on IRC and ``/certfp`` on line chat, then used to log in.
"""

from __future__ import annotations

import hashlib
import re
import ssl

from server import HOST, Client, free_ports, make_certificate
from test_e2e_accounts import add_account, b64, finish, numeric, sasl_plain

EXTERNAL_CAPS = "sasl=PLAIN,SCRAM-SHA-256,EXTERNAL"


def client_certificate(directory):
    """A new self-signed client certificate: (TLS context showing it, its SHA-256 fingerprint)."""
    key, cert = make_certificate(directory)
    return context_with(key, cert), fingerprint(cert)


def context_with(key=None, cert=None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the server's certificate is the test's own
    if cert is not None:
        context.load_cert_chain(str(cert), str(key))
    return context


def fingerprint(cert_path) -> str:
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(cert_path.read_text())).hexdigest()


def tls_irc_server(start_server, certificate, *options, tls: int = 0):
    """A server with a plain IRC port and a TLS one (and C{tls} TLS line ports); return it and the TLS IRC port."""
    key, cert = certificate
    port, = free_ports(1)
    server = start_server(
        "--irc", f"ssl:{port}:privateKey={key}:certKey={cert}:interface={HOST}",
        *options, irc=1, tls=tls)
    return server, port


def caps(client: Client) -> list[str]:
    client.send_line("CAP LS 302")
    # A long list comes over several lines, all but the last marked "*".
    lines = client.read_until(re.compile(rb"CAP \* LS (?!\* )[^\r\n]*\r\n")).decode()
    assert all(len(line.encode()) + 2 <= 512 for line in lines.split("\r\n"))
    return [cap for line in re.findall(r"CAP \* LS (?:\* )?:?([^\r\n]*)", lines)
            for cap in line.split()]


def external(client: Client, authzid: str = "") -> str:
    """Log in with EXTERNAL; return the 90x line that answers."""
    client.send_line("CAP REQ :sasl")
    client.read_until(b"ACK sasl")
    client.send_line("AUTHENTICATE EXTERNAL")
    client.read_until(b"AUTHENTICATE +")
    client.send_line("AUTHENTICATE " + (b64(authzid) if authzid else "+"))
    return client.read_until(re.compile(rb" 90[3-8] [^\r\n]*\r\n")).decode()


def notices(client: Client, until: str) -> str:
    return client.read_until(until.encode()).decode()


def test_nickserv_cert_then_external_login(start_server, certificate, tmp_path):
    """A certificate added with NS CERT ADD logs in with EXTERNAL; another certificate, none, or a plain port does not."""
    server, port = tls_irc_server(start_server, certificate)
    add_account(server, "alice", "correct horse")
    mine, my_fp = client_certificate(tmp_path / "alice")
    theirs, _ = client_certificate(tmp_path / "mallory")

    client = server.connect("alice", tls=mine, port=port)
    assert EXTERNAL_CAPS in caps(client)
    sasl_plain(client, "alice", "correct horse")
    numeric(client, "903")
    finish(client, "alice")
    numeric(client, "001")
    client.send_line("NS CERT LIST")
    notices(client, "alice has no certificates.")
    client.send_line("NS CERT ADD")
    notices(client, f"Certificate {my_fp} now logs in to alice (SASL EXTERNAL).")
    client.send_line("NS CERT ADD")
    notices(client, "That certificate is already yours.")
    client.send_line("NS CERT LIST")
    notices(client, f"  {my_fp} (this connection)")
    client.send_line("QUIT")
    client.read_until_closed()

    again = server.connect("alice-again", tls=mine, port=port)
    answer = external(again)
    assert " 903 " in answer and "You are now logged in as alice" in answer
    finish(again, "alice")
    welcome = numeric(again, "001")
    assert welcome.split()[2] == "alice"
    again.send_line("WHO alice %na")
    assert numeric(again, "354").endswith(" alice alice")

    named = server.connect("named", tls=mine, port=port)
    assert " 903 " in external(named, "alice")
    wrong_name = server.connect("wrong-name", tls=mine, port=port)
    assert " 904 " in external(wrong_name, "bob")

    other = server.connect("mallory", tls=theirs, port=port)
    assert " 904 " in external(other)
    bare = server.connect("bare", tls=context_with(), port=port)
    assert EXTERNAL_CAPS in caps(bare)
    assert "no TLS client certificate" in external(bare)

    plain = server.connect("plain", port=server.irc_ports[0])
    assert not any("EXTERNAL" in cap for cap in caps(plain))
    plain.send_line("CAP REQ :sasl")
    plain.read_until(b"ACK sasl")
    plain.send_line("AUTHENTICATE EXTERNAL")
    assert "PLAIN,SCRAM-SHA-256 :are available" in numeric(plain, "908")
    numeric(plain, "904")
    assert "correct horse" not in server.log()


def test_nickserv_cert_del_and_hostile(start_server, certificate, tmp_path):
    """NS CERT DEL stops a certificate logging in; malformed fingerprints, strangers' and a sixth are refused."""
    server, port = tls_irc_server(start_server, certificate)
    add_account(server, "alice", "correct horse")
    mine, my_fp = client_certificate(tmp_path / "alice")
    client = server.connect("alice", tls=mine, port=port)
    sasl_plain(client, "alice", "correct horse")
    numeric(client, "903")
    finish(client, "alice")
    numeric(client, "001")
    for bad in ("zz", "0" * 63, "g" * 64, "0" * 65, "\x01" * 64, "0" * 400):
        client.send_line(f"NS CERT ADD {bad}")
        notices(client, "A certificate fingerprint is the 64 hex digits of its SHA-256.")
    client.send_line("NS CERT ADD " + "0" * 5000)
    numeric(client, "417")
    client.send_line("NS CERT FROB")
    notices(client, "Usage: CERT ADD")
    colons = ":".join(my_fp[i:i + 2].upper() for i in range(0, 64, 2))
    client.send_line(f"NS CERT ADD {colons}")
    notices(client, f"Certificate {my_fp} now logs in to alice")
    for n in range(4):
        client.send_line(f"NS CERT ADD {n:064x}")
        notices(client, f"Certificate {n:064x} now logs in")
    client.send_line(f"NS CERT ADD {9:064x}")
    notices(client, "An account has at most 5 certificates.")
    client.send_line(f"NS CERT DEL {9:064x}")
    notices(client, "alice has no such certificate.")
    client.send_line("NS CERT DEL")
    notices(client, f"Certificate {my_fp} no longer logs in to alice.")

    after = server.connect("after", tls=mine, port=port)
    assert " 904 " in external(after)

    stranger = server.connect("stranger", port=server.irc_ports[0])
    finish(stranger, "stranger")
    numeric(stranger, "001")
    stranger.send_line(f"NS CERT ADD {my_fp}")
    notices(stranger, "Log in to your account first.")


def test_line_certfp_then_irc_external(start_server, certificate, tmp_path):
    """A line user on the TLS port adds their certificate with /certfp add; it then logs in over IRC with EXTERNAL, across a restart."""
    server, port = tls_irc_server(start_server, certificate, tls=1)
    mine, my_fp = client_certificate(tmp_path / "carol")
    line = server.connect("carol-line", tls=mine, port=server.tls_ports[0])
    line.read_prompt()
    line.send_line("carol")
    line.read_until(b"*** Hello carol!")
    line.send_line("/certfp add")
    line.read_until(b"*** Log in to your account first.")
    line.send_line("/register a-good-long-password")
    line.read_until(b"Account carol registered; you are logged in.")
    line.send_line("/certfp add")
    line.read_until(f"*** Certificate {my_fp} now logs in to carol (SASL EXTERNAL).".encode())
    line.send_line("/certfp list")
    line.read_until(f"***   {my_fp} (this connection)".encode())
    line.send_line("/certfp add \xff\xfe not hex")
    line.read_until(b"*** Usage: CERT ADD")
    line.send_line("/quit")
    line.read_until_closed()

    server.terminate()
    server.start_again()
    client = server.connect("carol-irc", tls=mine, port=port)
    answer = external(client)
    assert " 903 " in answer and "You are now logged in as carol" in answer
    finish(client, "carol")
    assert numeric(client, "001").split()[2] == "carol"
