"""
The twistd plugin: ``twistd -n chat``.  Options and the service live in
L{chatservice.tap}.
"""

from twisted.application.service import ServiceMaker

chat = ServiceMaker(
    "chatservice",
    "chatservice.tap",
    "A multi-protocol chat server (line chat over TCP and TLS).",
    "chat",
)
