"""
Fixtures for the end-to-end tests (tests/test_e2e_*.py): real twistd
processes, real sockets, and a self-signed certificate made for the session.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest

# The end-to-end helpers are imported as "server" whether or not tests/ is a
# package.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from server import ChatServer, client_tls_context, make_certificate  # noqa: E402
import browser as _browser  # noqa: E402

# Signs in the server's output that something went wrong inside it even if the
# test passed: an unhandled exception, or a traceback logged by Twisted.
_SERVER_TROUBLE = re.compile(r"Traceback \(most recent call last\)|Unhandled Error")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """
    When an end-to-end test fails, show each twistd's log beside the failure.
    """
    outcome = yield
    report = outcome.get_result()
    servers = getattr(item, "chat_servers", ())
    if report.failed and servers:
        for number, server in enumerate(servers, 1):
            report.sections.append((f"twistd log #{number} ({server.directory})",
                                    server.log()))


@pytest.fixture(scope="session")
def certificate(tmp_path_factory):
    """(key path, certificate path) of a self-signed certificate for 127.0.0.1."""
    return make_certificate(tmp_path_factory.mktemp("certificate"))


@pytest.fixture
def tls_context(certificate):
    """A client TLS context that trusts the test certificate."""
    return client_tls_context(certificate[1])


@pytest.fixture
def start_server(request, tmp_path, certificate):
    """
    Start a twistd chat server:
    C{start_server(*options, plain=1, tls=0, irc=0, web=0, web_tls=0)}.
    Every server is stopped at teardown; a server that died, or logged a
    traceback, fails the test.
    """
    servers: list[ChatServer] = []
    request.node.chat_servers = servers

    def start(*options: str, plain: int = 1, tls: int = 0, irc: int = 0,
              **keywords) -> ChatServer:
        server = ChatServer(tmp_path / f"server{len(servers) + 1}", options,
                            plain=plain, tls=tls, irc=irc, certificate=certificate,
                            **keywords)
        servers.append(server)
        return server.start()

    yield start

    problems = []
    for server in servers:
        if (server.process is not None and not server.running()
                and not server.stopped_on_purpose):
            problems.append(f"twistd in {server.directory} exited by itself with "
                            f"{server.process.returncode}")
        server.stop()
        trouble = _SERVER_TROUBLE.search(server.log())
        if trouble:
            problems.append(f"twistd in {server.directory} logged {trouble.group()!r}")
    if problems:
        pytest.fail("; ".join(problems) + "\n" + "\n".join(s.log() for s in servers),
                    pytrace=False)


@pytest.fixture
def server(start_server):
    """A chat server with the default options on one plain port."""
    return start_server()


@pytest.fixture
def tls_server(start_server):
    """A chat server with a plain port and a TLS port."""
    return start_server(tls=1)


def _need(program: str) -> None:
    if shutil.which(program) is None:
        pytest.skip(f"{program} is not installed (tests/run.sh installs it)")


@pytest.fixture
def nc():
    _need("nc")
    return shutil.which("nc")


@pytest.fixture
def openssl():
    _need("openssl")
    return shutil.which("openssl")


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium, shared by a module's tests."""
    with _browser.sync_playwright() as playwright:
        chromium = _browser.launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def open_page(browser):
    """
    C{open_page(port, **context_options)} opens the chat page in a new
    browser context; at teardown, a page with JavaScript errors, CSP
    violations or dialogs fails the test.
    """
    pages: list[_browser.ChatPage] = []

    def open_(port: int, **context_options) -> _browser.ChatPage:
        page = _browser.ChatPage(browser, port, **context_options)
        pages.append(page)
        return page

    yield open_
    try:
        for page in pages:
            page.check_clean()
    finally:
        for page in pages:
            page.context.close()
