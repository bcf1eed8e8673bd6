"""
The JSON log observer (--log-format json) and where it writes.
"""

from __future__ import annotations

import io
import json
import sys

from twisted.logger import Logger

from chatservice.logs import json_observer, json_observer_for


def test_each_event_is_one_json_line():
    """Each event becomes one line holding one JSON object, with no record separator."""
    out = io.StringIO()
    log = Logger(observer=json_observer(out), namespace="chat.test")
    log.info("Connection from {peer}", peer="10.0.0.1")
    log.warn("odd text: {text}", text="line\nbreak \x1b[31m \u2028 \udcff")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    first, second = map(json.loads, lines)
    assert first["peer"] == "10.0.0.1" and first["log_namespace"] == "chat.test"
    assert first["log_level"]["name"] == "info"
    assert second["log_level"]["name"] == "warn"
    assert "\x1e" not in out.getvalue()


def test_written_to_stdout_under_nodaemon(monkeypatch):
    """Under -n without --logfile, or with --logfile -, the JSON goes to standard output."""
    for options in ({"nodaemon": True, "logfile": None}, {"nodaemon": True, "logfile": "-"}):
        out = io.StringIO()
        monkeypatch.setattr(sys, "stdout", out)
        Logger(observer=json_observer_for(options)).info("hello {who}", who="stdout")
        assert json.loads(out.getvalue())["who"] == "stdout"


def test_written_to_the_logfile(tmp_path):
    """With --logfile the JSON lines go to that file, each flushed as it is written."""
    path = tmp_path / "chat.log"
    observer = json_observer_for({"nodaemon": False, "logfile": str(path)})
    Logger(observer=observer).info("hello {who}", who="file")
    [line] = path.read_text().splitlines()
    assert json.loads(line)["who"] == "file"
