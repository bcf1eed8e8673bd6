"""
The chat domain: nicknames, users, rooms, events and limits.

Nothing here knows about sockets or wire formats; front ends translate between
their protocol and these objects.
"""
