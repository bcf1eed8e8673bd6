"""
End to end: sharing files over real sockets against a real twistd, from a
line user with the exact curl command ``/upload`` gives, from an IRC client
speaking FILEHOST over raw HTTP, and from hostile clients (no or reused
tokens, oversize bodies by header and by a lying chunked body, an empty
file, path and CR/LF names, slow uploads, quota and storage full, a disk that
fails mid-upload); deletion, persistence across a restart, and the
temporary directory of --no-persistence.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from file_helpers import UPLOAD_NOTICE, png, read_response, request
from server import HOST, join_announcement

SHARED = re.compile(rb"\* (\w+) shared (.+?) \(([^)]+)\): (http://\S+/files/([\w-]+)/\S*)\r\n")
FILE_HEADERS = {
    "x-content-type-options": "nosniff",
    "content-security-policy": "sandbox; default-src 'none'",
    "referrer-policy": "no-referrer",
}


def uploads(server) -> list[str]:
    """The names of the files in the server's uploads directory."""
    return sorted(os.listdir(server.directory / "chatservice-data" / "uploads"))


def upload_link(client, command: str = "/upload") -> str:
    client.send_line(command)
    return UPLOAD_NOTICE.search(client.read_until(UPLOAD_NOTICE)).group(1).decode()


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def irc_user(server, nick: str):
    client = server.connect(f"irc-{nick}", port=server.irc_ports[0])
    client.send(f"CAP LS 302\r\nNICK {nick}\r\nUSER {nick} 0 * :{nick}\r\nCAP END\r\n")
    welcome = client.read_until(re.compile(rb"^:\S+ 376 |^:\S+ 422 ", re.M))
    client.send(b"JOIN #lobby\r\n")
    client.read_until(re.compile(rb"^:\S+ 366 \S+ #lobby ", re.M))
    return client, welcome


def test_a_line_user_uploads_with_the_exact_curl_command_and_everyone_sees_the_link(
        start_server, tmp_path):
    """The curl command /upload prints, run as printed, shares the file; a line and an IRC user see the link, which serves the bytes."""
    server = start_server(web=1, irc=1)
    alice, bob = server.users("alice", "bob")
    carol, _ = irc_user(server, "carol")
    alice.read_until(join_announcement("carol"))
    alice.send_line("/upload")
    said = alice.read_until(re.compile(rb"curl -T report\.pdf \S+\r\n"))
    command = re.search(rb"(curl -T report\.pdf \S+)\r\n", said).group(1).decode()
    assert command.startswith(f"curl -T report.pdf http://{HOST}:{server.web_ports[0]}/upload/")
    report = b"%PDF-1.4\n" + os.urandom(300_000)
    (tmp_path / "report.pdf").write_bytes(report)
    done = subprocess.run(command.split(), cwd=tmp_path, capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr
    link = done.stdout.decode().strip()
    assert re.fullmatch(rf"http://{HOST}:\d+/files/[\w-]{{24}}/report\.pdf", link)
    for client in (alice, bob):
        found = SHARED.search(client.read_until(SHARED))
        assert found.group(1, 2, 3) == (b"alice", b"report.pdf", b"300.0 kB")
        assert found.group(4).decode() == link
    assert "PRIVMSG #lobby :\x01ACTION shared report.pdf (300.0 kB): " + link + "\x01" in \
        carol.read_until(link + "\x01").decode()
    got = request(server.web_ports[0], "GET", path_of(link))
    assert got.status == 200 and got.body == report
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["content-disposition"].startswith('attachment; filename="report.pdf"')
    for name, value in FILE_HEADERS.items():
        assert got.headers[name] == value
    # The name on disk is the random id, not the name given.
    assert uploads(server) == [link.split("/")[4]]


def test_an_irc_client_speaks_filehost(start_server):
    """ISUPPORT names the FILEHOST URL; OPTIONS, POST with a bearer token, Location, GET and HEAD (and Range) work."""
    server = start_server(web=1, irc=1)
    port = server.web_ports[0]
    dave, welcome = irc_user(server, "dave")
    filehost = re.search(rb"draft/FILEHOST=(\S+)", welcome).group(1).decode()
    assert filehost == f"http://{HOST}:{port}/upload"
    options = request(port, "OPTIONS", "/upload")
    assert options.status == 204
    assert set(options.headers["allow"].split(", ")) == {"OPTIONS", "POST", "PUT"}
    dave.send(b"UPLOAD\r\n")
    token = UPLOAD_NOTICE.search(dave.read_until(UPLOAD_NOTICE)).group(1).decode().rsplit("/", 1)[1]
    picture = png(16, 16)
    posted = request(port, "POST", "/upload", picture, {
        "Authorization": f"Bearer {token}", "Content-Type": "text/html",
        "Content-Disposition": 'attachment; filename="cat.png"'})
    assert posted.status == 201, posted
    location = posted.headers["location"]
    assert location.startswith(f"http://{HOST}:{port}/files/") and location.endswith("/cat.png")
    got = request(port, "GET", path_of(location))
    assert got.status == 200 and got.body == picture
    # Sniffed from the bytes, not the client's text/html: shown inline.
    assert got.headers["content-type"] == "image/png"
    assert got.headers["content-disposition"].startswith('inline; filename="cat.png"')
    head = request(port, "HEAD", path_of(location))
    assert head.status == 200 and head.body == b""
    assert head.headers["content-length"] == str(len(picture))
    for name, value in FILE_HEADERS.items():
        assert head.headers[name] == value
    part = request(port, "GET", path_of(location), headers={"Range": "bytes=0-7"})
    assert part.status == 206 and part.body == picture[:8]
    # A token asked for a room announces there; HTTP Basic carries it too.
    dave.send(b"UPLOAD #lobby\r\n")
    token = UPLOAD_NOTICE.search(dave.read_until(UPLOAD_NOTICE)).group(1).decode().rsplit("/", 1)[1]
    basic = base64.b64encode(f"dave:{token}".encode()).decode()
    put = request(port, "PUT", "/upload", b"hello", {
        "Authorization": f"Basic {basic}", "Content-Disposition": "attachment; filename=hi.txt"})
    assert put.status == 201
    assert b"PRIVMSG #lobby :\x01ACTION shared hi.txt (5 bytes): " in \
        dave.read_until(b"hi.txt (5 bytes): ")


def test_no_token_or_a_reused_one_is_refused(start_server):
    """An upload without a token, with an unknown one or with one used already answers 401 and keeps nothing."""
    server = start_server(web=1)
    port = server.web_ports[0]
    alice = server.user("alice")
    assert request(port, "POST", "/upload", b"x").status == 401
    assert request(port, "PUT", "/upload/not-a-real-token-at-all", b"x").status == 401
    url = upload_link(alice)
    assert request(port, "PUT", path_of(url), b"first").status == 201
    again = request(port, "PUT", path_of(url), b"second")
    assert again.status == 401 and b"not valid" in again.body and again.closed
    assert len(uploads(server)) == 1


def test_oversize_by_header_and_by_a_lying_chunked_body_is_cut_off(start_server):
    """A body over --upload-max-size is refused with 413 and a closed connection, by its length at once or as chunks arrive, and nothing stays on disk."""
    server = start_server("--upload-max-size", "1", web=1)
    port = server.web_ports[0]
    alice = server.user("alice")
    said = request(port, "PUT", path_of(upload_link(alice)), b"",
                   {"Content-Length": str(2 * 1024 * 1024)})
    assert said.status == 413 and b"1.0 MB" in said.body and said.closed
    with socket.create_connection((HOST, port), timeout=5) as sock:
        sock.sendall(f"PUT {path_of(upload_link(alice))} HTTP/1.1\r\nHost: x\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n".encode())
        chunk = b"%x\r\n%s\r\n" % (64 * 1024, b"z" * 64 * 1024)
        try:
            for _ in range(40):  # 2.5 MiB claimed as fine chunk by chunk
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        said = read_response(sock)
    assert said.status == 413 and said.closed
    server.wait_for_log(lambda log: True, "")
    assert uploads(server) == []
    alice.send_line("/rooms")
    assert b"shared" not in alice.read_until("*** 1 room:")


def test_an_empty_file_is_refused(start_server):
    """A zero-byte upload answers 400 and shares nothing."""
    server = start_server(web=1)
    alice = server.user("alice")
    said = request(server.web_ports[0], "PUT", path_of(upload_link(alice)), b"")
    assert said.status == 400 and b"empty" in said.body
    assert uploads(server) == []


@pytest.mark.parametrize("given, shown", [
    ("../../etc/passwd", "passwd"),
    ("..\\..\\boot.ini", "boot.ini"),
    ("evil%0D%0A%2A%2A%2A%20server%20says.txt", "evil*** server says.txt"),
    ("%FF%FEnot-utf8.txt", "\ufffd\ufffdnot-utf8.txt"),
])
def test_hostile_file_names_are_made_harmless(start_server, given, shown):
    """A name with a path or with CR/LF is shown and offered without them; the bytes stay under the random id."""
    server = start_server(web=1)
    alice, bob = server.users("alice", "bob")
    said = request(server.web_ports[0], "PUT", path_of(upload_link(alice)), b"data",
                   {"Content-Disposition": f"attachment; filename*=UTF-8''{given}"})
    assert said.status == 201, said
    line = bob.read_until(SHARED)
    assert SHARED.search(line).group(2).decode() == shown
    assert b"\r\n***" not in line.replace(b"\r\n*** ", b"")
    got = request(server.web_ports[0], "GET", path_of(said.headers["location"]))
    assert "\r" not in got.headers["content-disposition"]
    assert got.headers["content-disposition"].startswith("attachment; filename=")
    assert not os.path.exists(server.directory / "etc")
    assert uploads(server) == [said.headers["location"].split("/")[4]]


def test_a_slow_upload_is_abandoned_after_the_idle_timeout(start_server):
    """An upload that stops sending for --upload-timeout seconds answers 408, is closed and leaves no file."""
    server = start_server("--upload-timeout", "1", web=1)
    alice = server.user("alice")
    with socket.create_connection((HOST, server.web_ports[0]), timeout=5) as sock:
        sock.sendall(f"PUT {path_of(upload_link(alice))} HTTP/1.1\r\nHost: x\r\n"
                     "Content-Length: 1000\r\n\r\n0123456789".encode())
        started = time.monotonic()
        said = read_response(sock, timeout=5)
    assert said.status == 408 and said.closed
    assert 0.8 < time.monotonic() - started < 4
    assert uploads(server) == []


def test_uploads_per_hour_and_full_storage_are_refused_with_a_clear_message(start_server):
    """Past --uploads-per-hour an upload answers 429; past --upload-storage, 507 saying storage is full."""
    server = start_server("--uploads-per-hour", "2", "--upload-storage", str(10_000 / 2**30),
                          web=1)
    port = server.web_ports[0]
    alice, bob = server.users("alice", "bob")
    assert request(port, "PUT", path_of(upload_link(alice)), b"a" * 6000).status == 201
    full = request(port, "PUT", path_of(upload_link(bob)), b"b" * 6000)
    assert full.status == 507 and b"storage for shared files is full" in full.body
    assert request(port, "PUT", path_of(upload_link(alice)), b"a" * 100).status == 201
    quota = request(port, "PUT", path_of(upload_link(alice)), b"a")
    assert quota.status == 429 and b"2 files an hour" in quota.body
    assert len(uploads(server)) == 2


def test_a_disk_error_mid_upload_removes_the_partial_file_and_tells_the_uploader(start_server):
    """When writing fails mid-upload (the file-size limit here), the uploader gets 507 saying so and no partial file stays."""
    server = start_server(web=1)
    alice = server.user("alice")
    url = upload_link(alice)
    subprocess.run(["prlimit", f"--pid={server.process.pid}", "--fsize=1048576:unlimited"], check=True)
    said = request(server.web_ports[0], "PUT", path_of(url), b"x" * (3 * 1024 * 1024),
                   timeout=15)
    assert said.status == 507 and b"could not store the file" in said.body
    assert uploads(server) == []
    subprocess.run(["prlimit", f"--pid={server.process.pid}", "--fsize=unlimited"], check=True)
    assert "A shared file could not be written" in server.current_log()


def test_deleting_a_file_as_its_uploader_or_a_room_operator(start_server):
    """Only the uploader, a room operator or a server operator may delete a file; its link then answers 410."""
    server = start_server(web=1)
    port = server.web_ports[0]
    carol, alice, bob = server.users("carol", "alice", "bob")  # carol runs #lobby
    links = []
    for _ in range(2):
        said = request(port, "PUT", path_of(upload_link(alice)), b"data")
        links.append(said.headers["location"])
    bob.send_line(f"/delete {links[0]}")
    bob.read_until("*** Only the uploader, the room's operators and server operators")
    alice.send_line(f"/delete {links[0]}")
    alice.read_until("*** Deleted file; its link answers 410 now.")
    carol.send_line(f"/delete {links[1]}")
    carol.read_until("*** Deleted file; its link answers 410 now.")
    for link in links:
        gone = request(port, "GET", path_of(link))
        assert gone.status == 410 and b"deleted" in gone.body
    assert uploads(server) == []
    alice.send_line(f"/delete {links[0]}")
    alice.read_until("*** There is no such shared file")


def test_shared_files_outlive_a_restart_and_history_keeps_the_announcement(start_server):
    """After a restart a shared file is still served, and /history shows its announcement."""
    server = start_server(web=1)
    alice = server.user("alice")
    said = request(server.web_ports[0], "PUT", path_of(upload_link(alice)) + "/notes.txt",
                   b"kept")
    assert said.status == 201
    alice.read_until(SHARED)
    assert server.terminate() in (0, -signal.SIGTERM)
    server.start_again()
    got = request(server.web_ports[0], "GET", path_of(said.headers["location"]))
    assert got.status == 200 and got.body == b"kept"
    bob = server.user("bob")
    bob.send_line("/history")
    assert b"* alice shared notes.txt (4 bytes): " + said.headers["location"].encode() in \
        bob.read_until("*** End of history.")


def test_without_persistence_the_files_go_with_the_server(start_server):
    """With --no-persistence files live in a temporary directory that is removed when the server stops."""
    server = start_server("--no-persistence", web=1)
    alice = server.user("alice")
    said = request(server.web_ports[0], "PUT", path_of(upload_link(alice)), b"temporary")
    assert said.status == 201
    file_id = said.headers["location"].split("/")[4]
    top = tempfile.gettempdir()
    temporary = [os.path.join(top, p) for p in os.listdir(top)
                 if p.startswith("chatservice-uploads-")
                 and os.path.exists(os.path.join(top, p, file_id))]
    assert len(temporary) == 1
    assert not os.path.exists(server.directory / "chatservice-data")
    assert server.terminate() in (0, -signal.SIGTERM)
    assert not os.path.exists(temporary[0])
