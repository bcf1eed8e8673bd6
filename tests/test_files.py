"""
Unit tests of shared files: the core's rules (tokens, limits, expiry, who
may delete, the announcement), the records in each store, and the uploads
directory; on a fake clock, without sockets.
"""

from __future__ import annotations

import os
from dataclasses import replace

import pytest
from twisted.internet.task import Clock

from chatservice.core import errors
from chatservice.core.events import FileShared, Kind, Message, PrivateFileShared
from chatservice.core.files import (
    DAY, HOUR, MiB, TOKEN_LIFETIME, FileLimits, Files, Refused, SharedFile, human_size,
    safe_name)
from chatservice.core.history import Query
from chatservice.core.rooms import RoomMode
from chatservice.store.memory import MemoryStore
from chatservice.store.sqlite import DirectReads, SQLiteStore
from chatservice.store.uploads import UploadDirectory
from test_hub import Chat

BASE = "https://chat.example.org:8443"


class Sharing(Chat):
    """A hub with a store and shared files, on a fake clock."""

    def __init__(self, limits=FileLimits(), store=None):
        super().__init__()
        self.store = store or MemoryStore(self.clock)
        self.hub.attach_store(self.store)
        self.removed: list[str] = []
        self.files = Files(self.hub, self.store, BASE, limits, self.removed.append)

    def share(self, user, target="#room", data=b"hello", name="hello.txt"):
        upload = self.files.begin(self.files.issue_token(user, target).secret, len(data))
        upload.received(len(data))
        return self.files.finish(upload, name, "application/octet-stream")


@pytest.fixture
def chat():
    return Sharing()


def test_a_shared_file_is_announced_to_the_room_and_the_uploader_as_an_action(chat):
    """Everyone in the room, the uploader included, gets a FileShared action naming the file, its size and link."""
    alice, bob = chat.in_room("alice", "#room"), chat.in_room("bob", "#room")
    alice.client.events(), bob.client.events()
    shared = chat.share(alice, data=b"x" * 1234, name="report.pdf")
    for user in (alice, bob):
        [event] = user.client.events()
        assert isinstance(event, FileShared) and event.kind is Kind.ACTION
        assert event.text == (f"shared report.pdf (1.2 kB): "
                              f"{BASE}/files/{shared.id}/report.pdf")
        assert event.file_id == shared.id
    # History keeps the plain action, which every store can write.
    [kept] = chat.store.query("#room", Query(10, messages_only=True)).result
    assert type(kept) is Message and kept.text.startswith("shared report.pdf")


def test_a_file_shared_with_a_nick_reaches_only_them_and_the_uploader(chat):
    """A private share goes to the person named and to the uploader, nobody else."""
    alice, bob, carol = chat.user("alice"), chat.user("bob"), chat.user("carol")
    chat.share(alice, target="bob")
    assert [type(e) for e in bob.client.events()] == [PrivateFileShared]
    assert [type(e) for e in alice.client.events()] == [PrivateFileShared]
    assert carol.client.events() == []


def test_a_token_works_once_and_only_for_ten_minutes(chat):
    """A token is used up by its first upload, and refused after TOKEN_LIFETIME."""
    alice = chat.in_room("alice", "#room")
    token = chat.files.issue_token(alice, "#room")
    chat.files.abort(chat.files.begin(token.secret, 3))
    with pytest.raises(Refused) as refused:
        chat.files.begin(token.secret, 3)
    assert refused.value.reason == "unauthorized"
    stale = chat.files.issue_token(alice, "#room")
    chat.clock.advance(TOKEN_LIFETIME)
    with pytest.raises(Refused):
        chat.files.begin(stale.secret, 3)
    with pytest.raises(Refused):
        chat.files.begin("", 3)


def test_a_token_is_refused_once_its_owner_has_signed_out(chat):
    """A token of someone who signed out (even if their nick is taken again) is refused."""
    alice = chat.in_room("alice", "#room")
    token = chat.files.issue_token(alice, "#room")
    chat.hub.quit(alice)
    chat.in_room("alice", "#room")
    with pytest.raises(Refused) as refused:
        chat.files.begin(token.secret, 3)
    assert refused.value.reason == "unauthorized"


def test_tokens_need_a_room_one_may_speak_in_or_a_nick_that_exists(chat):
    """No token for a room one is not in, a moderated room, or an unknown nick."""
    alice = chat.in_room("alice", "#mine")
    chat.in_room("bob", "#theirs")
    with pytest.raises(errors.CannotSend):
        chat.files.issue_token(alice, "#theirs")
    with pytest.raises(errors.NoSuchNick):
        chat.files.issue_token(alice, "nobody")
    with pytest.raises(errors.NoSuchRoom):
        chat.files.issue_token(alice, "#nowhere")
    carol = chat.in_room("carol", "#mine")
    chat.hub.find_room("#mine").flags.add(RoomMode.MODERATED)
    with pytest.raises(errors.CannotSend):
        chat.files.issue_token(carol, "#mine")


def test_one_person_holds_at_most_five_tokens(chat):
    """A sixth token replaces the oldest of one person's five."""
    alice = chat.in_room("alice", "#room")
    tokens = [chat.files.issue_token(alice, "#room") for _ in range(6)]
    with pytest.raises(Refused):
        chat.files.begin(tokens[0].secret, 1)
    chat.files.begin(tokens[5].secret, 1)


def test_the_size_limit_holds_by_length_and_as_bytes_arrive():
    """A file over the size limit is refused by its announced length, or when the bytes pass it."""
    chat = Sharing(FileLimits(max_size=MiB))
    alice = chat.in_room("alice", "#room")
    with pytest.raises(Refused) as refused:
        chat.files.begin(chat.files.issue_token(alice, "#room").secret, MiB + 1)
    assert refused.value.reason == "too-large" and "1.0 MB" in str(refused.value)
    upload = chat.files.begin(chat.files.issue_token(alice, "#room").secret, None)
    upload.received(MiB)
    with pytest.raises(Refused):
        upload.received(1)
    chat.files.abort(upload)
    assert chat.files.used == 0


def test_uploads_per_hour_are_counted_per_person():
    """Past the hourly count a person is refused until an hour has passed; others are not."""
    chat = Sharing(FileLimits(per_hour=2))
    alice, bob = chat.in_room("alice", "#room"), chat.in_room("bob", "#room")
    chat.share(alice)
    chat.share(alice)
    with pytest.raises(Refused) as refused:
        chat.share(alice)
    assert refused.value.reason == "quota"
    chat.share(bob)
    chat.clock.advance(HOUR)
    chat.share(alice)


def test_storage_counts_uploads_under_way_and_frees_what_expires():
    """Storage holds stored files and uploads under way; a full store refuses; expiry frees it."""
    chat = Sharing(FileLimits(total=100, days=1))
    alice = chat.in_room("alice", "#room")
    chat.share(alice, data=b"x" * 60)
    under_way = chat.files.begin(chat.files.issue_token(alice, "#room").secret, 30)
    with pytest.raises(Refused) as refused:
        chat.files.begin(chat.files.issue_token(alice, "#room").secret, 20)
    assert refused.value.reason == "storage-full"
    # An unannounced length may take only what is left.
    unsized = chat.files.begin(chat.files.issue_token(alice, "#room").secret, None)
    assert unsized.limit == 10
    chat.files.abort(unsized)
    chat.files.abort(under_way)
    chat.clock.advance(DAY)
    [gone] = chat.files.expire()
    assert gone.gone == "expired" and chat.removed == [gone.id]
    assert chat.files.used == 0
    chat.share(alice, data=b"x" * 100)


def test_an_expired_file_is_found_as_expired_before_the_cleanup_runs():
    """Looking up a file past its time marks it expired and removes its bytes at once."""
    chat = Sharing(FileLimits(days=2))
    alice = chat.in_room("alice", "#room")
    shared = chat.share(alice)
    assert chat.files.find(shared.id).gone == ""
    chat.clock.advance(2 * DAY)
    assert chat.files.find(shared.id).gone == "expired"
    assert chat.removed == [shared.id]
    assert chat.files.expire() == []


def test_zero_days_keeps_files_for_ever():
    """With days 0 nothing expires."""
    chat = Sharing(FileLimits(days=0))
    alice = chat.in_room("alice", "#room")
    shared = chat.share(alice)
    chat.clock.advance(10_000 * DAY)
    assert chat.files.expire() == [] and chat.files.find(shared.id).gone == ""


def test_an_empty_file_is_refused_and_holds_nothing(chat):
    """A finished upload of zero bytes is refused and gives its storage back."""
    alice = chat.in_room("alice", "#room")
    with pytest.raises(Refused) as refused:
        chat.share(alice, data=b"")
    assert refused.value.reason == "empty" and chat.files.used == 0


def test_who_may_delete(chat):
    """The uploader's session, the room's operators and server operators may delete; others may not."""
    carol = chat.in_room("carol", "#room")  # first in: the room's operator
    alice, bob = chat.in_room("alice", "#room"), chat.in_room("bob", "#room")
    files = [chat.share(alice) for _ in range(3)]
    with pytest.raises(Refused) as refused:
        chat.files.delete(bob, files[0].id)
    assert refused.value.reason == "forbidden"
    assert chat.files.delete(alice, files[0].id).gone == "deleted"
    assert chat.files.delete(carol, files[1].id).gone == "deleted"
    bob.is_operator = True
    assert chat.files.delete(bob, files[2].id).gone == "deleted"
    assert chat.removed == [f.id for f in files]
    with pytest.raises(Refused) as refused:
        chat.files.delete(alice, files[0].id)
    assert refused.value.reason == "not-found"


def test_a_private_file_may_be_deleted_only_by_its_uploader_or_a_server_operator(chat):
    """A file shared with a nick has no room operators."""
    alice, bob = chat.user("alice"), chat.user("bob")
    shared = chat.share(alice, target="bob")
    with pytest.raises(Refused):
        chat.files.delete(bob, shared.id)
    chat.files.delete(alice, shared.id)


@pytest.mark.parametrize("given, kept", [
    ("report.pdf", "report.pdf"),
    ("../../etc/passwd", "passwd"),
    ("C:\\Windows\\evil.exe", "evil.exe"),
    ("a\r\nb\x00c\x1b[31m.txt", "abc[31m.txt"),
    ("\u202etxt.exe", "txt.exe"),
    ('say "hi".txt', "say 'hi'.txt"),
    ("...", "file"),
    ("", "file"),
    (".hidden", "hidden"),
    ("x" * 500, "x" * 200),
    ("caf\u00e9 \u65e5\u672c.png", "caf\u00e9 \u65e5\u672c.png"),
])
def test_safe_names(given, kept):
    """A given name loses any path, control and format characters, quotes and leading dots."""
    assert safe_name(given) == kept


@pytest.mark.parametrize("size, shown", [
    (0, "0 bytes"), (1, "1 byte"), (999, "999 bytes"), (1000, "1.0 kB"),
    (1_234_567, "1.2 MB"), (999_960, "1.0 MB"), (5 * 2**30, "5.4 GB"),
])
def test_human_sizes(size, shown):
    """Sizes read in decimal units with one decimal."""
    assert human_size(size) == shown


def test_links_are_parsed_back_to_ids(chat):
    """A link, with or without its name, or a bare id, gives the id."""
    assert Files.parse_link(f"{BASE}/files/abc_DEF-123456789012/x.txt") == "abc_DEF-123456789012"
    assert Files.parse_link(" abc_DEF-123456789012 ") == "abc_DEF-123456789012"


@pytest.fixture(params=["memory", "sqlite"])
def records(request, tmp_path):
    clock = Clock()
    if request.param == "memory":
        made = MemoryStore(clock)
    else:
        made = SQLiteStore(str(tmp_path / "chatservice.sqlite3"), clock, reads=DirectReads)
    yield made
    made.close()


def test_stores_keep_file_records_and_their_changes(records, tmp_path):
    """Each store gives back the records saved, the latest version of each."""
    first = SharedFile("a" * 24, "one.txt", 3, "text/plain", "alice", "#room", "#room",
                       10.0, 20.0)
    second = SharedFile("b" * 24, "two.png", 5, "image/png", "bob", "carol", "", 11.0, 0.0,
                        account="Bob")
    records.save_file(first)
    records.save_file(second)
    records.save_file(replace(first, gone="deleted"))
    found = {f.id: f for f in records.load_files()}
    assert found[second.id] == second
    assert found[first.id].gone == "deleted"
    if isinstance(records, SQLiteStore):
        records.close()
        again = SQLiteStore(records.path, Clock(), reads=DirectReads)
        assert {f.id: f for f in again.load_files()} == found
        again.close()


def test_files_are_loaded_from_the_store_on_start(records):
    """A new Files over a store with records counts the live ones' storage and finds them."""
    records.save_file(SharedFile("c" * 24, "c.txt", 7, "text/plain", "a", "#r", "#r", 1.0, 0.0))
    records.save_file(SharedFile("d" * 24, "d.txt", 9, "text/plain", "a", "#r", "#r", 1.0, 0.0,
                                 "expired"))
    chat = Chat()
    files = Files(chat.hub, records, BASE)
    assert files.used == 7 and files.live_ids() == {"c" * 24}
    assert files.find("d" * 24).gone == "expired"


def test_the_uploads_directory_keeps_bytes_under_ids_only(tmp_path):
    """Files are created private under their id; anything but an id is refused; a temporary directory goes on close."""
    directory = UploadDirectory.open(str(tmp_path))
    with directory.create("a" * 24) as out:
        out.write(b"data")
    path = tmp_path / "uploads" / ("a" * 24)
    assert path.read_bytes() == b"data" and (os.stat(path).st_mode & 0o777) == 0o600
    for bad in ("../x", "a/b", "", ".." + "a" * 20, "a" * 24 + "\n"):
        with pytest.raises(ValueError):
            directory.path_of(bad)
    directory.remove("a" * 24)
    directory.remove("a" * 24)
    assert not path.exists()
    temporary = UploadDirectory.open(None)
    assert os.path.isdir(temporary.path)
    temporary.close()
    assert not os.path.exists(temporary.path)


def test_the_service_removes_orphans_at_start_and_expired_files_every_ten_minutes(tmp_path):
    """Starting removes bytes no live record names (a crash's partial uploads); the cleanup removes expired files' bytes."""
    from chatservice.service import HistorySettings, ServerConfig
    from chatservice.sharing import EXPIRY_INTERVAL, FileSharing

    chat = Chat()
    store = MemoryStore(chat.clock)
    kept = SharedFile("k" * 24, "k.txt", 1, "text/plain", "a", "#r", "#r", 0.0,
                      chat.clock.seconds() + EXPIRY_INTERVAL / 2)
    store.save_file(kept)
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    (uploads / kept.id).write_bytes(b"k")
    (uploads / ("o" * 24)).write_bytes(b"orphan")
    (uploads / "notes by the admin").write_bytes(b"not ours")
    config = ServerConfig(web_endpoints=("tcp:8080",),
                          history=HistorySettings(data_dir=str(tmp_path)))
    sharing = FileSharing()
    sharing.start(chat.hub, store, config, chat.clock)
    assert sorted(os.listdir(uploads)) == [kept.id, "notes by the admin"]
    chat.clock.advance(EXPIRY_INTERVAL)
    assert os.listdir(uploads) == ["notes by the admin"]
    assert [f.gone for f in store.load_files()] == ["expired"]
    sharing.stop()
    assert chat.clock.getDelayedCalls() == []


def test_the_cleanup_forgets_departed_uploaders_and_old_hourly_counts():
    """After its uploader signs out a file is no longer held for them; stale tokens and hourly counts an hour old are dropped."""
    chat = Sharing()
    alice = chat.in_room("alice", "#room")
    chat.share(alice)
    chat.files.issue_token(alice, "#room")
    chat.hub.quit(alice)
    chat.clock.advance(HOUR)
    chat.files.expire()
    assert chat.files._uploaders == {} and chat.files._started == {}
    assert chat.files._tokens == {}
