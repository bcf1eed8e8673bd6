"""
IRC commands: a declarative table checked before any handler runs.

Each entry says how many parameters a command needs (and how many of them
may not be empty), whether it may be used before registration, whether it
needs a server operator, and whether it exists only when the server keeps
history; L{run} answers 421, 451, 461 and 481 from the table, so handlers
only do their own work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from ....core.hub import User
from .. import numerics as N
from ..wire import Message

if TYPE_CHECKING:
    from ..protocol import IRCConnection


Handler = Callable[["IRCConnection", "User | None", Message], None]


@dataclass(frozen=True)
class Command:
    handler: Handler
    min_params: int = 0
    before_registration: bool = False
    oper_only: bool = False
    # How many of the first parameters may not be empty (461 if one is).
    nonempty: int = 0
    # Unknown (421) on a server that keeps no history.
    needs_history: bool = False


COMMANDS: dict[str, Command] = {}


def command(name: str, min_params: int = 0, before_registration: bool = False,
            oper_only: bool = False, nonempty: int = 0, needs_history: bool = False):
    def register(handler: Handler) -> Handler:
        COMMANDS[name] = Command(handler, min_params, before_registration, oper_only,
                                 nonempty, needs_history)
        return handler
    return register


def run(conn: IRCConnection, user: User | None, message: Message) -> None:
    """Check C{message} against the command table, then run its handler."""
    found = COMMANDS.get(message.command)
    if found is None:
        conn.numeric(N.ERR_UNKNOWNCOMMAND, message.command, "Unknown command")
    elif user is None and not found.before_registration:
        conn.numeric(N.ERR_NOTREGISTERED, "You have not registered")
    elif found.needs_history and conn.hub.history is None:
        conn.numeric(N.ERR_UNKNOWNCOMMAND, message.command, "Unknown command")
    elif len(message.params) < found.min_params or not all(
            message.params[:found.nonempty]):
        conn.numeric(N.ERR_NEEDMOREPARAMS, message.command, "Not enough parameters")
    elif found.oper_only and not (user and user.is_operator):
        conn.numeric(N.ERR_NOPRIVILEGES, "Permission Denied - You're not an IRC operator")
    else:
        found.handler(conn, user, message)
