"""
Certificate fingerprints for SASL EXTERNAL, without sockets: both account
stores, the core's rules, the shared CERT command, the EXTERNAL exchange,
and the listeners' request for a client certificate.
"""

from __future__ import annotations

import pytest
from OpenSSL import SSL
from twisted.internet.testing import MemoryReactorClock

from chatservice import listeners
from chatservice.core import certfps, sasl
from chatservice.core.accounts import (
    MAX_CERTFPS, PER_ACCOUNT, AccountError, AccountExists, Accounts, LoginFailed, LoginLimited,
    normal_certfp)
from chatservice.store.accounts import DirectRunner, MemoryAccounts, SQLiteAccounts
from chatservice.store.sqlite import DATA_FILE, DirectReads, SQLiteStore
from test_accounts import result

FP = "ab" * 32
OTHER = "cd" * 32


@pytest.fixture(params=["memory", "sqlite"])
def accounts(request, tmp_path):
    clock = MemoryReactorClock()
    if request.param == "memory":
        made = Accounts(MemoryAccounts(), clock)
        result(made.register("alice", "correct horse"))
        result(made.register("bob", "battery staple"))
        yield made
        return
    history = SQLiteStore(str(tmp_path / DATA_FILE), clock, reads=DirectReads)
    store = SQLiteAccounts(DirectRunner(history.path))
    made = Accounts(store, clock)
    result(made.register("alice", "correct horse"))
    result(made.register("bob", "battery staple"))
    yield made
    store.close()
    history.close()


def failure_of(deferred):
    with pytest.raises(Exception) as raised:
        result(deferred)
    return raised.value


def test_add_list_find_delete(accounts):
    """A fingerprint added to an account finds it, is listed, and once deleted finds nothing."""
    assert result(accounts.add_certfp("Alice", FP.upper())) == FP
    assert result(accounts.certfps("alice")) == [FP]
    assert result(accounts.store.find_certfp(FP)).name == "alice"
    assert result(accounts.login_certfp(FP, "", "1.2.3.4")).name == "alice"
    assert result(accounts.del_certfp("alice", FP)) is True
    assert result(accounts.del_certfp("alice", FP)) is False
    assert result(accounts.store.find_certfp(FP)) is None


def test_one_owner_and_a_limit(accounts):
    """A fingerprint belongs to one account; an account has at most MAX_CERTFPS; bob cannot delete alice's."""
    result(accounts.add_certfp("alice", FP))
    assert isinstance(failure_of(accounts.add_certfp("alice", FP)), AccountExists)
    assert isinstance(failure_of(accounts.add_certfp("bob", FP)), AccountExists)
    assert result(accounts.del_certfp("bob", FP)) is False
    for n in range(1, MAX_CERTFPS):
        result(accounts.add_certfp("alice", f"{n:064x}"))
    problem = failure_of(accounts.add_certfp("alice", OTHER))
    assert str(problem) == f"An account has at most {MAX_CERTFPS} certificates."


def test_dropping_an_account_forgets_its_certificates(accounts):
    """A dropped account's fingerprints log in to nothing, and may be added to another account."""
    result(accounts.add_certfp("alice", FP))
    assert result(accounts.store.drop("alice"))
    assert result(accounts.store.find_certfp(FP)) is None
    assert result(accounts.add_certfp("bob", FP)) == FP


@pytest.mark.parametrize("text", ["", "zz", "0" * 63, "0" * 65, "g" * 64, "0" * 63 + "\x00",
                                  "\u0660" * 64, " " * 64, "0" * 10_000])
def test_malformed_fingerprints(text):
    """Anything but 64 hex digits (colons aside) is refused with the rule."""
    with pytest.raises(AccountError, match="64 hex digits"):
        normal_certfp(text)


def test_colons_and_case():
    """openssl's colon-separated upper-case form is the same fingerprint."""
    colons = ":".join(FP[i:i + 2].upper() for i in range(0, 64, 2))
    assert normal_certfp(colons) == FP


def test_cert_command(accounts):
    """The CERT command defaults to the connection's certificate, needs a login and explains its usage."""
    run = lambda account, words, current: result(  # noqa: E731
        certfps.command(accounts, account, words, current))
    with pytest.raises(AccountError, match="Log in"):
        run(None, ["ADD"], FP)
    with pytest.raises(AccountError, match="no TLS client certificate"):
        run("alice", ["add"], None)
    with pytest.raises(AccountError, match="Usage"):
        run("alice", ["frob"], FP)
    with pytest.raises(AccountError, match="Usage"):
        run("alice", ["add", FP, FP], FP)
    assert run("alice", [], FP) == ["alice has no certificates."]
    assert run("alice", ["add"], FP) == [f"Certificate {FP} now logs in to alice (SASL EXTERNAL)."]
    run("alice", ["add", OTHER], FP)
    assert run("alice", ["list"], FP) == ["Certificates of alice:", f"  {FP} (this connection)",
                                          f"  {OTHER}"]
    assert run("alice", ["del", OTHER], FP) == [f"Certificate {OTHER} no longer logs in to alice."]
    with pytest.raises(AccountError, match="no such certificate"):
        run("alice", ["del", OTHER], FP)


def exchange(accounts, certfp, external=True):
    return sasl.start(accounts, "external", "1.2.3.4", certfp, external)


def test_external_exchange(accounts):
    """EXTERNAL logs in to the certificate's account, for an empty authzid or its own name only."""
    result(accounts.add_certfp("alice", FP))
    assert result(exchange(accounts, FP).step(b"")).account.name == "alice"
    assert result(exchange(accounts, FP).step(b"ALICE")).account.name == "alice"
    assert isinstance(failure_of(exchange(accounts, FP).step(b"bob")), sasl.SaslFailed)
    assert isinstance(failure_of(exchange(accounts, OTHER).step(b"")), sasl.SaslFailed)
    with pytest.raises(sasl.SaslFailed, match="no TLS client certificate"):
        result(exchange(accounts, None).step(b""))
    for hostile in (b"\xff\xfe", b"alice\x00bob", b"a" * 300):
        with pytest.raises(sasl.SaslFailed, match="not an EXTERNAL message"):
            result(exchange(accounts, FP).step(hostile))
    twice = exchange(accounts, FP)
    result(twice.step(b""))
    with pytest.raises(sasl.SaslFailed, match="one message"):
        result(twice.step(b""))


def test_external_is_offered_only_where_asked(accounts):
    """A connection whose listener asks for no certificate may not start EXTERNAL."""
    with pytest.raises(sasl.SaslFailed):
        exchange(accounts, FP, external=False)
    assert sasl.mechanisms(False) == ("PLAIN", "SCRAM-SHA-256")
    assert sasl.mechanisms(True) == ("PLAIN", "SCRAM-SHA-256", "EXTERNAL")


def test_wrong_certificates_count_against_the_limits(accounts):
    """Failed EXTERNAL logins for a name are counted: past the limit even the right certificate waits."""
    result(accounts.add_certfp("alice", FP))
    for _ in range(PER_ACCOUNT):
        failure_of(exchange(accounts, OTHER).step(b"alice"))
    assert isinstance(failure_of(exchange(accounts, FP).step(b"alice")), LoginLimited)
    assert isinstance(failure_of(accounts.login_certfp(OTHER, "", "5.6.7.8")), LoginFailed)


class FakeOptions:
    """Certificate options that make bare OpenSSL connections, all from one context."""

    def __init__(self):
        self.context = SSL.Context(SSL.TLS_SERVER_METHOD)
        # As Twisted's options do when they check their ciphers: from now
        # on pyOpenSSL refuses to change the context.
        SSL.Connection(self.context, None)

    def getContext(self):
        return self.context

    def serverConnectionForTLS(self, protocol):
        return SSL.Connection(self.context, None)


def test_listeners_ask_for_but_do_not_require_a_certificate():
    """Line and IRC TLS listeners set VERIFY_PEER without FAIL_IF_NO_PEER_CERT; web ones ask nothing."""
    asking = listeners.SwappableTLS(FakeOptions(), ask_certificates=True)
    mode = asking.serverConnectionForTLS(None).get_verify_mode()
    assert mode & SSL.VERIFY_PEER and not mode & SSL.VERIFY_FAIL_IF_NO_PEER_CERT
    quiet = listeners.SwappableTLS(FakeOptions())
    assert quiet.serverConnectionForTLS(None).get_verify_mode() == SSL.VERIFY_NONE
    assert listeners.ASK_CERTIFICATES == {"port", "irc"}


def test_new_options_ask_for_certificates_too():
    """A reload's new certificate options ask for a certificate from their first connection on."""
    asking = listeners.SwappableTLS(FakeOptions(), ask_certificates=True)
    asking.serverConnectionForTLS(None)
    asking.options = FakeOptions()
    assert asking.serverConnectionForTLS(None).get_verify_mode() & SSL.VERIFY_PEER
