"""
Why the hub refused a request.

Each refusal is its own class so that front ends can map it to their own
replies (an IRC numeric, a line of text) without parsing messages; the message
is a sentence a person can read.
"""


class ChatError(Exception):
    """The hub refused a request; C{str(error)} says why, for a person."""


class ErroneousNick(ChatError):
    """The nickname breaks the nickname rules."""


class NickInUse(ChatError):
    """Somebody else already has the nickname."""


class InvalidRoomName(ChatError):
    """The room name breaks the room-name rules."""


class NoSuchNick(ChatError):
    """Nobody has that nickname."""


class NoSuchRoom(ChatError):
    """No room has that name."""


class NotInRoom(ChatError):
    """The request needs its sender to be in the room."""


class EmptyMessage(ChatError):
    """There is nothing to say."""


class TooLong(ChatError):
    """The text is longer than the hub accepts."""
