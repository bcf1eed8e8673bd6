"""
Why the hub refused a request.

Each refusal is its own class so that front ends can map it to their own
replies (an IRC numeric, a line of text) without parsing messages; the message
is a sentence a person can read.
"""


class ChatError(Exception):
    """
    The hub refused a request; C{str(error)} says why, for a person, and
    C{subject} names the nick or room it is about, for front ends that reply
    with codes.
    """

    def __init__(self, message: str, subject: str = ""):
        super().__init__(message)
        self.subject = subject


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


class TooManyRooms(ChatError):
    """The person is in as many rooms as one person may be."""


class AlreadyInRoom(ChatError):
    """The person is already in the room."""


class TargetNotInRoom(ChatError):
    """The person acted on is not in the room."""


class CannotSend(ChatError):
    """The room does not accept this person's messages."""


class NotOperator(ChatError):
    """The request needs a room operator."""


class InviteOnly(ChatError):
    """The room needs an invitation to join."""


class BadRoomPassword(ChatError):
    """The room needs a password to join, and this was not it."""


class RoomFull(ChatError):
    """The room has as many members as its limit allows."""


class Banned(ChatError):
    """The person is banned from the room."""


class PasswordMismatch(ChatError):
    """A server password or operator password was wrong."""


class NoPrivileges(ChatError):
    """The request needs a server operator."""


class ReloadFailed(ChatError):
    """The configuration could not be reloaded; nothing changed."""


class RateLimited(ChatError):
    """The request came too soon after too many others; try again later."""


class UnknownEvent(ChatError):
    """No event with that id is in that room's history (or it is not a message)."""


class NotYours(ChatError):
    """Only the sender, the room's operators or a server operator may do that."""


class RoomExists(ChatError):
    """A room by that name exists already."""
