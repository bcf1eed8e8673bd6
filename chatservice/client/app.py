"""
The client at work: asyncio, one connection at a time, and one of two user
interfaces.

asyncio rather than Twisted: prompt_toolkit runs on asyncio natively (its
input line, history and completion are coroutines), and the client needs
nothing from Twisted that asyncio's streams and ``ssl`` do not give, so one
event loop serves the terminal and the socket without a reactor bridge.

- L{TerminalUI} (stdin and stdout are terminals): a prompt_toolkit input line
  with history and Tab completion; what arrives is printed above it through
  C{patch_stdout}, so a half-typed line stays intact.
- L{PlainUI} (otherwise): plain lines on stdout, input lines read from stdin;
  the end of stdin quits once what was read has been sent.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import ssl
import sys
import threading
from typing import Protocol

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import Completer, Completion
from prompt_toolkit.filters import Condition
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.patch_stdout import patch_stdout

from . import render
from .lines import Kind, Line, LineSplitter, classify, client_line, sanitise
from .options import INSECURE_WARNING, tls_context
from .session import Phase, ReconnectPolicy, Session

# After /quit, how long to wait for the server to close the connection.
QUIT_TIMEOUT = 3.0

COMMANDS = ["/join", "/part", "/rooms", "/who", "/topic", "/msg", "/me", "/nick", "/help",
            "/history", "/search", "/away", "/invite", "/kick", "/mode", "/oper", "/quit"]


class UI(Protocol):
    def show(self, line: Line) -> None: ...

    async def read_line(self) -> str:
        """The next line the user enters; EOFError or KeyboardInterrupt to leave."""


class Fatal(Exception):
    """The client cannot go on (a refused first connection, a bad certificate)."""


class Client:
    def __init__(self, options, ui: UI | None = None) -> None:
        self.options = options
        self.ui = ui
        self.session = Session(options.nick)
        self.quitting = False
        self._quit = asyncio.Event()
        self._writer: asyncio.StreamWriter | None = None
        self.status = 0
        loop = asyncio.get_running_loop()
        self.policy = ReconnectPolicy(loop.time)
        self.context: ssl.SSLContext | None = None
        if options.tls:
            self.context = tls_context(options.cafile, options.insecure)

    @property
    def where(self) -> str:
        host = self.options.host
        return f"[{host}]:{self.options.port}" if ":" in host else f"{host}:{self.options.port}"

    def tell(self, message: str) -> None:
        self.ui.show(client_line(message))

    # Running

    async def run(self) -> int:
        network = asyncio.ensure_future(self.network())
        typing = asyncio.ensure_future(self.typing())
        done, _ = await asyncio.wait({network, typing}, return_when=asyncio.FIRST_COMPLETED)
        if typing in done:
            typing.result()
            try:
                await asyncio.wait_for(network, self.options.timeout + QUIT_TIMEOUT)
            except asyncio.TimeoutError:
                pass
        else:
            typing.cancel()
            await asyncio.gather(typing, return_exceptions=True)
        if network.done() and not network.cancelled():
            network.result()
        return self.status

    async def typing(self) -> None:
        while not self.quitting:
            try:
                line = await self.ui.read_line()
            except (EOFError, KeyboardInterrupt):
                self.quit()
                return
            self.typed(line)

    def typed(self, line: str) -> None:
        if line.strip().lower() in ("/quit", "/exit") or line.lower().startswith("/quit "):
            self.quit(line)
            return
        self._send(self.session.typed(line))
        if (self.session.pending and self._writer is None and not self.quitting
                and self.session.ever_signed_in):
            self.tell("Not connected: what you type is sent once the connection is back.")

    def quit(self, line: str = "/quit") -> None:
        """
        Leave: say C{/quit} once what the user typed before has been sent (in
        a script, lines are read faster than the server signs in), or, before
        signing in with nothing to send, just hang up.
        """
        self.quitting = True
        self._quit.set()
        if self._writer is None:
            return
        if self.session.phase is Phase.CHAT or self.session.pending:
            self._send(self.session.typed(line))
        else:
            self._writer.close()

    def _send(self, lines: list[str]) -> None:
        if self._writer is None or not lines:
            return
        for line in lines:
            self._writer.write(line.encode("utf-8", "replace") + b"\n")

    # The connection

    async def network(self) -> None:
        while not self.quitting:
            try:
                await self.connection()
            except Fatal as problem:
                self.tell(str(problem))
                self.status = 1
                return
            if self.quitting:
                return
            if not self.options.reconnect:
                self.status = 1
                return
            delay = self.policy.next_delay()
            self.tell(f"Reconnecting to {self.where} in {delay:g} s (Ctrl-C to stop).")
            try:
                await asyncio.wait_for(self._quit.wait(), delay)
            except asyncio.TimeoutError:
                pass

    def _failed(self, message: str) -> None:
        """A connection attempt failed: fatal unless this client was ever signed in."""
        if not self.session.ever_signed_in:
            raise Fatal(message)
        self.tell(message)

    async def connection(self) -> None:
        timeout = self.options.timeout
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(
                self.options.host, self.options.port, ssl=self.context,
                server_hostname=self.options.host if self.context else None,
                ssl_handshake_timeout=timeout if self.context else None), timeout)
        except ssl.SSLCertVerificationError as problem:
            raise Fatal(f"The certificate of {self.where} could not be verified "
                        f"({problem.verify_message or problem.reason}): use --cafile FILE "
                        f"for a server with its own certificate, or --insecure "
                        f"to skip the check.") from None
        except ssl.SSLError as problem:
            return self._failed(f"TLS with {self.where} failed ({problem.reason or problem}); "
                                f"is it a TLS port? (leave out --tls for a plain one)")
        except asyncio.TimeoutError:
            return self._failed(f"{self.where} did not answer within {timeout:g} s.")
        except OSError as problem:
            # asyncio's own strerror is "Connect call failed (address)".
            detail = (problem.strerror if isinstance(problem, socket.gaierror)
                      else os.strerror(problem.errno) if problem.errno else str(problem))
            return self._failed(f"Cannot connect to {self.where}: {detail}.")
        self._writer = writer
        self._send(self.session.connected())
        try:
            reason = await self._pump(reader)
        finally:
            self._writer = None
            was_chatting = self.session.phase is Phase.CHAT
            self.session.disconnected()
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), 1)
            except (OSError, asyncio.TimeoutError, ssl.SSLError):
                pass
        if self.quitting:
            return
        if not was_chatting and not self.session.ever_signed_in:
            raise Fatal(reason)
        self.tell(reason)

    async def _pump(self, reader: asyncio.StreamReader) -> str:
        """Show what arrives until the connection ends; return why it ended."""
        splitter = LineSplitter()
        greeted = False
        while True:
            try:
                read = reader.read(65536)
                if greeted or self.quitting:
                    data = await asyncio.wait_for(read, QUIT_TIMEOUT) if self.quitting \
                        else await read
                else:
                    data = await asyncio.wait_for(read, self.options.timeout)
            except asyncio.TimeoutError:
                if self.quitting:
                    return "The server did not close the connection."
                return (f"{self.where} accepted the connection but said nothing within "
                        f"{self.options.timeout:g} s: is it a chatservice line port"
                        + ("?" if self.context else " (or a TLS one: --tls)?"))
            except (OSError, ssl.SSLError) as problem:
                self._lines(splitter.flush())
                return f"The connection to {self.where} failed: {problem}."
            if not data:
                self._lines(splitter.flush())
                return f"The connection to {self.where} was closed."
            greeted = True
            self._lines(splitter.feed(data))

    def _lines(self, raw: list[bytes]) -> None:
        for data in raw:
            line = classify(sanitise(data))
            self.ui.show(line)
            before = self.session.phase
            self._send(self.session.received(line))
            if self.session.phase is Phase.CHAT and before is not Phase.CHAT:
                self.policy.signed_in()


# User interfaces

class PlainUI:
    """Plain lines: for pipes, scripts and terminals without prompt_toolkit."""

    def __init__(self, colour: bool = False, stdin=None, stdout=None) -> None:
        self.colour = colour
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self._queue: asyncio.Queue | None = None

    def show(self, line: Line) -> None:
        try:
            self.stdout.write(render.render(line, self.colour) + "\n")
            self.stdout.flush()
        except (BrokenPipeError, ValueError):
            pass

    async def read_line(self) -> str:
        if self._queue is None:
            self._queue = asyncio.Queue()
            loop = asyncio.get_running_loop()
            threading.Thread(target=self._read, args=(loop, self._queue), daemon=True).start()
        line = await self._queue.get()
        if line is None:
            raise EOFError
        return line

    def _read(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue) -> None:
        stream = getattr(self.stdin, "buffer", self.stdin)
        try:
            for data in iter(stream.readline, b""):
                text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
                loop.call_soon_threadsafe(queue.put_nowait, text.rstrip("\r\n"))
                if not data:
                    break
        except (OSError, ValueError):
            pass
        loop.call_soon_threadsafe(queue.put_nowait, None)


class TerminalUI:
    """A prompt_toolkit input line; arriving lines are printed above it."""

    def __init__(self, colour: bool, session_state: Session | None = None) -> None:
        self.colour = colour
        self.state = session_state
        ui = self

        class History(InMemoryHistory):
            def append_string(self, string: str) -> None:
                if not ui.wants_password():    # passwords stay out of the history
                    super().append_string(string)

        self._password = Condition(self.wants_password)
        self.prompt = PromptSession(history=History(), completer=NickCompleter(self),
                                    complete_while_typing=False)

    def wants_password(self) -> bool:
        return self.state is not None and self.state.phase is Phase.PASSWORD

    def show(self, line: Line) -> None:
        print(render.render(line, self.colour), flush=True)
        if line.kind is Kind.PASSWORD_PROMPT and self.prompt.app.is_running:
            self.prompt.app.invalidate()

    async def read_line(self) -> str:
        return await self.prompt.prompt_async("> ", is_password=self._password)


class NickCompleter(Completer):
    """Tab completes /commands at the start of a line, #rooms and nicknames seen."""

    def __init__(self, ui: TerminalUI) -> None:
        self.ui = ui

    def get_completions(self, document, complete_event):
        before = document.text_before_cursor
        word = before.split(" ")[-1]
        state = self.ui.state
        if word.startswith("/") and word == before:
            candidates = COMMANDS
        elif word.startswith("#"):
            candidates = list(state.rooms.values()) if state else []
        else:
            candidates = sorted(state.nicks.values(), key=str.lower) if state else []
        if not word:
            return
        for candidate in candidates:
            if candidate.lower().startswith(word.lower()) and candidate != word:
                yield Completion(candidate, start_position=-len(word))


# The program

def main(argv: list[str] | None = None) -> int:
    from .options import parse

    options = parse(argv)
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    colour = render.use_colour(options.no_color, sys.stdout.isatty())
    if options.insecure:
        print(INSECURE_WARNING, file=sys.stderr, flush=True)
    try:
        return asyncio.run(_main(options, interactive, colour))
    except KeyboardInterrupt:
        return 130


async def _main(options, interactive: bool, colour: bool) -> int:
    client = Client(options)
    if interactive:
        client.ui = TerminalUI(colour, client.session)
        with patch_stdout(raw=True):
            return await client.run()
    client.ui = PlainUI(colour)
    # Without prompt_toolkit, Ctrl-C is a signal: the first one leaves as
    # /quit does, a second one does not wait any longer.
    loop = asyncio.get_running_loop()
    running = asyncio.current_task()

    def interrupted() -> None:
        if client.quitting:
            running.cancel()
        else:
            client.quit()

    try:
        loop.add_signal_handler(signal.SIGINT, interrupted)
    except (NotImplementedError, RuntimeError):
        pass
    try:
        return await client.run()
    except asyncio.CancelledError:
        return 130
