#!/usr/bin/env python3
"""
Sign-ins into a big room: N line users sign in one after another to a
``twistd -n chat`` (started as ``bench/run.py`` starts it: loopback ports,
pinned with ``taskset -c`` to ``--server-cpu``, flood control and the
per-address limit relaxed only through the documented options), each landing
in ``#lobby`` where everyone already there is told.  At most ``--conc`` of
them are signing in at any moment (connected, not yet confirmed in the room),
as a crowd arriving after a restart would; every member stays connected.

A sign-in counts when its client reads ``You joined #lobby``.  Members' output
is left in their sockets' receive buffers (a few kilobytes each) while the
crowd arrives, and read after the last sign-in: the server writes every line
all the same, and a Python generator reading ten thousand sockets four times
a second would otherwise be what is measured.  What they were told is then
checked: each member must have been told of every join after their own, so
the joins told add up to n(n-1)/2 (``*** alice, bob and 35 others joined``
counts 37).  The figure is
sign-ins per second per thousand members already in the room (the first
thousand, the second...), and the whole run's rate; the target is at least
1,000 sign-ins/s into a room of 10,000 (the last band).

    python bench/signins.py                      # 10,000 users, 64 at a time
    python bench/signins.py --users 5000 --conc 16 --history sqlite

The generator is one Python process on ``--client-cpu``; its own CPU time is
printed beside the server's, so that a generator at 100 % (the bottleneck
then) is seen.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import selectors
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import Chatservice  # noqa: E402

JOINED = b"You joined #lobby"
PROMPT = b"Choose a nickname"


class Member:
    """One line client: its socket, what it has read, and how far it got."""

    __slots__ = ("sock", "nick", "buffer", "state")

    def __init__(self, sock: socket.socket, nick: str):
        self.sock, self.nick = sock, nick
        self.buffer = b""
        self.state = "prompt"  # -> "joining" -> "member"


def _server_cpu(pid: int) -> float:
    """The server's CPU seconds so far (user + system), from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sign_in(port: int, users: int, conc: int, timeout: float,
            members: list[Member]) -> list[float]:
    """
    Sign in C{users} line users, C{conc} at a time, adding each to
    C{members} (which the caller closes); return the moment (monotonic
    seconds) each sign-in was confirmed, in order (fewer than C{users} if
    C{timeout} seconds passed first).
    """
    selector = selectors.DefaultSelector()
    confirmed: list[float] = []
    started = signing = 0
    deadline = time.monotonic() + timeout

    def connect() -> None:
        nonlocal started, signing
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))
        member = Member(sock, f"s{started}")
        members.append(member)
        selector.register(sock, selectors.EVENT_READ, member)
        started += 1
        signing += 1

    try:
        while len(confirmed) < users:
            if time.monotonic() > deadline:
                break  # the caller reports how far it got
            while signing < conc and started < users:
                connect()
            for key, _ in selector.select(1.0):
                member = key.data
                try:
                    data = member.sock.recv(262144)
                except BlockingIOError:
                    continue
                if not data:
                    raise ConnectionError(f"the server closed {member.nick}'s connection")
                member.buffer += data
                if member.state == "prompt" and PROMPT in member.buffer:
                    member.sock.sendall(member.nick.encode() + b"\r\n")
                    member.state, member.buffer = "joining", b""
                elif member.state == "joining" and JOINED in member.buffer:
                    confirmed.append(time.monotonic())
                    # What this member is told from now on is read at the
                    # end (told_joins).
                    member.state = "member"
                    member.buffer = member.buffer[member.buffer.index(JOINED):]
                    selector.unregister(member.sock)
                    signing -= 1
    finally:
        selector.close()
    return confirmed


def joins_in(line: bytes) -> int:
    """How many joins a line tells of: 1, 2, 3, or 2 + N for "and N others"."""
    end = line.find(b" joined #lobby")
    if not line.startswith(b"*** ") or end < 0 or line.startswith(b"*** You "):
        return 0
    who = line[4:end]
    if who.endswith(b" others"):
        return 2 + int(who.rsplit(b" ", 2)[-2])
    return who.count(b", ") + who.count(b" and ") + 1


def told_joins(members: list[Member], wait: float = 10.0) -> int:
    """
    Read what the members have been told since they joined, until the joins
    told add up to n(n-1)/2 for the n members or C{wait} seconds pass (the
    last announcement comes up to a quarter second late); return the total.
    """
    joined = [member for member in members if member.state == "member"]
    expected = len(joined) * (len(joined) - 1) // 2
    told = 0
    deadline = time.monotonic() + wait
    while True:
        for member in joined:
            while True:
                try:
                    data = member.sock.recv(262144)
                except BlockingIOError:
                    break
                if not data:
                    break
                member.buffer += data
            *lines, member.buffer = member.buffer.split(b"\r\n")
            told += sum(joins_in(line) for line in lines)
        if told >= expected or time.monotonic() > deadline:
            return told
        time.sleep(0.1)


def bands(confirmed: list[float], start: float, size: int = 1000) -> list[dict]:
    """Sign-ins per second for each C{size} members already in the room."""
    out = []
    for first in range(0, len(confirmed), size):
        last = min(first + size, len(confirmed)) - 1
        begin = start if first == 0 else confirmed[first - 1]
        seconds = confirmed[last] - begin
        count = last - first + 1
        out.append({"members": f"{first}-{last + 1}",
                    "signins_per_s": round(count / seconds, 1) if seconds > 0 else None})
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--users", type=int, default=10000, help="line users to sign in (10000)")
    p.add_argument("--conc", type=int, default=64,
                   help="at most this many signing in at once (64, as chatbench's --conc)")
    p.add_argument("--history", choices=("memory", "sqlite"), default="memory",
                   help="--no-persistence (memory, the default) or a fresh SQLite data dir")
    p.add_argument("--server-cpu", default="0", help="core for the server (taskset -c; 0)")
    p.add_argument("--client-cpu", default="1", help="core for this generator (1; '' = any)")
    p.add_argument("--timeout", type=float, default=300.0, help="give up after (s)")
    p.add_argument("--twistd", default=None, help="the twistd to run (beside python)")
    p.add_argument("--json", action="store_true", help="print one RESULT {json} line too")
    o = p.parse_args(argv)
    if o.client_cpu and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(o.client_cpu)})
    needed = o.users + 100
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))
    # Stopped from outside (timeout(1)): stop the server too, on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(f"stopped after {time.monotonic() - t0:.0f} s"))
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="signins-") as work:
        server = Chatservice(o, Path(work), history=o.history)
        server.start()
        try:
            cpu0, own0 = _server_cpu(server.pid), time.process_time()
            start = time.monotonic()
            members: list[Member] = []
            try:
                confirmed = sign_in(server.line_port, o.users, o.conc, o.timeout, members)
                if not confirmed:
                    raise SystemExit(f"nobody signed in within {o.timeout:.0f} s")
                wall = confirmed[-1] - start
                server_cpu = _server_cpu(server.pid) - cpu0
                own_cpu = time.process_time() - own0
                told = told_joins(members)
            finally:
                for member in members:
                    member.sock.close()
        finally:
            server.stop()
    signed = len(confirmed)
    result = {"users": o.users, "signed_in": signed, "conc": o.conc, "history": o.history,
              "wall_s": round(wall, 2), "signins_per_s": round(signed / wall, 1),
              "server_cpu_pct": round(100 * server_cpu / wall, 1),
              "generator_cpu_pct": round(100 * own_cpu / wall, 1),
              "bands": bands(confirmed, start),
              "joins_told": told, "joins_expected": signed * (signed - 1) // 2}
    if signed < o.users:
        print(f"only {signed} of {o.users} signed in within {o.timeout:.0f} s")
    print(f"{signed} line users into #lobby, {o.conc} at a time, history {o.history}: "
          f"{result['signins_per_s']} sign-ins/s over {result['wall_s']} s "
          f"(server CPU {result['server_cpu_pct']} %, generator "
          f"{result['generator_cpu_pct']} %)")
    print(f"  joins told to members: {told} of {result['joins_expected']}"
          + ("" if told == result["joins_expected"] else "  <-- MISMATCH"))
    for band in result["bands"]:
        print(f"  members {band['members']:>12}: {band['signins_per_s']} sign-ins/s")
    if o.json:
        print("RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
