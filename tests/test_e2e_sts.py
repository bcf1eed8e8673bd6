"""
End to end: a real twistd with a plain and a TLS IRC listener advertises the
IRCv3 ``sts`` policy in ``CAP LS 302``: the TLS port on the plain listener,
the duration on the TLS one.
"""

from __future__ import annotations

import re

from server import HOST, Client, free_ports


def with_tls_irc(start_server, certificate, *options):
    """A server with a plain IRC port and a TLS IRC port; return it and the TLS port."""
    key, cert = certificate
    tls_port, = free_ports(1)
    server = start_server(
        "--irc", f"ssl:{tls_port}:privateKey={key}:certKey={cert}:interface={HOST}",
        *options, plain=0, irc=1)
    return server, tls_port


def capabilities(client: Client) -> list[str]:
    client.send(b"CAP LS 302\r\n")
    # A long list comes over several lines, all but the last marked "*".
    lines = client.read_until(re.compile(rb"CAP \* LS (?!\* )[^\r\n]*\r\n")).decode()
    return [cap for line in re.findall(r"CAP \* LS (?:\* )?:?([^\r\n]*)", lines)
            for cap in line.split()]


def test_plain_irc_advertises_the_tls_port_and_tls_the_duration(start_server, certificate,
                                                                 tls_context):
    """CAP LS 302 on the plain IRC port lists sts=port=<TLS port>; on the TLS port sts=duration=2592000 (30 days); after moving to TLS the client registers."""
    server, tls_port = with_tls_irc(start_server, certificate)
    plain = server.connect("plain", port=server.irc_ports[0])
    assert [cap for cap in capabilities(plain) if cap.startswith("sts")] == \
        [f"sts=port={tls_port}"]
    secure = server.connect("secure", tls=tls_context, port=tls_port)
    assert [cap for cap in capabilities(secure) if cap.startswith("sts")] == \
        ["sts=duration=2592000"]
    secure.send(b"CAP END\r\nNICK alice\r\nUSER alice 0 * :Alice\r\n")
    secure.read_until(re.compile(rb":\S+ 001 alice "))


def test_sts_duration_option(start_server, certificate, tls_context):
    """--sts-duration sets the duration on TLS, and 0 takes the policy off the plain port."""
    server, tls_port = with_tls_irc(start_server, certificate, "--sts-duration", "0")
    plain = server.connect("plain", port=server.irc_ports[0])
    assert not [cap for cap in capabilities(plain) if cap.startswith("sts")]
    secure = server.connect("secure", tls=tls_context, port=tls_port)
    assert "sts=duration=0" in capabilities(secure)


def test_no_tls_listener_no_sts(start_server):
    """With only a plain IRC port, CAP LS 302 has no sts."""
    server = start_server(plain=0, irc=1)
    plain = server.connect("plain", port=server.irc_ports[0])
    assert not [cap for cap in capabilities(plain) if cap.startswith("sts")]
