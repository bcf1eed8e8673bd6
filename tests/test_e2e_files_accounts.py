"""
End to end: sharing files with accounts, over real sockets against a real
twistd.  --upload-requires-account refuses line and IRC users who are not
logged in and lets them share once they are; a FILEHOST client uploads with
its account's name and password (real curl, which waits for "100 Continue"
on a large file); a wrong password is answered before the body is sent, and
failures meet the same limits as SASL logins; the hourly count and deletion
belong to the account, whichever session uses it.
"""

from __future__ import annotations

import base64
import os
import re
import socket
import subprocess

from file_helpers import UPLOAD_NOTICE, read_response, request
from server import HOST, TIMEOUT
from test_e2e_accounts import add_account, finish, numeric, sasl_plain
from test_e2e_files import path_of, upload_link, uploads

PASSWORD = "correct horse"


def logged_in_irc(server, nick: str, account: str = "alice"):
    """An IRC client logged in to C{account} with SASL PLAIN as C{nick}, in #lobby."""
    client = server.connect(f"irc-{nick}", port=server.irc_ports[0])
    client.send_line("CAP LS 302")
    sasl_plain(client, account, PASSWORD)
    numeric(client, "903")
    finish(client, nick)
    numeric(client, "001")
    client.send_line("JOIN #lobby")
    numeric(client, "366")
    return client


def basic(name: str, password: str) -> str:
    return base64.b64encode(f"{name}:{password}".encode()).decode()


def test_upload_requires_account_refuses_people_not_logged_in_until_they_log_in(start_server):
    """With --upload-requires-account, /upload and UPLOAD say to log in; once logged in, the token works and the room sees the file."""
    server = start_server("--upload-requires-account", web=1, irc=1)
    [bob] = server.users("bob")
    bob.send_line("/upload")
    bob.read_until(b"*** Only people logged in to an account may share files here; "
                   b"log in first (/login NAME PASSWORD, or SASL), or register one.\r\n")
    dave = server.connect("irc-dave", port=server.irc_ports[0])
    finish(dave, "dave")
    numeric(dave, "001")
    dave.send_line("UPLOAD #lobby")
    assert numeric(dave, "FAIL").startswith(
        ":chatservice FAIL UPLOAD ACCOUNT_REQUIRED :Only people logged in")
    add_account(server, "alice", PASSWORD)
    alice = logged_in_irc(server, "alice")
    url = upload_link(alice, "UPLOAD #lobby")
    sent = request(server.web_ports[0], "PUT", path_of(url) + "/note.txt", b"hello there")
    assert sent.status == 201
    bob.read_until(b"* alice shared note.txt (11 bytes): " + sent.headers["location"].encode())


def test_filehost_with_the_accounts_password_stores_the_file_for_the_account(
        start_server, tmp_path):
    """curl -u account:password -T (2 MB, so it waits for 100 Continue) stores the file unannounced; another session of the account deletes it, others may not; the hourly count is the account's."""
    server = start_server("--uploads-per-hour", "3", web=1, irc=1)
    add_account(server, "alice", PASSWORD)
    alice = logged_in_irc(server, "alice")
    [bob] = server.users("bob")
    data = os.urandom(2_000_000)
    (tmp_path / "big.bin").write_bytes(data)
    done = subprocess.run(
        ["curl", "-sS", "--fail-with-body", "-u", f"alice:{PASSWORD}", "-T", "big.bin",
         "-H", "Content-Disposition: attachment; filename=big.bin",
         f"http://{HOST}:{server.web_ports[0]}/upload"],
        cwd=tmp_path, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    link = done.stdout.decode().strip()
    assert re.fullmatch(rf"http://{HOST}:\d+/files/[\w-]{{24}}/big\.bin", link)
    got = request(server.web_ports[0], "GET", path_of(link))
    assert got.status == 200 and got.body == data
    # Not announced: the next thing bob sees in #lobby is alice's own line.
    alice.send_line(f"PRIVMSG #lobby :{link}")
    said = bob.read_until(link.encode() + b"\r\n")
    assert b"shared" not in said and b"<alice> " + link.encode() in said
    # The hourly count: the phone's token upload and another password upload
    # count with the first; the fourth is refused from either way.
    phone = logged_in_irc(server, "alice_phone")
    url = upload_link(phone, "UPLOAD #lobby")
    assert request(server.web_ports[0], "PUT", path_of(url), b"two").status == 201
    account = {"Authorization": f"Basic {basic('alice', PASSWORD)}"}
    assert request(server.web_ports[0], "POST", "/upload", b"three", account).status == 201
    fourth = request(server.web_ports[0], "POST", "/upload", b"four", account)
    assert fourth.status == 429 and b"files an hour" in fourth.body
    phone.send_line("UPLOAD")
    url = UPLOAD_NOTICE.search(phone.read_until(UPLOAD_NOTICE)).group(1).decode()
    assert request(server.web_ports[0], "PUT", path_of(url), b"five").status == 429
    # Deleting: bob (no account) may not; the phone session of the account may.
    bob.send_line(f"/delete {link}")
    bob.read_until(b"*** Only the uploader, the room's operators and server operators may")
    phone.send_line(f"DELETEFILE {link}")
    phone.read_until(b"NOTICE alice_phone :Deleted big.bin; its link answers 410 now.")
    assert request(server.web_ports[0], "GET", path_of(link)).status == 410
    assert link.split("/")[4] not in uploads(server)


def test_a_wrong_password_is_refused_before_the_body_and_counts_as_a_failed_login(
        start_server):
    """A wrong password gets 401 with a Basic challenge on the headers alone; five of them make the right one 429 and SASL refuse too; the password is in no log."""
    server = start_server(web=1, irc=1)
    add_account(server, "alice", PASSWORD)
    wrong = "hunter2-not-it"
    for _ in range(5):
        with socket.create_connection((HOST, server.web_ports[0]), timeout=TIMEOUT) as sock:
            # Headers only: a 20 MB body is announced but never sent.
            sock.sendall(f"POST /upload HTTP/1.1\r\nHost: {HOST}\r\n"
                         f"Content-Length: 20000000\r\nExpect: 100-continue\r\n"
                         f"Authorization: Basic {basic('alice', wrong)}\r\n\r\n".encode())
            said = read_response(sock)
        assert said.status == 401 and said.closed
        assert said.headers["www-authenticate"] == 'Basic realm="chatservice"'
        assert b"Wrong account name or password" in said.body
    assert uploads(server) == []
    right = request(server.web_ports[0], "POST", "/upload", b"x",
                    {"Authorization": f"Basic {basic('alice', PASSWORD)}"})
    assert right.status == 429 and int(right.headers["retry-after"]) > 0
    client = server.connect("irc-alice", port=server.irc_ports[0])
    client.send_line("CAP LS 302")
    sasl_plain(client, "alice", PASSWORD)
    assert "Too many failed logins" in numeric(client, "904")
    log = server.wait_for_log(
        lambda text: text.count("Failed password login to account 'alice'") >= 5,
        "the failed logins")
    assert wrong not in log and basic("alice", wrong) not in log and PASSWORD not in log


def test_hostile_basic_credentials_are_refused_cleanly(start_server):
    """Invalid base64, invalid UTF-8, control characters and an overlong password get 401, and the server keeps serving."""
    server = start_server(web=1)
    port = server.web_ports[0]
    for value in ("!!!not base64", base64.b64encode(b"alice:\xff\xfe").decode(),
                  basic("al\x01ice", "pass\x00word"), basic("alice", "x" * 5000),
                  basic("", "no-user"), basic("alice", "")):
        said = request(port, "POST", "/upload", b"data", {"Authorization": f"Basic {value}"})
        assert said.status in (401, 429), (value[:40], said)
    assert uploads(server) == []
    assert request(port, "OPTIONS", "/upload").status == 204


def test_a_client_that_drops_during_the_password_check_leaves_nothing(start_server):
    """Connections cut right after their headers and part of a body, with the right password, leave no file; the server goes on serving uploads."""
    server = start_server(web=1)
    add_account(server, "alice", PASSWORD)
    port = server.web_ports[0]
    for _ in range(5):
        sock = socket.create_connection((HOST, port), timeout=TIMEOUT)
        sock.sendall(f"POST /upload HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 100000\r\n"
                     f"Authorization: Basic {basic('alice', PASSWORD)}\r\n\r\n".encode()
                     + b"z" * 5000)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()
    kept = request(port, "POST", "/upload", b"after the drops",
                   {"Authorization": f"Basic {basic('alice', PASSWORD)}"})
    assert kept.status == 201
    assert uploads(server) == [kept.headers["location"].split("/")[4]]
