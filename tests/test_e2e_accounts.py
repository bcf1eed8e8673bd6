"""
End to end: accounts through a real twistd over real sockets.  Accounts are
made by the operators' command while the server runs, or by IRC's REGISTER;
IRC clients log in with SASL PLAIN and SCRAM-SHA-256 (scramp's client side),
or with PASS account:password; registered nicknames are refused to others
and taken back from ghosts; hostile SASL input is refused, and a loop of
wrong passwords meets the limits while the server stays responsive.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time

import pytest
from scramp import ScramClient

from server import REPO

CAPS_302 = "CAP LS 302"


def add_account(server, name: str, password: str) -> None:
    """Create an account with the operators' command, on the running server's database."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-m", "chatservice.accounts", "--data-dir",
                           str(server.directory / "chatservice-data"), "add", name],
                          input=password + "\n", capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.returncode == 0, done.stderr


def b64(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return base64.b64encode(data).decode("ascii")


def irc(server, name: str = "client"):
    return server.connect(name, port=server.irc_ports[0])


def numeric(client, code: str) -> str:
    """Read up to the line with numeric (or command) C{code}; return that line."""
    got = client.read_until(f" {code} ".encode())
    return (got.rsplit(b"\n", 1)[-1] + client.read_until(b"\n")).decode().rstrip("\r\n")


def sasl_plain(client, name: str, password: str) -> None:
    client.send_line("CAP REQ :sasl")
    client.read_until(b"ACK sasl")
    client.send_line("AUTHENTICATE PLAIN")
    client.read_until(b"AUTHENTICATE +")
    client.send_line("AUTHENTICATE " + b64(f"\0{name}\0{password}"))


def finish(client, nick: str) -> None:
    client.send_line("CAP END")
    client.send_line(f"NICK {nick}")
    client.send_line(f"USER {nick} 0 * :{nick}")


@pytest.fixture
def server(start_server):
    return start_server(irc=1)


def test_account_from_the_command_logs_in_with_plain(server):
    """An account the command adds while the server runs logs in at once with SASL PLAIN (900, 903)."""
    client = irc(server)
    client.send_line(CAPS_302)
    assert "sasl=PLAIN,SCRAM-SHA-256" in numeric(client, "LS")
    add_account(server, "alice", "correct horse")
    sasl_plain(client, "alice", "correct horse")
    line = numeric(client, "900")
    assert line.endswith(" alice :You are now logged in as alice")
    numeric(client, "903")
    finish(client, "alice")
    numeric(client, "001")
    client.send_line("WHOIS alice")
    assert numeric(client, "330").split()[3:5] == ["alice", "alice"]
    assert "logged in to account alice" in server.wait_for_log(
        lambda log: "logged in to account alice" in log, "the login")


def test_wrong_password_is_904_and_logged_without_it(server):
    """A wrong PLAIN password gets 904; the log names the address, never the password."""
    add_account(server, "alice", "correct horse")
    client = irc(server)
    sasl_plain(client, "alice", "wrong-horse-secret")
    assert "SASL authentication failed" in numeric(client, "904")
    log = server.wait_for_log(lambda log: "Failed password login" in log, "the failure")
    assert "127.0.0.1" in log and "wrong-horse-secret" not in log


def scram_start(client):
    client.send_line("CAP REQ :sasl")
    client.read_until(b"ACK sasl")
    client.send_line("AUTHENTICATE SCRAM-SHA-256")
    client.read_until(b"AUTHENTICATE +")


def challenge(client) -> str:
    client.read_until(b"AUTHENTICATE ")
    return base64.b64decode(client.read_line()).decode()


def test_scram_through_scramp(server):
    """SCRAM-SHA-256 with scramp's client logs in, and the server proves it knows the keys."""
    add_account(server, "Scramtest", "sesame-seed")
    client = irc(server)
    scram_start(client)
    scram = ScramClient(["SCRAM-SHA-256"], "Scramtest", "sesame-seed")
    client.send_line("AUTHENTICATE " + b64(scram.get_client_first()))
    scram.set_server_first(challenge(client))
    client.send_line("AUTHENTICATE " + b64(scram.get_client_final()))
    scram.set_server_final(challenge(client))  # raises unless the server's proof holds
    client.send_line("AUTHENTICATE +")
    numeric(client, "900")
    numeric(client, "903")


def test_scram_wrong_proof_and_replay(server):
    """A SCRAM proof from a wrong password, or replayed from an earlier exchange, gets 904."""
    add_account(server, "alice", "correct horse")
    first = irc(server, "first")
    scram_start(first)
    good = ScramClient(["SCRAM-SHA-256"], "alice", "correct horse")
    recorded_first = good.get_client_first()
    first.send_line("AUTHENTICATE " + b64(recorded_first))
    good.set_server_first(challenge(first))
    recorded = good.get_client_final()
    first.send_line("AUTHENTICATE " + b64(recorded))
    good.set_server_final(challenge(first))
    first.send_line("AUTHENTICATE +")
    numeric(first, "903")

    wrong = irc(server, "wrong")
    scram_start(wrong)
    bad = ScramClient(["SCRAM-SHA-256"], "alice", "wrong horse")
    wrong.send_line("AUTHENTICATE " + b64(bad.get_client_first()))
    bad.set_server_first(challenge(wrong))
    wrong.send_line("AUTHENTICATE " + b64(bad.get_client_final()))
    numeric(wrong, "904")

    replay = irc(server, "replay")
    scram_start(replay)
    replay.send_line("AUTHENTICATE " + b64(recorded_first))
    challenge(replay)
    replay.send_line("AUTHENTICATE " + b64(recorded))
    numeric(replay, "904")


def test_hostile_authenticate(server):
    """Overlong chunks get 905, bad base64 and unknown mechanisms 904 (with 908), and the connection goes on."""
    add_account(server, "alice", "correct horse")
    client = irc(server)
    client.send_line("CAP REQ :sasl")
    client.read_until(b"ACK sasl")
    client.send_line("AUTHENTICATE PLAIN")
    client.read_until(b"AUTHENTICATE +")
    client.send_line("AUTHENTICATE " + "A" * 401)
    numeric(client, "905")
    client.send_line("AUTHENTICATE PLAIN")
    client.read_until(b"AUTHENTICATE +")
    client.send_line("AUTHENTICATE !!!not-base64")
    numeric(client, "904")
    client.send_line("AUTHENTICATE PLAIN")
    client.read_until(b"AUTHENTICATE +")
    for _ in range(6):
        client.send_line("AUTHENTICATE " + "A" * 400)
    numeric(client, "905")
    client.send_line("AUTHENTICATE X-NOPE")
    assert numeric(client, "908").split()[3] == "PLAIN,SCRAM-SHA-256"
    numeric(client, "904")
    client.send_line("AUTHENTICATE PLAIN")
    client.read_until(b"AUTHENTICATE +")
    client.send_line("AUTHENTICATE " + b64(b"\xff\xfe\0alice\0x"))
    numeric(client, "904")
    client.send_line("AUTHENTICATE PLAIN")
    client.read_until(b"AUTHENTICATE +")
    client.send_line("AUTHENTICATE *")
    numeric(client, "906")
    sasl_plain_again(client)
    numeric(client, "903")


def sasl_plain_again(client):
    client.send_line("AUTHENTICATE PLAIN")
    client.read_until(b"AUTHENTICATE +")
    client.send_line("AUTHENTICATE " + b64("\0alice\0correct horse"))


def test_thousand_wrong_passwords(start_server):
    """1,000 wrong passwords in a loop meet the limits ("try again in N s") while others are served at once."""
    # Without flood control, or the loop would be slowed to 2 lines a second.
    server = start_server("--no-flood-control", irc=1)
    add_account(server, "alice", "correct horse")
    attacker = irc(server, "attacker")
    attacker.send_line("CAP REQ :sasl")
    attacker.read_until(b"ACK sasl")
    bystander = irc(server, "bystander")
    finish(bystander, "bystander")
    numeric(bystander, "001")
    started = time.monotonic()
    limited = 0
    for number in range(1000):
        attacker.send_line("AUTHENTICATE PLAIN")
        attacker.read_until(b"AUTHENTICATE +")
        attacker.send_line("AUTHENTICATE " + b64(f"\0alice\0wrong{number}"))
        reply = numeric(attacker, "904")
        if "try again in" in reply:
            limited += 1
        if number % 250 == 0:
            asked = time.monotonic()
            bystander.send_line(f"PING :p{number}")
            bystander.read_until(f"p{number}".encode())
            assert time.monotonic() - asked < 2.0
    assert limited == 995
    # Hashing stops after the fifth failure: the loop takes no 1,000 hashes.
    assert time.monotonic() - started < 60
    client = irc(server, "owner")
    sasl_plain(client, "alice", "correct horse")
    assert "try again in" in numeric(client, "904")


def test_register_then_nick_is_protected_and_ghost_taken_back(server):
    """REGISTER logs in; the nick is refused to others with the reason, and a SASL login takes it back from a ghost."""
    owner = irc(server, "owner")
    owner.send_line("CAP REQ :draft/account-registration")
    finish(owner, "carol")
    numeric(owner, "001")
    owner.send_line("REGISTER * * correct-horse")
    assert numeric(owner, "REGISTER").split()[2:4] == ["SUCCESS", "carol"]
    numeric(owner, "900")
    owner.send_line("QUIT")
    owner.read_until_closed()

    other = irc(server, "other")
    finish(other, "carol")
    refusal = numeric(other, "433")
    assert "registered" in refusal and "log in" in refusal
    other.send_line("NICK dave")
    numeric(other, "001")
    other.send_line("NICK Carol")
    assert "registered" in numeric(other, "433")

    # A ghost: somebody not logged in holds the nick (an account made
    # by the command while they were on).
    ghost = irc(server, "ghost")
    finish(ghost, "erin")
    numeric(ghost, "001")
    add_account(server, "erin", "correct horse")
    back = irc(server, "back")
    sasl_plain(back, "erin", "correct horse")
    numeric(back, "903")
    finish(back, "erin")
    numeric(back, "001")
    assert b"Ghosted by the owner of erin" in ghost.read_until_closed()


def test_register_refusals(server):
    """REGISTER answers FAIL with the spec's codes: taken, weak, other name, bad e-mail."""
    add_account(server, "root", "correct horse")
    client = irc(server)
    client.send_line("CAP REQ :draft/account-registration")
    client.send_line("REGISTER * * correct-horse")
    assert numeric(client, "FAIL").split()[2:4] == ["REGISTER", "NEED_NICK"]
    finish(client, "frank")
    numeric(client, "001")
    for command, code in (("REGISTER root * correct-horse", "ACCOUNT_NAME_MUST_BE_NICK"),
                          ("REGISTER * * short", "WEAK_PASSWORD"),
                          ("REGISTER * not-an-address correct-horse", "INVALID_EMAIL"),
                          ("VERIFY frank 1234", "INVALID_CODE")):
        client.send_line(command)
        assert code in numeric(client, "FAIL"), command
    client.send_line("NICK root")
    assert "registered" in numeric(client, "433")


def test_pass_account_password(server):
    """PASS account:password logs in at registration; a wrong one is told, and registration goes on."""
    add_account(server, "alice", "correct horse")
    client = irc(server)
    client.send_line("PASS :alice:correct horse")
    finish(client, "alice")
    numeric(client, "900")
    numeric(client, "001")
    wrong = irc(server, "wrong")
    wrong.send_line("PASS bob:nope")
    finish(wrong, "bob")
    assert "Login failed" in numeric(wrong, "904")
    numeric(wrong, "001")


def test_require_account_and_closed_registration(start_server):
    """With --require-account nobody signs in without a login; with --registration closed REGISTER is refused."""
    server = start_server("--require-account", "--registration", "closed", irc=1)
    client = irc(server)
    client.send_line(CAPS_302)
    caps = numeric(client, "LS")
    assert "sasl" in caps and "account-registration" not in caps
    client.send_line("REGISTER * * correct-horse")
    finish(client, "alice")
    assert "ACCOUNT_REQUIRED" in client.read_until_closed().decode()
    add_account(server, "alice", "correct horse")
    client = irc(server, "again")
    sasl_plain(client, "alice", "correct horse")
    numeric(client, "903")
    finish(client, "alice")
    numeric(client, "001")


def test_line_password_prompt_and_founder_across_restart(server):
    """A line user logs in at the prompt and founds a room; after a restart the founder gets ops back on joining."""
    add_account(server, "alice", "correct horse")
    line = server.connect("alice-line")
    line.read_prompt()
    line.send_line("alice")
    line.read_until(b"This nickname is registered. Password")
    line.send_line("wrong horse")
    line.read_until(b"*** Wrong account name or password.")
    line.send_line("correct horse")
    line.read_until(b"*** You are logged in as alice.")
    line.send_line("/join #club")
    line.read_until(b"#club")
    line.send_line("/quit")
    line.read_until_closed()
    server.terminate()
    server.start_again()
    watcher = irc(server, "watcher")
    finish(watcher, "watcher")
    numeric(watcher, "001")
    watcher.send_line("JOIN #club")
    numeric(watcher, "366")
    client = irc(server, "alice")
    sasl_plain(client, "alice", "correct horse")
    numeric(client, "903")
    finish(client, "alice")
    numeric(client, "001")
    client.send_line("JOIN #club")
    watcher.read_until(b":chatservice MODE #club +o alice")


def test_private_history_survives_a_restart(server):
    """Private messages between two accounts are stored in SQLite and replayed to each of them after a restart, to nobody else."""
    add_account(server, "alice", "correct horse")
    add_account(server, "bob", "battery staple")
    alice = irc(server, "alice")
    sasl_plain(alice, "alice", "correct horse")
    numeric(alice, "903")
    finish(alice, "alice")
    numeric(alice, "001")
    bob = server.connect("bob")
    bob.read_prompt()
    bob.send_line("bob")
    bob.read_until(b"Password")
    bob.send_line("battery staple")
    bob.read_until(b"*** You are logged in as bob.")
    alice.send_line("PRIVMSG bob :the secret plan")
    bob.read_until(b"[private] <alice> the secret plan")
    bob.send_line("/msg alice agreed")
    alice.read_until(b"PRIVMSG alice :agreed")
    server.terminate()
    server.start_again()
    bob = server.connect("bob-again")
    bob.read_prompt()
    bob.send_line("bob")
    bob.read_until(b"Password")
    bob.send_line("battery staple")
    bob.read_until(b"*** You are logged in as bob.")
    bob.send_line("/history alice")
    bob.read_until(b"*** The last 2 private messages with alice")
    bob.read_until(b"[private] <alice> the secret plan")
    bob.read_until(b"[to alice] <bob> agreed")
    eve = server.connect("eve")
    eve.read_prompt()
    eve.send_line("eve")
    eve.read_until(b"*** Hello eve!")
    eve.send_line("/history alice")
    eve.read_until(b"*** Private messages are kept only for people logged in to accounts.")
