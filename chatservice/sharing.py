"""
Wiring of shared files: where their bytes go, the address their links
name, and the cleanup of expired files.  Started by the service once the
store is open, and only with a web front end (which carries the bytes).
"""

from __future__ import annotations

import os
import re
import socket
from typing import TYPE_CHECKING

from twisted.internet.task import LoopingCall

from .core.files import Files
from .store import StoreError
from .store.uploads import UploadDirectory

if TYPE_CHECKING:
    from .core.hub import Hub
    from .service import ServerConfig

# How often expired shared files are removed.
EXPIRY_INTERVAL = 10 * 60


def web_url(endpoint: str) -> str:
    """
    The address a web endpoint string is reached at: its interface, or
    this machine's name when it listens on all of them.
    """
    parts = [p.replace("\\:", ":") for p in re.split(r"(?<!\\):", endpoint)]
    scheme = "https" if parts[0] == "ssl" else "http"
    port = next((p.partition("port=")[2] or p for p in parts[1:]
                 if p.isdigit() or p.startswith("port=")), "80")
    interface = next((p.partition("=")[2] for p in parts if p.startswith("interface=")), "")
    host = interface if interface not in ("", "0.0.0.0", "::") else socket.getfqdn()
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


class FileSharing:
    """
    Shared files, once the server has started with a web front end:
    C{files} (the records and limits) and C{uploads} (the bytes); both
    C{None} before, or without a web front end.
    """

    files: Files | None = None
    uploads: UploadDirectory | None = None
    _expiry: LoopingCall | None = None

    def start(self, hub: Hub, store, config: ServerConfig, reactor) -> None:
        """
        Open the uploads directory (a temporary one without persistence),
        give the hub its L{Files}, remove what a crash left, and start the
        cleanup.  A directory that cannot be used stops start-up.
        """
        history = config.history
        try:
            self.uploads = UploadDirectory.open(history.data_dir if history.persistence
                                                else None)
        except StoreError as problem:
            raise SystemExit(f"chatservice: {problem}") from None
        base = config.web_url or web_url(config.web_endpoints[0])
        self.files = hub.files = Files(hub, store, base, config.files, self.uploads.remove)
        self._tidy()
        self._expiry = LoopingCall(self.files.expire)
        self._expiry.clock = reactor
        self._expiry.start(EXPIRY_INTERVAL, now=True)

    def _tidy(self) -> None:
        """Remove bytes no live record names: partial uploads cut by a crash."""
        live = self.files.live_ids()
        for name in os.listdir(self.uploads.path):
            if name not in live:
                try:
                    self.uploads.remove(name)
                except ValueError:
                    pass  # not a name this server gives: not ours to remove

    def stop(self) -> None:
        if self._expiry is not None and self._expiry.running:
            self._expiry.stop()
        if self.uploads is not None:
            self.uploads.close()
