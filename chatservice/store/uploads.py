"""
The bytes of shared files: one file per shared file in C{DATA_DIR/uploads/},
named by the file's random id (never by anything a client sent), readable by
the server's user only.  With C{--no-persistence} the directory is a
temporary one, removed when the server stops.

Writing happens in the reactor's thread, one chunk as it arrives: a write of
a chunk only copies it to the kernel's page cache, and the chunks are as
small as the network's reads.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile

from . import StoreError

_ID = re.compile(r"[A-Za-z0-9_-]{16,64}\Z")


class UploadDirectory:
    """
    The directory holding shared files' bytes.

    @ivar path: the directory.
    @ivar temporary: whether it is removed by L{close}.
    """

    def __init__(self, path: str, temporary: bool = False):
        self.path = path
        self.temporary = temporary

    @classmethod
    def open(cls, data_dir: str | None) -> UploadDirectory:
        """
        C{data_dir}/uploads, created if needed; a new temporary directory
        when C{data_dir} is C{None}.

        @raise StoreError: it cannot be created or written.
        """
        if data_dir is None:
            return cls(tempfile.mkdtemp(prefix="chatservice-uploads-"), temporary=True)
        path = os.path.join(os.path.abspath(data_dir), "uploads")
        try:
            os.makedirs(path, mode=0o700, exist_ok=True)
        except OSError as problem:
            raise StoreError(f"cannot create the uploads directory {path}: "
                             f"{problem.strerror or problem}") from None
        if not os.access(path, os.W_OK | os.X_OK):
            raise StoreError(f"cannot write to the uploads directory {path}")
        return cls(path)

    def path_of(self, file_id: str) -> str:
        """Where the bytes of C{file_id} are; refuses anything but an id."""
        if not _ID.match(file_id):
            raise ValueError("not a file id")
        return os.path.join(self.path, file_id)

    def create(self, file_id: str):
        """A new file for C{file_id}'s bytes, open for writing (binary, unbuffered)."""
        descriptor = os.open(self.path_of(file_id),
                             os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
                             0o600)
        return os.fdopen(descriptor, "wb", buffering=0)

    def remove(self, file_id: str) -> None:
        """Remove C{file_id}'s bytes, if they are there."""
        try:
            os.unlink(self.path_of(file_id))
        except FileNotFoundError:
            pass

    def close(self) -> None:
        """Remove the directory if it is a temporary one."""
        if self.temporary:
            shutil.rmtree(self.path, ignore_errors=True)
