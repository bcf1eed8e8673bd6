"""
The log in JSON (``--log-format json``): one JSON object per line, as
twisted.logger's C{eventAsJSON} writes each event, for log shippers that
parse JSON lines (journald, Loki, Elasticsearch).

twistd builds its log observer itself; an observer of our own goes in
through twistd's ``logger`` option, which twistd calls with no arguments.
It writes where twistd would have: standard output under ``-n`` (or with
``--logfile -``), else the ``--logfile`` (``twistd.log`` by default).
"""

from __future__ import annotations

import sys
from typing import Callable, TextIO

from twisted.logger import FileLogObserver, jsonFileLogObserver
from twisted.python import logfile


def json_observer(out: TextIO) -> FileLogObserver:
    """An observer writing each event to C{out} as one line of JSON."""
    # Twisted's default separator is RS (\\x1e, for RFC 7464 JSON text
    # sequences); none makes the output plain JSON lines.
    return jsonFileLogObserver(out, recordSeparator="")


def json_logger(twistd_options) -> Callable[[], FileLogObserver]:
    """
    The observer factory to give twistd's C{logger} option, given twistd's
    own options (for C{--logfile} and C{--nodaemon}).
    """
    def make() -> FileLogObserver:
        name = twistd_options.get("logfile") or ""
        if name == "-" or (not name and twistd_options.get("nodaemon")):
            return json_observer(sys.stdout)
        return json_observer(logfile.LogFile.fromFullPath(name or "twistd.log"))
    return make
