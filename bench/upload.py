#!/usr/bin/env python3
"""
Benchmark of file sharing (issue 12): one large upload into a running
server, and what it costs the server's memory and the chat's latency.

It starts ``twistd -n chat`` (this checkout, a fresh data directory, IRC and
web listeners on free loopback ports, C{--upload-max-size} raised to fit),
signs in an IRC client, asks it for an upload token (``UPLOAD #bench``) and
then, at the same time:

 - uploads C{--mib} MiB (100) of random-looking bytes with ``PUT`` in 64 KiB
   writes, as fast as the socket takes them, from this process;
 - samples the server's resident memory (``VmRSS`` in /proc) every 10 ms;
 - measures the reactor's lag as the round trip of an IRC ``PING`` on
   another connection, one after the other, every 5 ms: a PONG can only
   come back when the reactor gets to it, so the round trip is the chat's
   delay at that moment (loopback adds some 0.1 ms).

Before the upload it measures the same round trips for C{--baseline}
seconds.  It prints the upload's time and rate, the RSS before and its
highest value during the upload (the delta: the issue's budget is +5 MiB),
and the PING round trips' median, p99 and max before and during (budget:
p99 under 20 ms during the upload); ``--json FILE`` keeps them.  The figures
depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
CHUNK = 64 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_port(port: int, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"twistd exited with {process.returncode}")
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"twistd did not listen on {port} within {timeout} s")


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class IRC:
    """A blocking IRC client with a read deadline."""

    def __init__(self, port: int, nick: str):
        self.sock = socket.create_connection((HOST, port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""
        self.send(f"NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\n")
        self.read_until(rb" 001 ")

    def send(self, text: str) -> None:
        self.sock.sendall(text.encode())

    def read_until(self, pattern: bytes) -> bytes:
        expression = re.compile(pattern)
        while not expression.search(self.buffer):
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed")
            self.buffer += data
        found = expression.search(self.buffer)
        taken, self.buffer = self.buffer[:found.end()], self.buffer[found.end():]
        return taken


class Pinger(threading.Thread):
    """PING round trips, one after the other, every C{interval} seconds."""

    def __init__(self, client: IRC, interval: float = 0.005):
        super().__init__(daemon=True)
        self.client, self.interval = client, interval
        self.phase = "baseline"
        self.samples: dict[str, list[float]] = {"baseline": [], "upload": []}
        self.stopping = False

    def run(self) -> None:
        number = 0
        while not self.stopping:
            number += 1
            phase = self.phase
            started = time.perf_counter()
            self.client.send(f"PING :lag{number}\r\n")
            self.client.read_until(f"lag{number}\r\n".encode())
            if phase == self.phase:
                self.samples[phase].append((time.perf_counter() - started) * 1000)
            time.sleep(self.interval)


class RSSSampler(threading.Thread):
    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stopping = pid, 0, False

    def run(self) -> None:
        while not self.stopping:
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.01)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def summary(values: list[float]) -> dict:
    return {"count": len(values), "median_ms": round(percentile(values, 0.5), 2),
            "p99_ms": round(percentile(values, 0.99), 2),
            "max_ms": round(max(values), 2) if values else 0.0}


def upload(port: int, url: str, size: int) -> tuple[float, bytes]:
    """PUT C{size} bytes to C{url}'s path; return the seconds taken and the answer."""
    path = "/" + url.split("/", 3)[3]
    block = os.urandom(CHUNK)
    with socket.create_connection((HOST, port), timeout=60) as sock:
        started = time.perf_counter()
        sock.sendall(f"PUT {path}bench.bin HTTP/1.1\r\nHost: {HOST}\r\n"
                     f"Content-Length: {size}\r\n\r\n".encode())
        left = size
        while left:
            piece = block if left >= CHUNK else block[:left]
            sock.sendall(piece)
            left -= len(piece)
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(65536)
        return time.perf_counter() - started, answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=100, help="MiB to upload (100)")
    parser.add_argument("--baseline", type=float, default=3.0,
                        help="seconds of PING round trips before the upload (3)")
    parser.add_argument("--json", help="write the figures to this file")
    options = parser.parse_args()

    irc_port, web_port = free_port(), free_port()
    work = Path(tempfile.mkdtemp(prefix="chatservice-bench-upload-"))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    twistd = os.path.join(os.path.dirname(sys.executable), "twistd")
    server = subprocess.Popen(
        [twistd, "-n", "--pidfile=", "chat", "--irc", f"tcp:{irc_port}:interface={HOST}",
         "--web", f"tcp:{web_port}:interface={HOST}", "--no-flood-control",
         "--data-dir", str(work / "data"), "--upload-max-size", str(options.mib + 1)],
        cwd=work, env=env, stdout=open(work / "twistd.out", "wb"), stderr=subprocess.STDOUT)
    try:
        wait_port(irc_port, server)
        wait_port(web_port, server)
        uploader = IRC(irc_port, "uploader")
        uploader.send("JOIN #bench\r\n")
        uploader.read_until(rb" 366 ")
        pinger = Pinger(IRC(irc_port, "pinger"))
        pinger.start()
        time.sleep(options.baseline)
        uploader.send("UPLOAD #bench\r\n")
        url = re.search(rb"(http://\S+/upload/[\w-]+/)",
                        uploader.read_until(rb"/upload/[\w-]+/\r\n")).group(1).decode()
        before = rss_kib(server.pid)
        sampler = RSSSampler(server.pid)
        sampler.start()
        pinger.phase = "upload"
        seconds, answer = upload(web_port, url, options.mib * 1024 * 1024)
        pinger.phase = "after"
        pinger.samples["after"] = []
        sampler.stopping = pinger.stopping = True
        sampler.join()
        pinger.join(5)
        status = answer.split(b" ", 2)[1].decode()
        figures = {
            "mib": options.mib, "status": status, "seconds": round(seconds, 2),
            "mib_per_s": round(options.mib / seconds, 1),
            "rss_before_mib": round(before / 1024, 1),
            "rss_peak_mib": round(sampler.peak / 1024, 1),
            "rss_delta_mib": round((sampler.peak - before) / 1024, 1),
            "lag_baseline": summary(pinger.samples["baseline"]),
            "lag_upload": summary(pinger.samples["upload"]),
        }
    finally:
        server.terminate()
        server.wait(10)
    print(f"upload of {options.mib} MiB: HTTP {figures['status']} in {figures['seconds']} s "
          f"({figures['mib_per_s']} MiB/s)")
    print(f"server RSS: {figures['rss_before_mib']} MiB before, peak "
          f"{figures['rss_peak_mib']} MiB during: delta {figures['rss_delta_mib']} MiB "
          f"(budget +5 MiB)")
    for phase in ("baseline", "upload"):
        lag = figures[f"lag_{phase}"]
        print(f"reactor lag (IRC PING round trip), {phase}: {lag['count']} samples, "
              f"median {lag['median_ms']} ms, p99 {lag['p99_ms']} ms, max {lag['max_ms']} ms")
    print("budget: p99 under 20 ms during the upload")
    if options.json:
        Path(options.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
