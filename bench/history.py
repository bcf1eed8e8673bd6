#!/usr/bin/env python3
"""
Benchmarks of chatservice's history (issue 8) that bench/run.py does not
cover: the SQLite store alone, in this process, and ``CHATHISTORY LATEST``
over IRC against a room of a million rows.

``store``
    The writer's rate without a server: C{SQLiteStore.open} in a fresh
    temporary data directory (the server's defaults, except a queue limit
    of C{--events}, so that nothing is dropped and the figure is the
    writer's), C{record} C{--events} messages into one room as fast as a
    loop can, C{flush}, and time it.  Prints the cost of one C{record} call
    (the fan-out hot path's share), and stored events per second from the
    first C{record} to the end of the flush; then the rows in the database
    against the events recorded (and the store's C{dropped}).
    ``--queue-limit 100000`` (the server's default) shows what a burst larger
    than the queue does: drops, counted.  ``--onto DIR`` records into a copy
    of a built directory's room instead: the writer with a million rows (and
    their indexes) behind it.  Also the writer thread's own CPU per event
    (from /proc).  ``--drop-fts`` (an experiment, not a configuration) drops
    the full-text index's insert trigger first: what indexing costs.  ``--cpu 0`` pins the process (the
    recording loop and the writer thread) to one core, as bench/run.py pins
    the server.

``build``
    A data directory whose one room (C{--room}, C{#big}) holds C{--rows}
    (1,000,000) events, written by the store's own writer (its schema, its
    serialization, its full-text index): 98 % messages from 200 nicknames,
    joins and parts between them, one event every 0.1 s, ending now (so that
    the default 90-day retention keeps them all).  The server's default
    C{--history-max-per-room} is 100,000: C{latest} starts it with
    C{--history-max-per-room} set to the rows, or retention would prune the
    room to 100,000 while it is measured.

``query``
    C{store.query(room, Query(100))} in this process against a built
    directory, sequentially: median, p90, p99 milliseconds (the store's
    read, its thread hop and the decoding of 100 events, without IRC).

``latest``
    A copy of a built directory, C{twistd -n chat} on it (pinned to
    C{--server-cpu}, flood control off), and C{--requests} sequential
    C{CHATHISTORY LATEST #big * 100} round trips after C{--warmup} ones:
    from sending the line to reading the closing C{BATCH -}; median, p90,
    p99 milliseconds.  The server lets one person make 20 history requests
    at once and then 2 a second, so each connection makes at most
    C{--per-conn} (15) requests: enough connections are registered (with
    C{CAP REQ :batch draft/chathistory server-time message-tags}) and have
    joined the room (as clients that read a room's history usually have;
    C{--no-join} to ask from outside) before the clock starts, and are used
    one after another.  Without C{draft/event-playback} the server sends messages
    only: each batch must hold C{--limit} PRIVMSGs, or the run is flagged
    invalid.

    python bench/history.py store --events 200000 --runs 3 --cpu 0
    python bench/history.py store --events 200000 --runs 3 --cpu 0 --onto /tmp/big
    python bench/history.py build --dir /tmp/big --rows 1000000
    python bench/history.py query --dir /tmp/big --requests 200
    python bench/history.py latest --dir /tmp/big --requests 200 --warmup 20

Absolute figures depend on the machine and what else runs on it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from chatservice.core import names  # noqa: E402
from chatservice.core.events import Joined, Kind, Message, Parted, Source  # noqa: E402
from chatservice.core.history import Query  # noqa: E402

DATABASE = "chatservice.sqlite3"
WORDS = ("the quick brown fox jumps over lazy dogs while seven bakers "
         "argue about sourdough starters and the weather in lisbon today").split()


def percentiles(values: list[float]) -> dict:
    values = sorted(values)
    if not values:
        return {}

    def at(p: float) -> float:
        return values[min(len(values) - 1, math.ceil(p * len(values)) - 1)]

    return {"n": len(values), "median": statistics.median(values), "p90": at(0.90),
            "p99": at(0.99), "max": values[-1], "min": values[0]}


def ms(stats: dict) -> str:
    return (f"median {stats['median']:.2f} ms, p90 {stats['p90']:.2f} ms, "
            f"p99 {stats['p99']:.2f} ms, max {stats['max']:.2f} ms (n={stats['n']})")


def pin(cpu: str) -> None:
    if cpu:
        os.sched_setaffinity(0, {int(c) for c in cpu.split(",")})


def open_store(data_dir: str, **kw):
    from twisted.internet import reactor

    from chatservice.store.sqlite import SQLiteStore
    return SQLiteStore.open(data_dir, reactor, **kw)


def messages(room: str, n: int, start: float, step: float, seed: int = 1):
    """C{n} events for C{room}: mostly messages, a join and a part now and then."""
    rnd = random.Random(seed)
    sources = [Source(f"user{i}", f"u{i}", f"host{i % 17}.example") for i in range(200)]
    texts = [" ".join(rnd.choice(WORDS) for _ in range(rnd.randint(4, 14)))
             for _ in range(1000)]
    for k in range(n):
        t = start + k * step
        ident = int(t * 1_000_000)
        src = sources[k % 200]
        if k % 100 == 50:
            yield Joined(ident, t, src, room)
        elif k % 100 == 51:
            yield Parted(ident, t, src, room, "bye")
        else:
            yield Message(ident, t, src, room, texts[k % 1000], Kind.SAY)


def thread_cpu_s(tid: int) -> float:
    """User + system CPU seconds of one thread of this process."""
    try:
        data = Path(f"/proc/self/task/{tid}/stat").read_bytes()
    except OSError:
        return -1.0
    fields = data[data.rindex(b")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rows(path: Path) -> dict:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return dict(con.execute("SELECT type, COUNT(*) FROM events GROUP BY type"))
    finally:
        con.close()


# store ---------------------------------------------------------------------------

def cmd_store(o) -> int:
    pin(o.cpu)
    room = "#writer"
    results = []
    for run in range(1, o.runs + 1):
        tmp = tempfile.mkdtemp(prefix="history-store-")
        try:
            start = time.time()
            if o.onto:
                # Into a copy of a built database: the writer with a big table
                # (and its indexes) behind it, events after the ones there.
                info = built(argparse.Namespace(dir=o.onto))
                room = names.fold(info["room"])
                for name in os.listdir(o.onto):
                    if name.startswith(DATABASE):
                        shutil.copy(Path(o.onto) / name, Path(tmp) / name)
                before = sum(rows(Path(tmp) / DATABASE).values())
            else:
                before = 0
            store = open_store(tmp, queue_limit=o.queue_limit or o.events,
                               batch_size=o.batch_size, batch_interval=o.batch_interval,
                               max_per_room=before + o.events + 100_000)
            if o.drop_fts:
                con = sqlite3.connect(store.path)
                con.execute("DROP TRIGGER IF EXISTS events_fts_insert")
                con.close()
            events = list(messages(room, o.events, start, 0.0001, seed=run))
            record = store.record
            tid = store.writer.native_id
            w0 = thread_cpu_s(tid)
            t0 = time.perf_counter()
            for event in events:
                record(room, event)
            t_recorded = time.perf_counter()
            store.flush(600)
            t_flushed = time.perf_counter()
            writer_cpu = thread_cpu_s(tid) - w0
            stored, dropped = store.stored, store.dropped
            store.close()
            by_type = rows(Path(tmp) / DATABASE)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        n = sum(by_type.values()) - before
        r = {"run": run, "events": o.events, "record_us": (t_recorded - t0) / o.events * 1e6,
             "recorded_s": t_recorded - t0, "total_s": t_flushed - t0,
             "stored_per_s": n / (t_flushed - t0), "rows": n, "store_stored": stored,
             "store_dropped": dropped, "missing": o.events - n,
             "writer_cpu_us": writer_cpu / max(n, 1) * 1e6}
        results.append(r)
        print(f"run {run}: {o.events} events recorded in {r['recorded_s']:.2f}s "
              f"({r['record_us']:.2f} us per record), flushed after {r['total_s']:.2f}s: "
              f"{r['stored_per_s']:,.0f} stored events/s; writer thread CPU "
              f"{r['writer_cpu_us']:.1f} us per stored event; rows {n}, missing {r['missing']}, "
              f"store.stored {stored}, store.dropped {dropped}")
    med = statistics.median(r["stored_per_s"] for r in results)
    rec = statistics.median(r["record_us"] for r in results)
    wcpu = statistics.median(r["writer_cpu_us"] for r in results)
    worst = max(r["missing"] for r in results)
    print(f"median: {med:,.0f} stored events/s, {rec:.2f} us per record(), "
          f"{wcpu:.1f} us of writer CPU per event; "
          f"most missing in a run: {worst}; target >= 20,000/s with none missing: "
          f"{'met' if med >= 20000 and not worst else 'MISSED'}")
    print("RESULT " + json.dumps({"bench": "store", "runs": results,
                                  "median_stored_per_s": med, "median_record_us": rec}))
    return 0


# build ---------------------------------------------------------------------------

def cmd_build(o) -> int:
    path = Path(o.dir)
    if (path / DATABASE).exists():
        raise SystemExit(f"{path / DATABASE} exists; remove it or choose another --dir")
    path.mkdir(parents=True, exist_ok=True)
    pin(o.cpu)
    room = o.room
    key = names.fold(room)
    step = 0.1
    start = time.time() - o.rows * step
    store = open_store(str(path), max_per_room=o.rows, queue_limit=o.chunk * 2)
    t0 = time.perf_counter()
    done = 0
    chunk = []
    for event in messages(room, o.rows, start, step):
        chunk.append(event)
        if len(chunk) == o.chunk:
            for e in chunk:
                store.record(key, e)
            done += len(chunk)
            chunk = []
            store.flush(600)
            print(f"\r{done:,} events stored ({done / (time.perf_counter() - t0):,.0f}/s)",
                  end="", flush=True)
    for e in chunk:
        store.record(key, e)
    store.flush(600)
    dropped = store.dropped
    store.close()
    elapsed = time.perf_counter() - t0
    by_type = rows(path / DATABASE)
    size = sum(f.stat().st_size for f in path.iterdir() if f.is_file())
    print(f"\rbuilt {path / DATABASE}: {sum(by_type.values()):,} rows in {key} {by_type}, "
          f"{size / 1e6:.0f} MB, in {elapsed:.0f}s "
          f"({o.rows / elapsed:,.0f} events/s through the store's writer); "
          f"dropped {dropped}")
    (path / "bench-build.json").write_text(json.dumps(
        {"room": room, "rows": o.rows, "by_type": by_type, "seconds": elapsed}))
    return 0


def built(o) -> dict:
    info = Path(o.dir) / "bench-build.json"
    if not info.exists():
        raise SystemExit(f"no {info}: build the directory first (bench/history.py build)")
    return json.loads(info.read_text())


# query ---------------------------------------------------------------------------

def cmd_query(o) -> int:
    info = built(o)
    key = names.fold(info["room"])
    pin(o.cpu)
    tmp = tempfile.mkdtemp(prefix="history-query-")
    try:
        for name in os.listdir(o.dir):
            if name.startswith(DATABASE):
                shutil.copy(Path(o.dir) / name, Path(tmp) / name)
        return _query(o, tmp, key, info)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _query(o, data_dir: str, key: str, info: dict) -> int:
    from twisted.internet import defer, task

    queries = {"all": Query(o.limit), "messages": Query(o.limit, messages_only=True)}

    async def main(reactor):
        store = open_store(data_dir, max_per_room=info["rows"] * 2)
        out = {}
        try:
            for label, q in queries.items():
                for _ in range(o.warmup):
                    await store.query(key, q)
                times = []
                got = 0
                for _ in range(o.requests):
                    t0 = time.perf_counter()
                    events = await store.query(key, q)
                    times.append((time.perf_counter() - t0) * 1000)
                    got = len(events)
                stats = percentiles(times)
                out[label] = dict(stats, events=got)
                print(f"store.query({key!r}, Query({o.limit}"
                      f"{', messages_only=True' if label == 'messages' else ''})) on "
                      f"{info['rows']:,} rows: {ms(stats)}; {got} events each")
        finally:
            store.close()
        print("RESULT " + json.dumps({"bench": "query", **out}))

    task.react(lambda reactor: defer.ensureDeferred(main(reactor)))
    return 0


# latest ----------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """A blocking IRC client that reads line by line."""

    def __init__(self, port: int, nick: str, caps: list[str], timeout: float):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.nick = nick
        self.send(b"CAP LS 302\r\nNICK %s\r\nUSER %s 0 * :bench\r\n"
                  % (nick.encode(), nick.encode()))
        offered: set[str] = set()
        while True:
            line = self.line()
            words = line.split(b" ")
            if len(words) > 2 and words[1] == b"CAP" and b"LS" in words[3:4]:
                text = line.split(b" :", 1)[1] if b" :" in line else b""
                offered |= {w.split(b"=")[0].decode() for w in text.split()}
                if words[4:5] == [b"*"]:
                    continue  # more LS lines follow
                want = [c for c in caps if c in offered]
                self.missing = [c for c in caps if c not in offered]
                self.send(b"CAP REQ :" + " ".join(want).encode() + b"\r\nCAP END\r\n")
            elif len(words) > 1 and words[1] in (b"376", b"422"):
                break  # the end of the welcome: nothing of it is left to read
            elif words[0] == b"PING":
                self.send(b"PONG " + words[1] + b"\r\n")
            elif words[0] == b"ERROR" or (len(words) > 1 and words[1] in (b"433", b"432")):
                raise RuntimeError(line.decode("utf-8", "replace"))

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> bytes:
        while b"\n" not in self.buf:
            data = self.sock.recv(1 << 16)
            if not data:
                raise RuntimeError("the server closed the connection")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        line = line.rstrip(b"\r")
        if line.startswith(b"@"):
            line = line.split(b" ", 1)[1]
        return line

    def latest(self, room: str, limit: int) -> tuple[float, int, list[bytes]]:
        """One CHATHISTORY LATEST: (milliseconds, messages in the batch, other lines)."""
        t0 = time.perf_counter()
        self.send(b"CHATHISTORY LATEST %s * %d\r\n" % (room.encode(), limit))
        count = 0
        other: list[bytes] = []
        opened = False
        while True:
            line = self.line()
            words = line.split(b" ", 3)
            cmd = words[1] if len(words) > 1 else b""
            if cmd == b"BATCH":
                if words[2].startswith(b"-"):
                    return (time.perf_counter() - t0) * 1000, count, other
                opened = True
            elif cmd in (b"PRIVMSG", b"NOTICE") and opened:
                count += 1
            elif words[0] == b"PING":
                self.send(b"PONG " + words[1] + b"\r\n")
            elif cmd in (b"JOIN", b"PART", b"QUIT") and not opened:
                pass  # the other bench connections joining the room
            else:
                other.append(line)
                if cmd in (b"FAIL", b"421", b"461", b"403", b"442") or words[0] == b"FAIL":
                    return (time.perf_counter() - t0) * 1000, count, other

    def close(self) -> None:
        try:
            self.send(b"QUIT :done\r\n")
        except OSError:
            pass
        self.sock.close()


def twistd() -> str:
    beside = Path(sys.executable).parent / "twistd"
    return str(beside) if beside.exists() else (shutil.which("twistd") or "twistd")


def cmd_latest(o) -> int:
    info = built(o)
    room = info["room"]
    work = Path(tempfile.mkdtemp(prefix="history-latest-"))
    data = work / "data"
    data.mkdir()
    for name in os.listdir(o.dir):
        if name.startswith(DATABASE):
            shutil.copy(Path(o.dir) / name, data / name)
    port = free_port()
    argv = [twistd(), "-n", "--pidfile=", "chat", "--port", f"tcp:{free_port()}:interface=127.0.0.1",
            "--irc", f"tcp:{port}:interface=127.0.0.1", "--no-flood-control",
            "--max-per-address", "100000", "--data-dir", str(data),
            "--history-max-per-room", str(max(info["rows"] * 2, 100_000))]
    if o.server_cpu and shutil.which("taskset"):
        argv = ["taskset", "-c", o.server_cpu, *argv]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    log = open(work / "twistd.log", "wb")
    t_start = time.monotonic()
    proc = subprocess.Popen(argv, cwd=work, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    clients: list[Client] = []
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise SystemExit("twistd exited:\n" + (work / "twistd.log").read_text()[-2000:])
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("twistd is not listening after 60 s")
                time.sleep(0.1)
        print(f"twistd listening {time.monotonic() - t_start:.1f}s after start on a copy of "
              f"{o.dir} ({info['rows']:,} rows in {room}); pid {proc.pid}")
        pin(o.cpu)
        caps = o.caps.split()
        total = o.warmup + o.requests
        nconn = math.ceil(total / o.per_conn)
        for i in range(nconn):
            c = Client(port, f"bench{i}", caps, o.timeout)
            if not o.no_join:
                c.send(b"JOIN %s\r\n" % room.encode())
                while True:
                    line = c.line()
                    if b" 366 " in line:
                        break
            clients.append(c)
        if clients and clients[0].missing:
            print(f"note: the server does not offer {' '.join(clients[0].missing)}")
        times, counts, problems = [], [], []
        for k in range(total):
            c = clients[k // o.per_conn]
            took, count, other = c.latest(room, o.limit)
            if other:
                problems.append((k, other[:3]))
            if k >= o.warmup:
                times.append(took)
                counts.append(count)
            if o.pause:
                time.sleep(o.pause)
        stats = percentiles(times)
        print(f"CHATHISTORY LATEST {room} * {o.limit}, {o.requests} requests after "
              f"{o.warmup} warm-up, {nconn} connections of at most {o.per_conn} requests "
              f"each: {ms(stats)}; messages per batch: min {min(counts)}, max {max(counts)}")
        for k, other in problems[:5]:
            print(f"  request {k}: other lines: "
                  + " | ".join(x.decode("utf-8", "replace")[:160] for x in other))
        if problems:
            print(f"  {len(problems)} requests had lines other than the batch")
        valid = not problems and min(counts) == o.limit
        if not valid:
            print(f"INVALID: not every request got a batch of {o.limit} messages")
        print(f"target median < 10 ms: "
              f"{'-' if not valid else 'met' if stats['median'] < 10 else 'MISSED'}")
        print("RESULT " + json.dumps({"bench": "latest", **stats, "connections": nconn,
                                      "per_conn": o.per_conn, "min_count": min(counts),
                                      "max_count": max(counts), "problems": len(problems)}))
    finally:
        for c in clients:
            c.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        if o.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


# options -----------------------------------------------------------------------------

def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description="History benchmarks: the SQLite store's writer, and CHATHISTORY "
                    "LATEST on a room of a million rows (see the top of this file).")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("store", help="the store's write rate, in process")
    s.add_argument("--events", type=int, default=200_000, help="events per run (200000)")
    s.add_argument("--runs", type=int, default=3)
    s.add_argument("--queue-limit", type=int, default=0,
                   help="the store's queue limit (default: --events, so none is dropped; "
                        "the server's default is 100000)")
    s.add_argument("--batch-size", type=int, default=1000, help="the store's (1000)")
    s.add_argument("--batch-interval", type=float, default=0.2, help="the store's (0.2)")
    s.add_argument("--cpu", default="", help="pin the process to these cores (taskset -c)")
    s.add_argument("--drop-fts", action="store_true",
                   help="experiment: drop the full-text index's insert trigger first, to "
                        "see what indexing costs the writer (searches then miss these "
                        "events)")
    s.add_argument("--onto", default="",
                   help="record into a copy of this built directory's room (the writer "
                        "with a big table behind it) rather than into an empty database")
    s.set_defaults(run=cmd_store)

    b = sub.add_parser("build", help="a data directory with one big room")
    b.add_argument("--dir", required=True, help="the data directory to create")
    b.add_argument("--rows", type=int, default=1_000_000)
    b.add_argument("--room", default="#big")
    b.add_argument("--chunk", type=int, default=50_000,
                   help="events recorded before each flush (50000)")
    b.add_argument("--cpu", default="")
    b.set_defaults(run=cmd_build)

    for name, helptext, run in (("query", "store.query in process", cmd_query),
                                ("latest", "CHATHISTORY LATEST over IRC", cmd_latest)):
        q = sub.add_parser(name, help=helptext)
        q.add_argument("--dir", required=True, help="a directory made by build")
        q.add_argument("--requests", type=int, default=200)
        q.add_argument("--warmup", type=int, default=20)
        q.add_argument("--limit", type=int, default=100, help="events per request (100)")
        q.add_argument("--cpu", default="", help="cores for this process")
        q.set_defaults(run=run)
        if name == "latest":
            q.add_argument("--server-cpu", default="0", help="core for twistd (0)")
            q.add_argument("--per-conn", type=int, default=15,
                           help="requests per connection (15: the server allows 20 at "
                                "once, then 2/s)")
            q.add_argument("--caps", default="batch draft/chathistory server-time message-tags")
            q.add_argument("--no-join", action="store_true",
                           help="ask without joining the room first (a room nobody is "
                                "in: the server reads it all the same)")
            q.add_argument("--pause", type=float, default=0.0,
                           help="seconds between requests (0)")
            q.add_argument("--timeout", type=float, default=30)
            q.add_argument("--keep", action="store_true", help="keep the copy and the log")
    o = p.parse_args(argv)
    if o.command == "latest" and not o.cpu:
        o.cpu = "1"
    return o.run(o)


if __name__ == "__main__":
    sys.exit(main())
