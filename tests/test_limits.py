"""
Tests for L{chatservice.core.limits}: the token bucket, per-address keys and
the per-address connection counter.
"""

import pytest
from twisted.internet.task import Clock

from chatservice.core.limits import AddressLimiter, Limits, TokenBucket, address_key


def test_limits_defaults():
    """Every limit has its documented default."""
    limits = Limits()
    assert (
        limits.max_line_length, limits.flood_control, limits.flood_rate,
        limits.flood_burst, limits.flood_queue, limits.max_send_queue,
        limits.max_per_address, limits.registration_timeout, limits.max_nick_attempts,
    ) == (2048, True, 2.0, 20, 40, 1024 * 1024, 10, 60.0, 10)


# TokenBucket

def bucket(rate=2.0, burst=3):
    clock = Clock()
    clock.advance(100)
    return clock, TokenBucket(clock, rate, burst)


def test_bucket_starts_full():
    """A new bucket gives C{burst} tokens at once and then none."""
    clock, tokens = bucket(burst=3)
    assert [tokens.take() for _ in range(4)] == [True, True, True, False]


def test_bucket_wait_when_full():
    """A bucket with a token left needs no wait."""
    clock, tokens = bucket()
    assert tokens.wait() == 0.0


def test_bucket_wait_when_empty():
    """An empty bucket says the next token comes after 1/rate seconds."""
    clock, tokens = bucket(rate=2.0, burst=1)
    tokens.take()
    assert tokens.wait() == 0.5
    clock.advance(0.2)
    assert tokens.wait() == pytest.approx(0.3)


def test_bucket_refills_at_rate():
    """An empty bucket gives a token again once 1/rate seconds have passed, and not before."""
    clock, tokens = bucket(rate=2.0, burst=2)
    tokens.take(), tokens.take()
    clock.advance(0.25)
    assert tokens.take() is False
    clock.advance(0.25)
    assert tokens.take() is True
    assert tokens.take() is False


def test_bucket_capped_at_burst():
    """A long idle time refills a bucket only up to C{burst}."""
    clock, tokens = bucket(rate=10.0, burst=3)
    for _ in range(3):
        tokens.take()
    clock.advance(3600)
    assert [tokens.take() for _ in range(4)] == [True, True, True, False]


def test_bucket_failed_take_costs_nothing():
    """Trying to take from an empty bucket does not delay the next token."""
    clock, tokens = bucket(rate=1.0, burst=1)
    tokens.take()
    for _ in range(10):
        clock.advance(0.09)
        assert tokens.take() is False
    clock.advance(0.1)
    assert tokens.take() is True


def test_bucket_long_run_rate():
    """A client trying all the time gets its burst and then one token every 1/rate seconds."""
    clock, tokens = bucket(rate=2.0, burst=1)
    times = []
    for _ in range(80):
        if tokens.take():
            times.append(clock.seconds() - 100)
        clock.advance(0.125)
    assert times == [0.5 * n for n in range(20)]


# address_key

@pytest.mark.parametrize(
    "host, key",
    [
        ("1.2.3.4", "1.2.3.4"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::1", "2001:db8:1:2::/64"),
        ("::1", "::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("::ffff:1.2.3.4", "1.2.3.4"),
        ("::ffff:102:304", "1.2.3.4"),
        ("/tmp/chat.sock", "/tmp/chat.sock"),
        ("localhost", "localhost"),
        ("", ""),
    ],
)
def test_address_key(host, key):
    """IPv4 counts per address, IPv6 per /64, IPv4-mapped IPv6 as its IPv4 address, anything else as itself."""
    assert address_key(host) == key


def test_address_key_same_64():
    """Two IPv6 addresses in one /64 share a key; addresses in neighbouring /64s do not."""
    assert address_key("2001:db8:0:1::1") == address_key("2001:db8:0:1:ffff:ffff:ffff:ffff")
    assert address_key("2001:db8:0:1::1") != address_key("2001:db8:0:2::1")


# AddressLimiter

def test_limiter_acquire_up_to_limit():
    """An address may have C{limit} connections counted, and no more."""
    limiter = AddressLimiter(3)
    assert [limiter.acquire("1.2.3.4") for _ in range(4)] == [True, True, True, False]
    assert limiter.count("1.2.3.4") == 3


def test_limiter_addresses_independent():
    """A full address does not stop another address."""
    limiter = AddressLimiter(1)
    assert limiter.acquire("1.2.3.4")
    assert limiter.acquire("1.2.3.5")
    assert not limiter.acquire("1.2.3.4")


def test_limiter_release():
    """Releasing a connection makes room for another from the same address."""
    limiter = AddressLimiter(2)
    limiter.acquire("1.2.3.4")
    limiter.acquire("1.2.3.4")
    limiter.release("1.2.3.4")
    assert limiter.count("1.2.3.4") == 1
    assert limiter.acquire("1.2.3.4")
    assert not limiter.acquire("1.2.3.4")


def test_limiter_release_last_forgets():
    """Releasing an address's last connection forgets the address."""
    limiter = AddressLimiter(2)
    limiter.acquire("1.2.3.4")
    limiter.release("1.2.3.4")
    assert limiter.count("1.2.3.4") == 0
    assert limiter._counts == {}


def test_limiter_release_unknown():
    """Releasing an address that has no connection leaves no negative count behind."""
    limiter = AddressLimiter(1)
    limiter.release("9.9.9.9")
    assert limiter.count("9.9.9.9") == 0
    assert limiter.acquire("9.9.9.9")
    assert not limiter.acquire("9.9.9.9")


def test_limiter_ipv6_network():
    """Connections from different addresses in one IPv6 /64 share one count."""
    limiter = AddressLimiter(2)
    assert limiter.acquire("2001:db8::1")
    assert limiter.acquire("2001:db8::2")
    assert not limiter.acquire("2001:db8::ffff")
    assert limiter.acquire("2001:db8:0:1::1")
    limiter.release("2001:db8::abcd")
    assert limiter.count("2001:db8::1") == 1


def test_limiter_ipv4_mapped():
    """An IPv4-mapped IPv6 connection counts against its IPv4 address."""
    limiter = AddressLimiter(1)
    assert limiter.acquire("1.2.3.4")
    assert not limiter.acquire("::ffff:1.2.3.4")


# Exemptions

def test_default_exemptions_are_loopback():
    """By default the per-address limit exempts 127.0.0.0/8 and ::1, as ergo does."""
    assert Limits().exempt == ("127.0.0.0/8", "::1")


@pytest.mark.parametrize("host", ["127.0.0.1", "127.5.6.7", "::1", "::ffff:127.0.0.1"])
def test_exempt_address_is_never_refused(host):
    """A connection from an exempt network is accepted past the limit, and still counted."""
    limiter = AddressLimiter(2, Limits().exempt)
    assert [limiter.acquire(host) for _ in range(5)] == [True] * 5
    assert limiter.count(host) == 5
    for _ in range(5):
        limiter.release(host)
    assert limiter.count(host) == 0


@pytest.mark.parametrize("host", ["192.0.2.1", "2001:db8::1", "128.0.0.1", "::2"])
def test_address_outside_exemptions_is_limited(host):
    """An address outside the exempt networks is refused at the limit."""
    limiter = AddressLimiter(2, Limits().exempt)
    assert [limiter.acquire(host) for _ in range(3)] == [True, True, False]


def test_exempt_nat_network():
    """A team's NAT network can be exempted; addresses beside it stay limited."""
    limiter = AddressLimiter(1, ["198.51.100.0/24"])
    assert [limiter.acquire("198.51.100.9") for _ in range(3)] == [True] * 3
    assert [limiter.acquire("198.51.101.9") for _ in range(2)] == [True, False]


def test_no_exemptions_limits_loopback():
    """With no exemptions, loopback is limited like any other address."""
    limiter = AddressLimiter(1)
    assert [limiter.acquire("127.0.0.1") for _ in range(2)] == [True, False]


@pytest.mark.parametrize("host", ["/tmp/chat.sock", "", "not an address", "fe80::1%eth0"])
def test_exemption_check_survives_odd_hosts(host):
    """A peer that is not an IP address (a UNIX socket path, a scoped address) is limited, not exempted, and raises nothing."""
    limiter = AddressLimiter(1, Limits().exempt)
    assert [limiter.acquire(host) for _ in range(2)] == [True, False]
