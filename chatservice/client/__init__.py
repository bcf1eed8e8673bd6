"""
The terminal client: line chat from a shell, without netcat's rough edges.

``chatservice-client HOST[:PORT]`` (or ``python -m chatservice.client``)
connects to a line front end, plain or TLS, and keeps the line being typed
intact while messages arrive.

The modules, from the wire up:

- L{lines}: bytes from the server into clean, classified lines (no terminal
  control ever passes; huge lines are capped).
- L{session}: what the client knows about its session (phase, nickname,
  rooms, nicknames seen) and the reconnection policy; pure logic, no I/O.
- L{render}: classified lines into plain or coloured text.
- L{options}: the command line, addresses and TLS contexts.
- L{app}: asyncio, the connection and the two user interfaces (a
  prompt_toolkit input line on a terminal, plain lines in pipes).

This package shares text helpers with L{chatservice.core.text} and nothing
with the server's wiring.
"""
