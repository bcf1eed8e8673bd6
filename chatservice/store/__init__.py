"""
Stores: implementations of the interfaces in L{chatservice.core.history}.

L{memory.MemoryStore} keeps everything in the process (tests,
C{--no-persistence}); L{sqlite.SQLiteStore} keeps it in one SQLite database
in the data directory, the embedded default.  A server database for several
nodes would be a third implementation of the same interfaces.
"""


class StoreError(Exception):
    """
    A store cannot be used (its directory, its file, its version);
    C{str(error)} says which and why, in one line.
    """
