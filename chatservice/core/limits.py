"""
Limits that protect the server from one client: message rate and connections
per address.  Time comes from an injected clock.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from twisted.internet.interfaces import IReactorTime


@dataclass(frozen=True)
class Limits:
    """
    Every per-connection limit, with its default.

    @ivar max_line_length: bytes in one line, not counting its line ending.
    @ivar flood_control: whether lines beyond the rate are delayed and a
        client that keeps flooding is disconnected.
    @ivar flood_rate: lines per second a client may send in the long run.
    @ivar flood_burst: lines a client may send at once before being slowed.
    @ivar flood_queue: delayed lines a client may have waiting before it is
        disconnected for flooding.
    @ivar max_send_queue: bytes of output that may wait for a client that
        does not read before it is disconnected.
    @ivar max_per_address: connections from one IPv4 address or IPv6 /64.
    @ivar exempt: networks (as text, e.g. C{"10.0.0.0/8"}) whose addresses
        C{max_per_address} does not apply to; loopback by default, as in
        ergo, since connections from this host are the operator's own.
    @ivar registration_timeout: seconds to choose a nickname.
    @ivar max_nick_attempts: invalid or taken nicknames tried before the
        server gives up.
    """

    max_line_length: int = 2048
    flood_control: bool = True
    flood_rate: float = 2.0
    flood_burst: int = 20
    flood_queue: int = 40
    max_send_queue: int = 1024 * 1024
    max_per_address: int = 10
    exempt: tuple[str, ...] = ("127.0.0.0/8", "::1")
    registration_timeout: float = 60.0
    max_nick_attempts: int = 10


class TokenBucket:
    """
    A token bucket: C{burst} tokens at most, refilled at C{rate} per second.
    """

    __slots__ = ("_clock", "_rate", "_burst", "_tokens", "_stamp")

    def __init__(self, clock: IReactorTime, rate: float, burst: int):
        self._clock = clock
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._stamp = clock.seconds()

    def _refill(self) -> None:
        now = self._clock.seconds()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now

    def take(self) -> bool:
        """Take one token if there is one; say whether there was."""
        self._refill()
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    def wait(self) -> float:
        """Seconds until the next token is available."""
        self._refill()
        return max(0.0, (1 - self._tokens) / self._rate)


def address_key(host: str) -> str:
    """
    Return the key that connections from C{host} are counted under: the
    address itself for IPv4, its /64 network for IPv6 (one household or
    server usually holds a whole /64).  A name that is not an IP address
    (a UNIX socket's path, say) is its own key.
    """
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def exempt_networks(networks) -> tuple:
    """
    Parse C{networks} (addresses or networks as text); raise L{ValueError}
    naming the first that is neither.
    """
    return tuple(ipaddress.ip_network(network, strict=False) for network in networks)


def _exempt(host: str, networks) -> bool:
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


class AddressLimiter:
    """
    Counts open connections per address, across every front end.

    Connections from an exempt network are counted too, but never refused.
    """

    def __init__(self, limit: int, exempt=()):
        self.limit = limit
        self.exempt = exempt_networks(exempt)
        self._counts: dict[str, int] = {}

    def acquire(self, host: str) -> bool:
        """
        Count a new connection from C{host}, unless that would pass the
        limit and C{host} is not exempt; say whether it was counted.
        """
        key = address_key(host)
        count = self._counts.get(key, 0)
        if count >= self.limit and not _exempt(host, self.exempt):
            return False
        self._counts[key] = count + 1
        return True

    def release(self, host: str) -> None:
        """Forget one connection from C{host} that was counted."""
        key = address_key(host)
        count = self._counts.get(key, 0) - 1
        if count > 0:
            self._counts[key] = count
        else:
            self._counts.pop(key, None)

    def count(self, host: str) -> int:
        return self._counts.get(address_key(host), 0)
