"""
Unit tests of IRC over WebSocket's subprotocols and paths, without sockets
(the real L{WebSite} over a L{StringTransport}, as in L{test_web_unit}):
``binary.ircv3.net`` (each binary message one IRC line, bytes), no
subprotocol at all, and the upgrade on ``/`` beside ``/ws``.

What the IRCv3 WebSocket specification asks, and what is done here: each
message is exactly one IRC line without its CR LF, so a line break inside a
message ends that line and what follows is dropped (never run as a second
command); a trailing CR LF is forgiven.  Binary messages may carry bytes that
are not UTF-8: they are replaced (U+FFFD), as on IRC's TCP port, and the
server never sends anything but UTF-8 in a text message.
"""

from __future__ import annotations

import pytest

from twisted.web.resource import getChildForRequest
from twisted.web.server import NOT_DONE_YET
from twisted.web.test.requesthelper import DummyRequest

from chatservice.core.limits import Limits
from chatservice.frontends.web import STATIC, _Static, web_site
from chatservice.frontends.web.websocket import (
    BINARY,
    MAX_MESSAGE_BYTES,
    SUBPROTOCOL,
    IRCWebSocketResource,
)
from irc_helpers import MixedServer
from test_web_unit import OP_BINARY, Browser, Web


def binary_user(web: Web, nick: str, **options) -> Browser:
    user = web.browser(protocols=(BINARY,), **options)
    for line in (f"NICK {nick}", f"USER {nick} 0 * :{nick}", "JOIN #lobby"):
        user.send(OP_BINARY, line.encode())
    messages = user.binary_messages()
    assert any(f" 001 {nick} ".encode() in m for m in messages), messages
    return user


def test_binary_subprotocol_chat_with_text_and_tcp_users():
    """A binary.ircv3.net user, a text.ircv3.net user and a TCP IRC user in one room hear each other; the binary user gets binary messages only, one line each."""
    web = Web()
    alice = binary_user(web, "alice")
    bob = web.browser()
    bob.register("bob")
    carol = web.irc.register("carol")
    carol.line("JOIN #lobby")
    carol.take()
    alice.binary_messages()
    bob.messages()
    alice.send(OP_BINARY, "PRIVMSG #lobby :héllo in binary".encode())
    assert bob.messages() == [":alice!~alice@1.2.3.4 PRIVMSG #lobby :héllo in binary"]
    assert carol.take() == [":alice!~alice@1.2.3.4 PRIVMSG #lobby :héllo in binary"]
    bob.say("PRIVMSG #lobby :text to binary")
    carol.line("PRIVMSG #lobby :tcp to binary")
    assert alice.binary_messages() == [b":bob!~bob@1.2.3.4 PRIVMSG #lobby :text to binary",
                                       b":carol!~carol@1.2.3.4 PRIVMSG #lobby :tcp to binary"]


def test_binary_invalid_utf8_is_refused_not_closed():
    """A binary message that is not UTF-8 gets FAIL INVALID_UTF8, as on IRC's TCP port (UTF8ONLY); the connection stays, and nothing reaches the others."""
    web = Web()
    alice = binary_user(web, "alice")
    bob = web.browser()
    bob.register("bob")
    alice.binary_messages()
    alice.send(OP_BINARY, b"PRIVMSG #lobby :caf\xe9 \xff\xfe")
    assert alice.binary_messages() == [
        b":chatservice FAIL PRIVMSG INVALID_UTF8 :Your message was not valid UTF-8 and was dropped"]
    assert bob.messages() == []
    alice.send(OP_BINARY, b"PING :still")
    assert alice.binary_messages()[-1].endswith(b"still")


def test_binary_message_on_a_text_connection_is_a_line():
    """A text.ircv3.net client's binary message is taken as a line too (refused if not UTF-8); replies stay text."""
    web = Web()
    alice, bob = web.browser(), web.browser()
    alice.register("alice")
    bob.register("bob")
    alice.messages()
    bob.messages()
    bob.send(OP_BINARY, "PRIVMSG #lobby :café".encode())
    assert alice.messages() == [":bob!~bob@1.2.3.4 PRIVMSG #lobby :café"]
    bob.send(OP_BINARY, b"PRIVMSG #lobby :caf\xe9")
    assert alice.messages() == []
    assert bob.messages()[-1].startswith(":chatservice FAIL PRIVMSG INVALID_UTF8 ")
    bob.send(OP_BINARY, b"PING :x")
    assert bob.messages()[-1].endswith("x")


def test_binary_line_breaks_nul_and_several_lines():
    """In a binary message a line break ends the line (what follows is dropped, not run); a trailing CR LF is forgiven; a NUL or a lone CR does not survive into the text."""
    web = Web()
    alice = binary_user(web, "alice")
    bob = web.browser()
    bob.register("bob")
    alice.binary_messages()
    alice.send(OP_BINARY, b"PRIVMSG #lobby :one\r\nQUIT :smuggled")
    alice.send(OP_BINARY, b"PRIVMSG #lobby :two\nJOIN #elsewhere")
    alice.send(OP_BINARY, b"PRIVMSG #lobby :three\r\n")
    alice.send(OP_BINARY, b"PRIVMSG #lobby :fo\x00ur\rPART #lobby")
    messages = bob.messages()
    assert messages[:3] == [":alice!~alice@1.2.3.4 PRIVMSG #lobby :" + word
                            for word in ("one", "two", "three")], messages
    assert len(messages) == 4 and "\x00" not in messages[3] and "\r" not in messages[3]
    assert web.online("alice")
    alice.send(OP_BINARY, b"WHOIS alice")
    channels = [m for m in alice.binary_messages() if b" 319 " in m]
    assert channels and b"#elsewhere" not in channels[0] and b"#lobby" in channels[0]


def test_binary_message_over_the_limit_closes_with_1009():
    """A binary message of MAX_MESSAGE_BYTES is an IRC line too long (417); one byte more gets a 1009 close."""
    web = Web()
    alice = binary_user(web, "alice")
    alice.binary_messages()
    alice.send(OP_BINARY, b"PRIVMSG #lobby :" + b"x" * (MAX_MESSAGE_BYTES - 16))
    assert [m.split()[1] for m in alice.binary_messages()] == [b"417"]
    alice.send(OP_BINARY, b"PRIVMSG #lobby :" + b"x" * (MAX_MESSAGE_BYTES - 15))
    assert alice.close_code() == 1009


def test_no_subprotocol_answers_binary_until_the_client_speaks_text():
    """Without a subprotocol the server answers in the kind of message the client sends first: binary for a binary client."""
    web = Web()
    alice = web.browser(protocols=())
    for line in ("NICK alice", "USER alice 0 * :alice"):
        alice.send(OP_BINARY, line.encode())
    assert any(b" 001 alice " in m for m in alice.binary_messages())
    alice.say("PING :text is taken too")
    assert alice.binary_messages()[-1].endswith(b"text is taken too")


def test_no_subprotocol_text_client_gets_text():
    """Without a subprotocol a client whose first message is text gets text messages (legacy web clients)."""
    web = Web()
    alice = web.browser(protocols=())
    alice.register("alice")
    alice.send(OP_BINARY, b"PING :binary is taken too")
    assert alice.messages()[-1].endswith("binary is taken too")


def test_no_subprotocol_server_first_message_is_binary():
    """Without a subprotocol, what the server says before the client spoke (here the registration timeout) is binary."""
    web = Web(Limits(flood_control=False, registration_timeout=10))
    idle = web.browser(protocols=())
    web.irc.clock.advance(10)
    frames = idle.frames()
    assert frames[0] == (OP_BINARY, b"ERROR :Closing Link: 1.2.3.4 (Registration timed out)")


@pytest.mark.parametrize("offered", [("mqtt",), ("chat", "irc"), ("TEXT.IRCV3.NET",)])
def test_only_unknown_subprotocols_are_refused(offered):
    """A client offering only subprotocols the server does not speak is refused with 406 and no IRC connection is made."""
    web = Web()
    assert web.handshake(protocols=offered)[0] == 406
    assert web.irc.addresses._counts == {}


@pytest.mark.parametrize("offered", [(SUBPROTOCOL,), (BINARY,), ()])
def test_upgrade_on_the_root_path(offered):
    """A WebSocket upgrade of / is IRC over WebSocket, as on /ws, whatever the subprotocol."""
    web = Web()
    status, found = web.handshake(protocols=offered, path="/")
    assert status == 101
    assert found.get("sec-websocket-protocol") == (offered[0] if offered else None)
    assert web.irc.addresses._counts == {"1.2.3.4": 1}


def test_upgrade_on_the_root_path_keeps_the_origin_check():
    """On / as on /ws a foreign origin is refused with 403, the page's own accepted."""
    web = Web()
    assert web.handshake(path="/", origin="http://evil.example")[0] == 403
    assert web.handshake(path="/", origin="http://127.0.0.1:8080")[0] == 101


@pytest.mark.parametrize("upgrade", [None, b"h2c"])
def test_root_without_a_websocket_upgrade_is_the_page(upgrade):
    """A plain GET of / (no Upgrade header, or an Upgrade to something else) still serves the page."""
    root = web_site(MixedServer().irc_factory).resource
    request = DummyRequest([b""])
    request.method = b"GET"
    if upgrade is not None:
        request.requestHeaders.setRawHeaders(b"upgrade", [upgrade])
        request.requestHeaders.setRawHeaders(b"connection", [b"Upgrade"])
    resource = getChildForRequest(root, request)
    assert isinstance(resource, _Static)
    result = resource.render(request)
    if result is not NOT_DONE_YET:
        request.write(result)
        request.finish()
    assert b"".join(request.written) == (STATIC / "index.html").read_bytes()


@pytest.mark.parametrize("path, upgrade", [(b"", b"websocket"), (b"", b"WebSocket"),
                                           (b"ws", None), (b"ws", b"websocket")])
def test_websocket_resource_paths(path, upgrade):
    """/ with Upgrade: websocket (any case) and /ws go to the WebSocket resource."""
    root = web_site(MixedServer().irc_factory).resource
    request = DummyRequest([path])
    if upgrade is not None:
        request.requestHeaders.setRawHeaders(b"upgrade", [upgrade])
    assert isinstance(getChildForRequest(root, request), IRCWebSocketResource)
