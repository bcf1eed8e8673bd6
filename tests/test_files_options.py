"""
The file-sharing options: their defaults, their values in the frozen
configuration, refusals of bad values, and the links' default address.
"""

from __future__ import annotations

import socket

import pytest
from twisted.python import usage

from chatservice.core.files import GiB, MiB, FileLimits
from chatservice.sharing import web_url
from chatservice.tap import Options


def parse(*arguments):
    options = Options()
    options.parseOptions(list(arguments))
    return options["config"]


def test_file_defaults():
    """By default: 25 MiB a file, 30 an hour, 5 GiB in all, 30 days, 30 s pace checks, links from --web."""
    config = parse()
    assert config.files == FileLimits()
    assert (config.files.max_size, config.files.per_hour, config.files.total,
            config.files.days, config.files.idle_timeout) == (25 * MiB, 30, 5 * GiB, 30, 30)
    assert config.web_url is None


def test_file_options_reach_the_configuration():
    """Each file option reaches the frozen configuration."""
    config = parse("--upload-max-size", "1.5", "--uploads-per-hour", "3", "--upload-storage",
                   "0.5", "--upload-days", "0", "--upload-timeout", "2",
                   "--web-url", "https://chat.example.org/")
    assert config.files == FileLimits(int(1.5 * MiB), 3, GiB // 2, 0, 2.0)
    assert config.web_url == "https://chat.example.org"


@pytest.mark.parametrize("arguments", [
    ("--upload-max-size", "0"), ("--upload-max-size", "big"), ("--uploads-per-hour", "0"),
    ("--uploads-per-hour", "2.5"), ("--upload-storage", "-1"), ("--upload-days", "-1"),
    ("--upload-days", "nan"), ("--upload-timeout", "0"), ("--web-url", "chat.example.org"),
    ("--web-url", "ftp://chat.example.org"),
])
def test_bad_file_option_values_are_refused(arguments):
    """A bad value is refused with a sentence naming the option."""
    with pytest.raises(usage.UsageError) as refused:
        parse(*arguments)
    assert arguments[0] in str(refused.value)


@pytest.mark.parametrize("endpoint, url", [
    ("tcp:8080:interface=127.0.0.1", "http://127.0.0.1:8080"),
    ("ssl:8443:privateKey=k.pem:certKey=c.pem:interface=10.0.0.2", "https://10.0.0.2:8443"),
    ("tcp6:port=8080:interface=\\:\\:1", "http://[::1]:8080"),
    ("tcp:80", f"http://{socket.getfqdn()}:80"),
])
def test_links_default_to_the_first_web_endpoint(endpoint, url):
    """Without --web-url, links use the endpoint's interface, or the machine's name."""
    assert web_url(endpoint) == url
