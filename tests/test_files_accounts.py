"""
Unit tests of shared files with accounts, on a fake clock without sockets:
--upload-requires-account in the core, IRC and line chat; the hourly count
per account; deletion from any session of the uploader's account (after a
restart too); and the web site's FILEHOST uploads with an account's Basic
credentials, whose password check (held here until the test lets it
finish) comes before any of the body is read.
"""

from __future__ import annotations

import base64
import re

import pytest
from twisted.internet.error import ConnectionLost
from twisted.logger import globalLogPublisher, formatEvent
from twisted.python.failure import Failure

from chatservice.core.accounts import PER_ACCOUNT, Accounts
from chatservice.core.files import HOUR, FileLimits, Files, Refused
from chatservice.store.accounts import MemoryAccounts
from chatservice.store.memory import MemoryStore
from test_files import BASE as CORE_BASE
from test_files import Sharing
from test_irc_accounts import PendingRuns
from test_web_files import Setup

PASSWORD = "correct horse"


def basic(name: str, password: str) -> str:
    return base64.b64encode(f"{name}:{password}".encode("utf-8")).decode("ascii")


# The core


def test_only_people_logged_in_get_tokens_when_the_server_requires_it():
    """With requires_account a token is refused (login-required) to anyone not logged in, and one asked before logging out no longer works."""
    chat = Sharing(FileLimits(requires_account=True))
    alice = chat.in_room("alice", "#room")
    with pytest.raises(Refused) as refused:
        chat.files.issue_token(alice, "#room")
    assert refused.value.reason == "login-required"
    assert "log in" in str(refused.value)
    chat.hub.set_account(alice, "alice")
    token = chat.files.issue_token(alice, "#room")
    chat.hub.set_account(alice, None)
    with pytest.raises(Refused) as refused:
        chat.files.begin(token.secret, 5)
    assert refused.value.reason == "login-required" and chat.files.used == 0


def test_without_the_requirement_anyone_signed_in_gets_a_token():
    """By default a person without an account gets tokens as before."""
    chat = Sharing()
    assert chat.share(chat.in_room("alice", "#room")).account == ""


def test_the_hourly_count_is_the_accounts_across_nicks_and_sessions():
    """Two sessions of one account (different nicks) and its password uploads share one hourly count; others keep theirs."""
    chat = Sharing(FileLimits(per_hour=3))
    alice, other = chat.in_room("alice", "#room"), chat.in_room("alice_phone", "#room")
    bob = chat.in_room("bob", "#room")
    chat.hub.set_account(alice, "Alice")
    chat.hub.set_account(other, "alice")
    chat.share(alice)
    chat.share(other)
    chat.files.begin_for_account("ALICE", 5)
    for who in (alice, other):
        with pytest.raises(Refused) as refused:
            chat.share(who)
        assert refused.value.reason == "quota"
    with pytest.raises(Refused):
        chat.files.begin_for_account("alice", 5)
    for _ in range(3):
        chat.share(bob)
    chat.clock.advance(HOUR)
    chat.share(other)


def test_a_nick_without_an_account_is_counted_apart_from_the_account_of_that_name():
    """Logging out does not carry over the account's count to the bare nick, nor the reverse."""
    chat = Sharing(FileLimits(per_hour=1))
    alice = chat.in_room("alice", "#room")
    chat.share(alice)
    chat.hub.set_account(alice, "alice")
    chat.share(alice)
    with pytest.raises(Refused):
        chat.share(alice)


def test_an_account_upload_is_kept_for_the_account_and_not_announced():
    """begin_for_account stores the file under the account's name, for nobody to see until its link is posted."""
    chat = Sharing()
    bob = chat.in_room("bob", "#room")
    bob.client.events()
    upload = chat.files.begin_for_account("Alice", 4)
    upload.received(4)
    shared = chat.files.finish(upload, "a.txt", "application/octet-stream")
    assert (shared.uploader, shared.account, shared.target, shared.room) == \
        ("Alice", "Alice", "", "")
    assert bob.client.events() == []
    assert chat.files.find(shared.id) == shared and chat.files.used == 4


def test_any_session_of_the_uploaders_account_may_delete_even_after_a_restart():
    """A file shared while logged in is deleted from another session of that account, also by a new server over the same store; another account may not."""
    store_chat = Sharing()
    alice = store_chat.in_room("alice", "#room")
    store_chat.hub.set_account(alice, "alice")
    first, second = store_chat.share(alice), store_chat.share(alice)
    phone = store_chat.in_room("alice_phone", "#room")
    carol = store_chat.in_room("carol", "#room")
    store_chat.hub.set_account(carol, "carol")
    with pytest.raises(Refused) as refused:
        store_chat.files.delete(carol, first.id)
    assert refused.value.reason == "forbidden"
    with pytest.raises(Refused):
        store_chat.files.delete(phone, first.id)  # not logged in: not the uploader
    store_chat.hub.set_account(phone, "Alice")
    assert store_chat.files.delete(phone, first.id).gone == "deleted"
    # A new server over the same records: the account still may.
    again = Sharing(store=store_chat.store)
    later = again.in_room("alice_laptop", "#other")
    assert again.files.find(second.id).account == "alice"
    with pytest.raises(Refused):
        again.files.delete(later, second.id)
    again.hub.set_account(later, "alice")
    assert again.files.delete(later, second.id).gone == "deleted"


def test_a_file_shared_without_an_account_stays_the_sessions_only():
    """Logging in to an account afterwards gives no other session of it the right to delete a file shared before."""
    chat = Sharing()
    alice, phone = chat.in_room("alice", "#room"), chat.in_room("alice_phone", "#room")
    shared = chat.share(alice)
    chat.hub.set_account(alice, "alice")
    chat.hub.set_account(phone, "alice")
    with pytest.raises(Refused):
        chat.files.delete(phone, shared.id)
    assert chat.files.delete(alice, shared.id).gone == "deleted"


# The front ends' commands


def test_irc_upload_answers_account_required_and_line_upload_says_to_log_in(tmp_path):
    """With requires_account, IRC's UPLOAD gets FAIL UPLOAD ACCOUNT_REQUIRED and /upload a sentence, until the person logs in."""
    setup = Setup(tmp_path, FileLimits(requires_account=True))
    [dave] = setup.room("#lobby", "dave")
    [fail] = dave.said("UPLOAD #lobby")
    assert fail.startswith(":chatservice FAIL UPLOAD ACCOUNT_REQUIRED :Only people logged in ")
    line = setup.sign_in_line("erin")
    line.line("/upload")
    [said] = line.take()
    assert said.startswith("*** Only people logged in to an account may share files")
    setup.hub.set_account(setup.hub.find_user("dave"), "dave")
    assert "Upload one file to #lobby" in dave.said("UPLOAD #lobby")[-1]


# The web site: FILEHOST with an account's password


class AccountSetup(Setup):
    """The web site's setup with accounts (alice's password is PASSWORD) whose checks wait."""

    def __init__(self, tmp_path, limits=FileLimits(idle_timeout=10)):
        super().__init__(tmp_path, limits)
        self.runs = PendingRuns()
        self.hub.use_accounts(Accounts(MemoryAccounts(), self.clock, run=self.runs))
        self.hub.accounts.register("alice", PASSWORD)
        self.runs.finish_all()

    def post(self, name: str, password: str, body: bytes, length: int | None = None,
             expect: bool = False):
        channel, transport = self.http()
        length = len(body) if length is None else length
        channel.dataReceived(
            f"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n"
            f"Authorization: Basic {basic(name, password)}\r\n"
            f"Content-Disposition: attachment; filename=notes.txt\r\n"
            f"{'Expect: 100-continue' + chr(13) + chr(10) if expect else ''}\r\n".encode()
            + body)
        return channel, transport


@pytest.fixture
def accounts(tmp_path):
    return AccountSetup(tmp_path)


def test_the_password_is_checked_before_the_body_and_the_file_kept_for_the_account(accounts):
    """Until the password check ends nothing is answered (no 100 Continue), the connection is paused and nothing is on disk; then the body streams in and 201 gives the link, announced nowhere."""
    [bob] = accounts.room("#lobby", "bob")
    channel, transport = accounts.post("alice", PASSWORD, b"12345", length=10, expect=True)
    assert transport.value() == b"" and transport.producerState == "paused"
    assert accounts.on_disk() == [] and len(accounts.runs.waiting) == 1
    accounts.runs.finish_all()
    assert transport.value() == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert transport.producerState == "producing"
    [on_disk] = accounts.on_disk()
    channel.dataReceived(b"67890")
    answer = transport.value().decode()
    assert " 201 " in answer
    link = re.search(r"Location: (\S+)", answer).group(1)
    shared = accounts.files.find(on_disk)
    assert link == accounts.files.link(shared)
    assert (shared.uploader, shared.account, shared.size, shared.name) == \
        ("alice", "alice", 10, "notes.txt")
    assert not any("shared" in line for line in bob.take())


def test_a_body_that_arrives_whole_during_the_check_is_answered_after_it(accounts):
    """A small file sent with its headers at once is kept and answered once the password is right."""
    channel, transport = accounts.post("alice", PASSWORD, b"tiny file")
    assert transport.value() == b""
    accounts.runs.finish_all()
    assert transport.value().startswith(b"HTTP/1.1 201 ")
    assert len(accounts.on_disk()) == 1


def test_a_wrong_password_gets_401_with_a_challenge_and_nothing_is_kept(accounts):
    """A wrong password (or an unknown account) is answered 401 with WWW-Authenticate, the connection closed, and nothing stored."""
    for name, password in (("alice", "wrong horse"), ("nobody", PASSWORD)):
        channel, transport = accounts.post(name, password, b"x" * 100, length=1000, expect=True)
        accounts.runs.finish_all()
        answer = transport.value()
        assert answer.startswith(b"HTTP/1.1 401 ") and b"100 Continue" not in answer
        assert b'\r\nWWW-Authenticate: Basic realm="chatservice"\r\n' in answer
        assert b"Wrong account name or password" in answer and transport.disconnecting
    assert accounts.on_disk() == [] and accounts.files.used == 0


def test_failed_uploads_count_toward_the_login_limits_and_never_log_the_password(accounts):
    """Failures count as other logins do: past the limit the next try gets 429 with Retry-After before any hashing; the password is in no log event."""
    logged: list[str] = []

    def observer(event):
        logged.append(repr(event) + (formatEvent(event) or ""))
    globalLogPublisher.addObserver(observer)
    try:
        for _ in range(PER_ACCOUNT):
            accounts.post("alice", "hunter2-secret", b"x")
            accounts.runs.finish_all()
        channel, transport = accounts.post("alice", PASSWORD, b"x")
        assert accounts.runs.waiting == []
        answer = transport.value()
        assert answer.startswith(b"HTTP/1.1 429 ") and b"\r\nRetry-After: " in answer
        assert b"Too many failed logins" in answer and transport.disconnecting
        # The same limit holds for the account's other logins (here SASL's).
        with pytest.raises(Exception, match="Too many failed logins"):
            accounts.hub.accounts.check_limits("alice", "5.6.7.8")
    finally:
        globalLogPublisher.removeObserver(observer)
    assert any("Failed password login to account 'alice'" in text for text in logged)
    assert not any("hunter2-secret" in text or basic("alice", "hunter2-secret") in text
                   for text in logged)
    assert accounts.on_disk() == []


def test_a_client_that_leaves_during_the_check_leaves_nothing(accounts):
    """A connection dropped while its password is checked ends with nothing stored or held, and no error."""
    channel, transport = accounts.post("alice", PASSWORD, b"abc", length=10)
    channel.connectionLost(Failure(ConnectionLost()))
    accounts.runs.finish_all()
    assert accounts.on_disk() == [] and accounts.files.used == 0
    assert transport.value() == b""


def test_an_oversize_account_upload_is_refused_after_the_check(accounts):
    """The size limit holds for account uploads: a right password with a too large length gets 413."""
    channel, transport = accounts.post("alice", PASSWORD, b"", length=26 * 1024 * 1024,
                                       expect=True)
    accounts.runs.finish_all()
    assert transport.value().startswith(b"HTTP/1.1 413 ") and transport.disconnecting
    assert accounts.on_disk() == [] and accounts.files.used == 0


def test_basic_with_a_live_token_as_password_still_uses_the_token(accounts):
    """A Basic password that is a live token is the token (any user name), checked at once and announced where the token says."""
    [dave] = accounts.room("#lobby", "dave")
    token = accounts.token(dave)
    channel, transport = accounts.post("whatever", token, b"hello")
    assert accounts.runs.waiting == []
    assert transport.value().startswith(b"HTTP/1.1 201 ")
    assert any("shared notes.txt" in line for line in dave.take())


def test_without_accounts_basic_credentials_are_refused(tmp_path):
    """A server without accounts answers an account's credentials 401 with a challenge."""
    setup = Setup(tmp_path)
    channel, transport = setup.http()
    channel.dataReceived(f"PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                         f"Authorization: Basic {basic('alice', PASSWORD)}\r\n\r\nabc".encode())
    answer = transport.value()
    assert answer.startswith(b"HTTP/1.1 401 ") and b"WWW-Authenticate: Basic" in answer
    assert setup.on_disk() == []


def test_files_records_keep_the_account(tmp_path):
    """A new Files over the store finds the account of a file shared with a password."""
    chat = Sharing()
    upload = chat.files.begin_for_account("alice", 2)
    upload.received(2)
    shared = chat.files.finish(upload, "x", "application/octet-stream")
    assert isinstance(chat.store, MemoryStore)
    again = Files(chat.hub, chat.store, CORE_BASE)
    assert again.find(shared.id).account == "alice"
