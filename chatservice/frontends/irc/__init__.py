"""
The IRC front end; see L{chatservice.frontends.irc.protocol} for its wire
protocol.
"""

from .protocol import IRCConnection, IRCFactory, IRCSettings

__all__ = ["IRCConnection", "IRCFactory", "IRCSettings"]
