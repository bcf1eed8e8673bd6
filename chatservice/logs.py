"""
The log in JSON (``--log-format json``): one JSON object per line, as
twisted.logger's C{eventAsJSON} writes each event, for log shippers that
parse JSON lines (journald, Loki, Elasticsearch).

twistd uses the log observer it finds as a component of its application
(the way a .tac file sets one) unless ``--logger`` names another; the chat
service sets this one there when it joins the application.  It writes where
twistd would have: standard output under ``-n`` (or with ``--logfile -``),
else the ``--logfile`` (``twistd.log`` by default).
"""

from __future__ import annotations

import sys
from typing import TextIO

from twisted.logger import FileLogObserver, jsonFileLogObserver
from twisted.python import logfile


def json_observer(out: TextIO) -> FileLogObserver:
    """An observer writing each event to C{out} as one line of JSON."""
    # Twisted's default separator is RS (\\x1e, for RFC 7464 JSON text
    # sequences); none makes the output plain JSON lines.
    return jsonFileLogObserver(out, recordSeparator="")


def json_observer_for(twistd_options) -> FileLogObserver:
    """
    The JSON observer for twistd's own options (C{--logfile} and
    C{--nodaemon}).
    """
    name = twistd_options.get("logfile") or ""
    if name == "-" or (not name and twistd_options.get("nodaemon")):
        return json_observer(sys.stdout)
    return json_observer(logfile.LogFile.fromFullPath(name or "twistd.log"))
