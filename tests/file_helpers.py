"""
Helpers for the file-sharing tests: small real files (a PNG made here, an
HTML page and an SVG with scripts) and a raw HTTP client whose every read has
a deadline, for the FILEHOST uploads and the hostile ones.
"""

from __future__ import annotations

import re
import socket
import struct
import time
import zlib

from server import HOST, TIMEOUT

HTML_WITH_SCRIPT = (b"<!doctype html><html><body><h1>hi</h1>"
                    b"<script>alert('html ran'); document.title='pwned'</script></body></html>")
SVG_WITH_SCRIPT = (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10" '
                   b'onload="alert(\'svg ran\')"><script>alert("svg script ran")</script>'
                   b'<rect width="10" height="10"/></svg>')


def png(width: int = 4, height: int = 3) -> bytes:
    """A real PNG of C{width} x C{height} red pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


class Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes, closed: bool):
        self.status, self.headers, self.body, self.closed = status, headers, body, closed

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.headers} {self.body[:200]!r}>"


def read_response(sock: socket.socket, timeout: float = TIMEOUT,
                  head: bool = False) -> Response:
    """Read one HTTP response (and whether the server closed the connection)."""
    deadline = time.monotonic() + timeout
    data = b""
    closed = False

    def more() -> bool:
        nonlocal data, closed
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no full response within {timeout} s: {data[:500]!r}")
        sock.settimeout(remaining)
        try:
            got = sock.recv(65536)
        except ConnectionResetError:
            got = b""
        if not got:
            closed = True
        data += got
        return bool(got)

    while b"\r\n\r\n" not in data:
        if not more():
            raise ConnectionError(f"closed before a response: {data!r}")
    header, _, body = data.partition(b"\r\n\r\n")
    lines = header.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = 0 if head else int(headers.get("content-length", "0"))
    while len(body) < length and more():
        body = data.partition(b"\r\n\r\n")[2]
    if "close" in headers.get("connection", "").lower():
        while not closed:
            more()
    return Response(status, headers, body[:length], closed)


def request(port: int, method: str, path: str, body: bytes = b"",
            headers: dict[str, str] | None = None, timeout: float = TIMEOUT) -> Response:
    """One HTTP/1.1 request on a new connection, and its response."""
    headers = {"Host": f"{HOST}:{port}", "Content-Length": str(len(body)), **(headers or {})}
    if method in ("GET", "HEAD", "OPTIONS") and not body:
        headers.pop("Content-Length")
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(f"{method} {path} HTTP/1.1\r\n".encode()
                     + "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode("utf-8")
                     + b"\r\n" + body)
        return read_response(sock, timeout, head=method == "HEAD")


UPLOAD_NOTICE = re.compile(rb"(https?://\S+/upload/[\w-]+)/")
