"""
Unit tests of file sharing in the front ends, on a fake clock over
StringTransports: the web site's streaming upload request (refusals before
"100 Continue", slow and trickling uploads, a client that disconnects), and
IRC's UPLOAD, DELETEFILE and ISUPPORT, and line chat's /upload and /delete.
"""

from __future__ import annotations

import os
import re
from types import SimpleNamespace

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.internet.error import ConnectionLost

from chatservice.core.files import FileLimits, Files
from chatservice.frontends.web import web_site
from chatservice.store.memory import MemoryStore
from chatservice.store.uploads import UploadDirectory
from irc_helpers import MixedServer

BASE = "http://chat.example.org:8080"
TOKEN = re.compile(r"/upload/([\w-]+)/")


class Setup(MixedServer):
    """A mixed server with shared files and a web site, all on one fake clock."""

    def __init__(self, tmp_path, limits=FileLimits(idle_timeout=10)):
        super().__init__()
        self.uploads = UploadDirectory.open(str(tmp_path))
        self.files = self.hub.files = Files(self.hub, MemoryStore(self.clock), BASE, limits,
                                            self.uploads.remove)
        self.files.clock = self.clock
        self.site = web_site(self.irc_factory, (), (),
                             SimpleNamespace(files=self.files, uploads=self.uploads))
        self.site.timeOut = None

    def http(self):
        channel = self.site.buildProtocol(IPv4Address("TCP", "1.2.3.4", 5000))
        transport = StringTransport()
        channel.makeConnection(transport)
        return channel, transport

    def token(self, client, target="#lobby") -> str:
        return TOKEN.search(" ".join(client.said(f"UPLOAD {target}"))).group(1)

    def on_disk(self) -> list[str]:
        return os.listdir(self.uploads.path)


@pytest.fixture
def setup(tmp_path):
    return Setup(tmp_path)


def test_a_refusal_by_header_comes_before_any_100_continue_and_closes(setup):
    """An oversize Content-Length with Expect: 100-continue gets 413 and a close, never 100 Continue."""
    [alice] = setup.room("#lobby", "alice")
    channel, transport = setup.http()
    channel.dataReceived(f"PUT /upload/{setup.token(alice)} HTTP/1.1\r\nHost: x\r\n"
                         f"Content-Length: {26 * 1024 * 1024}\r\n"
                         "Expect: 100-continue\r\n\r\n".encode())
    answer = transport.value()
    assert answer.startswith(b"HTTP/1.1 413 ") and b"100 Continue" not in answer
    assert transport.disconnecting
    assert setup.on_disk() == [] and setup.files.used == 0


def test_an_accepted_upload_gets_100_continue_and_streams_to_disk(setup):
    """An acceptable upload is told to go on, and its bytes are on disk before the body ends."""
    [alice] = setup.room("#lobby", "alice")
    channel, transport = setup.http()
    channel.dataReceived(f"PUT /upload/{setup.token(alice)}/a.txt HTTP/1.1\r\nHost: x\r\n"
                         "Content-Length: 10\r\nExpect: 100-continue\r\n\r\n12345".encode())
    assert transport.value() == b"HTTP/1.1 100 Continue\r\n\r\n"
    [name] = setup.on_disk()
    assert open(os.path.join(setup.uploads.path, name), "rb").read() == b"12345"
    transport.clear()
    channel.dataReceived(b"67890")
    assert transport.value().startswith(b"HTTP/1.1 201 Created")
    assert b"Location: " + BASE.encode() + b"/files/" + name.encode() + b"/a.txt" in \
        transport.value()
    assert any("shared a.txt (10 bytes)" in line for line in alice.take())


def test_a_silent_upload_is_abandoned_after_the_timeout(setup):
    """An upload that sends nothing for the idle timeout gets 408, a close, and its file removed."""
    [alice] = setup.room("#lobby", "alice")
    channel, transport = setup.http()
    channel.dataReceived(f"PUT /upload/{setup.token(alice)} HTTP/1.1\r\nHost: x\r\n"
                         "Content-Length: 100000\r\n\r\n".encode() + b"x" * 20_000)
    setup.clock.advance(10)
    assert transport.value() == b""  # 20 kB in 10 s: fast enough so far
    setup.clock.advance(10)
    assert transport.value().startswith(b"HTTP/1.1 408 ") and transport.disconnecting
    assert setup.on_disk() == [] and setup.files.used == 0


def test_a_trickling_upload_is_abandoned_too(setup):
    """An upload sending a few bytes every second (under 1 KiB/s) gets 408 at the first check."""
    [alice] = setup.room("#lobby", "alice")
    channel, transport = setup.http()
    channel.dataReceived(f"PUT /upload/{setup.token(alice)} HTTP/1.1\r\nHost: x\r\n"
                         "Content-Length: 100000\r\n\r\n".encode())
    for _ in range(10):
        channel.dataReceived(b"y" * 100)
        setup.clock.advance(1)
    assert transport.value().startswith(b"HTTP/1.1 408 ")
    assert setup.on_disk() == []


def test_a_client_that_disconnects_mid_upload_leaves_nothing(setup):
    """A dropped connection mid-body removes the partial file and gives its storage back."""
    [alice] = setup.room("#lobby", "alice")
    channel, transport = setup.http()
    channel.dataReceived(f"POST /upload/{setup.token(alice)} HTTP/1.1\r\nHost: x\r\n"
                         "Content-Length: 1000\r\n\r\n".encode() + b"z" * 500)
    assert len(setup.on_disk()) == 1
    channel.connectionLost(Failure(ConnectionLost()))
    assert setup.on_disk() == [] and setup.files.used == 0
    assert not any("_check_pace" in repr(call) for call in setup.clock.getDelayedCalls())


def test_irc_isupport_names_the_filehost_and_upload_answers_a_link(setup):
    """ISUPPORT has draft/FILEHOST; UPLOAD answers a NOTICE with a curl command; an unknown target a numeric."""
    client = setup.connect()
    client.line("NICK dave")
    client.line("USER dave 0 * :Dave")
    assert any(f"draft/FILEHOST={BASE}/upload" in line for line in client.take())
    client.nick = "dave"
    [notice] = client.said("UPLOAD")
    assert re.fullmatch(rf":\S+ NOTICE dave :Upload one file \(you post the link yourself\) "
                        rf"within 10 minutes: curl -T FILE {BASE}/upload/[\w-]{{32}}/", notice)
    [refused] = client.said("UPLOAD nobody")
    assert " 401 dave nobody " in refused


def test_irc_deletefile(setup):
    """DELETEFILE deletes one's own file, refuses others' with a NOTICE."""
    alice, bob = setup.room("#lobby", "alice", "bob")
    channel, transport = setup.http()
    channel.dataReceived(f"PUT /upload/{setup.token(alice)} HTTP/1.1\r\nHost: x\r\n"
                         "Content-Length: 2\r\n\r\nhi".encode())
    link = re.search(rb"Location: (\S+)", transport.value()).group(1).decode()
    assert "Only the uploader" in " ".join(bob.said(f"DELETEFILE {link}"))
    assert "Deleted file" in " ".join(alice.said(f"DELETEFILE {link}"))
    assert setup.on_disk() == []


def test_without_files_irc_and_line_commands_say_so():
    """Without a web front end UPLOAD is unknown (421) and /upload says files are not taken."""
    server = MixedServer()
    client = server.register("dave")
    assert " 421 dave UPLOAD " in client.said("UPLOAD #lobby")[0]
    line = server.sign_in_line("erin")
    line.line("/upload")
    assert line.take() == ["*** This server does not take files (it has no web front end)."]
    line.line("/help")
    assert not any("/upload" in text for text in line.take())


def test_line_upload_to_the_current_room_or_a_nick(setup):
    """/upload gives a curl command for the current room, /upload NICK for a person, and refuses unknown ones."""
    line = setup.sign_in_line("erin")
    setup.register("frank")
    line.line("/upload")
    said = line.take()
    assert said[0] == "*** Upload one file to #lobby within 10 minutes, from a shell (the name after -T is yours):"
    assert re.fullmatch(rf"\*\*\*   curl -T report\.pdf {BASE}/upload/[\w-]{{32}}/", said[1])
    line.line("/upload frank")
    assert line.take()[0].startswith("*** Upload one file to frank ")
    line.line("/upload #nowhere")
    assert line.take() == ["*** There is no room called #nowhere."]
    line.line("/help")
    assert any("/upload [#room|nick]" in text for text in line.take())


def test_a_refused_upload_whose_body_arrives_gets_one_answer_only(setup):
    """A reused token's body arriving whole after the 401 adds no second response."""
    [alice] = setup.room("#lobby", "alice")
    token = setup.token(alice)
    first, _ = setup.http()
    first.dataReceived(f"PUT /upload/{token} HTTP/1.1\r\nHost: x\r\n"
                       "Content-Length: 2\r\n\r\nhi".encode())
    channel, transport = setup.http()
    channel.dataReceived(f"PUT /upload/{token} HTTP/1.1\r\nHost: x\r\n"
                         "Content-Length: 5\r\n\r\nagain".encode())
    assert transport.value().count(b"HTTP/1.1 ") == 1
    assert transport.value().startswith(b"HTTP/1.1 401 ")


def test_a_file_shared_privately_reads_to_whom_for_both(setup):
    """A line user's private share shows "[to NICK]" to them and reaches the IRC user as a PRIVMSG action."""
    erin = setup.sign_in_line("erin")
    frank = setup.register("frank")
    erin.line("/upload frank")
    token = TOKEN.search(" ".join(erin.take())).group(1)
    channel, transport = setup.http()
    channel.dataReceived(f"PUT /upload/{token}/n.txt HTTP/1.1\r\nHost: x\r\n"
                         "Content-Length: 2\r\n\r\nhi".encode())
    assert transport.value().startswith(b"HTTP/1.1 201 ")
    [said] = erin.take()
    assert said.startswith("[to frank] * erin shared n.txt (2 bytes): " + BASE + "/files/")
    [got] = frank.take()
    assert got.startswith(":erin!erin@1.2.3.4 PRIVMSG frank :\x01ACTION shared n.txt (2 bytes): ")
