"""
End to end: the package as pip installs it.  twistd must find the plugin and
every module from the installed copy alone, away from the source tree.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from server import REPO, ChatServer, twistd_env, join_announcement

# What is not part of the source that pip builds from.
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "*.pyc",
    "dropin.cache", ".pytest_cache", "_trial_temp", "test-artifacts")


def _cannot_build() -> str | None:
    """
    Say why pip cannot build this package without build isolation here, or
    return None if it can.
    """
    if importlib.util.find_spec("setuptools") is None:
        return ("setuptools is not importable, so pip cannot build without build "
                "isolation (install the [test] extra)")
    # setuptools builds wheels itself from 70.1 on; before, it needs "wheel".
    check = subprocess.run(
        [sys.executable, "-c",
         "try:\n import setuptools.command.bdist_wheel\n"
         "except ImportError:\n import wheel"],
        stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    if check.returncode != 0:
        return ("this setuptools is older than 70.1 and the wheel package is not "
                "installed, so pip cannot build a wheel without build isolation "
                "(install the [test] extra)")
    return None


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """
    The package installed by pip into a directory of its own, from a copy of
    the source tree (so that pip's in-tree build leaves nothing behind in the
    working tree).
    """
    problem = _cannot_build()
    if problem:
        pytest.skip(problem)
    base = tmp_path_factory.mktemp("packaging")
    source = base / "source"
    target = base / "site"
    shutil.copytree(REPO, source, ignore=_NOT_SOURCE)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
         "--no-input", "--disable-pip-version-check", "--quiet", "--target", str(target),
         str(source)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, timeout=120, cwd=base)
    assert result.returncode == 0, result.stdout
    return target


def test_installed_files(installed):
    """pip installs the chatservice package and the plugin, and no twisted/__init__.py that would hide Twisted itself."""
    assert (installed / "twisted" / "plugins" / "chatservice_plugin.py").is_file()
    assert not (installed / "twisted" / "__init__.py").exists()
    assert not (installed / "twisted" / "plugins" / "__init__.py").exists()
    # Every module of the source tree is installed.
    for module in (REPO / "chatservice").rglob("*.py"):
        relative = module.relative_to(REPO)
        assert (installed / relative).is_file(), f"{relative} was not installed"
    # The example config file ships with the package.
    assert (installed / "chatservice" / "chatservice.example.toml").is_file()


def test_imports_come_from_the_installed_copy(installed, tmp_path):
    """With only the installed copy on the path, chatservice is imported from it and Twisted sees its plugin directory."""
    result = subprocess.run(
        [sys.executable, "-c",
         "import chatservice, twisted, twisted.plugins as ps\n"
         "import twisted.plugins.chatservice_plugin as p\n"
         "print(chatservice.__file__)\nprint(twisted.__file__)\nprint(p.__file__)\n"
         "print(ps.__path__[0])\nprint(*ps.__path__[1:], sep='\\n')"],
        cwd=tmp_path, env=twistd_env(installed), stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    package, twisted, plugin, twisted_plugins, *plugin_path = result.stdout.splitlines()
    assert package.startswith(str(installed)), package
    assert not twisted.startswith(str(installed)), twisted  # the real Twisted
    assert str(installed / "twisted" / "plugins") in plugin_path
    # Twisted's own plugin directory comes first: when the package is also
    # installed in this environment (as tests/run.sh does), its copy of the
    # plugin module is the one imported; otherwise it must be ours.
    if not (Path(twisted_plugins) / "chatservice_plugin.py").exists():
        assert plugin.startswith(str(installed)), plugin


def test_twistd_chat_from_installed_copy(installed, tmp_path, request):
    """twistd -n chat run with only the installed copy on PYTHONPATH, outside the source tree, serves line chat."""
    server = ChatServer(tmp_path / "elsewhere", pythonpath=installed)
    request.node.chat_servers = [server]
    try:
        server.start()
        alice = server.user("alice")
        bob = server.user("bob")
        alice.read_until(join_announcement("bob"))
        bob.send_line("installed and working")
        alice.read_until("[#lobby] <bob> installed and working\r\n")
        assert server.running()
    finally:
        server.stop()
    assert "Traceback" not in server.log(), server.log()
