"""
How long a password login takes: the median (and spread) of C{Accounts.login}
with the real argon2id parameters, run synchronously in this process, over an
in-memory store, so that only hashing is measured.

    python bench/login.py [ROUNDS]
"""

from __future__ import annotations

import statistics
import sys
import time

from twisted.internet.task import Clock

from chatservice.core.accounts import Accounts
from chatservice.store.accounts import MemoryAccounts


def main(rounds: int = 21) -> None:
    accounts = Accounts(MemoryAccounts(), Clock())
    accounts.register("alice", "correct horse battery")
    timings = []
    for number in range(rounds):
        started = time.perf_counter()
        result: list = []
        accounts.login("alice", "correct horse battery", f"192.0.2.{number % 200}").addBoth(
            result.append)
        timings.append(time.perf_counter() - started)
        assert getattr(result[0], "name", None) == "alice", result
    ms = sorted(t * 1000 for t in timings)
    print(f"login (argon2id verify): median {statistics.median(ms):.1f} ms, "
          f"min {ms[0]:.1f} ms, max {ms[-1]:.1f} ms over {rounds} logins")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 21)
