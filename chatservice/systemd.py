"""
Telling systemd how the service is doing (``Type=notify``), as sd_notify(3)
does, without libsystemd.

Wire protocol: when systemd starts the service it sets C{NOTIFY_SOCKET} to
the path of a UNIX datagram socket (or, starting with C{@}, a name in the
abstract namespace).  Each notification is one datagram of newline-separated
C{NAME=value} assignments, e.g. C{READY=1\\nSTATUS=Listening}.  This server
sends:

 - C{READY=1} once every listener is listening;
 - C{RELOADING=1} with C{MONOTONIC_USEC} when a reload starts, and
   C{READY=1} when it has ended, however it ended;
 - C{STOPPING=1} when it starts shutting down.

Without C{NOTIFY_SOCKET} nothing is sent.  A socket that cannot be reached is
logged, never fatal: systemd's watchdog, not the chat, suffers.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Mapping

from twisted.logger import Logger

log = Logger()


def notify(*assignments: str, environ: Mapping[str, str] = os.environ) -> bool:
    """
    Send C{assignments} (C{"READY=1"}, ...) as one notification; say whether
    it was sent.
    """
    address = environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    message = "\n".join(assignments).encode("utf-8")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.send(message)
    except OSError as problem:
        log.warn("Cannot notify systemd at {address}: {problem}",
                 address=environ["NOTIFY_SOCKET"], problem=problem)
        return False
    return True


def ready(status: str, environ: Mapping[str, str] = os.environ) -> bool:
    return notify("READY=1", f"STATUS={status}", f"MAINPID={os.getpid()}", environ=environ)


def reloading(environ: Mapping[str, str] = os.environ) -> bool:
    usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    return notify("RELOADING=1", f"MONOTONIC_USEC={usec}", environ=environ)


def stopping(environ: Mapping[str, str] = os.environ) -> bool:
    return notify("STOPPING=1", environ=environ)
