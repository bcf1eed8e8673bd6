"""
Tests for L{chatservice.config}: the TOML config file (--config).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from twisted.python import reflect, usage

from chatservice import config
from chatservice.config import tomllib
from chatservice.tap import Options

sys.path.insert(0, str(Path(__file__).resolve().parent))
from server import HOST, free_ports, run_twistd  # noqa: E402

EXAMPLE = Path(config.__file__).parent / config.EXAMPLE_NAME


def every_option() -> set[str]:
    """Every long option of the plugin, found from the class without chatservice.config."""
    flags: list = []
    parameters: list = []
    reflect.accumulateClassList(Options, "optFlags", flags)
    reflect.accumulateClassList(Options, "optParameters", parameters)
    methods = {name[4:].replace("_", "-") for name in dir(Options) if name.startswith("opt_")}
    names = {entry[0] for entry in flags + parameters} | methods
    return names - {"help", "version", "config"}


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "chat.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def parse(*arguments: str) -> Options:
    options = Options()
    options.parseOptions(list(arguments))
    return options


def refusal(*arguments: str) -> str:
    with pytest.raises(SystemExit) as refused:
        parse(*arguments)
    message = str(refused.value)
    assert "\n" not in message
    return message


def test_every_option_has_a_key():
    """Every flag, parameter and opt_ method of the plugin is a config-file key."""
    keys = config.option_keys(Options)
    missing = sorted(every_option() - set(keys))
    assert not missing, f"options without a config-file key: {missing}"
    assert keys["port"] == keys["oper"] == keys["web-origin"] == "repeatable"
    assert keys["no-persistence"] == "flag"
    assert keys["max-line-length"] == "parameter"


def test_example_lists_every_key_with_its_default():
    """chatservice.example.toml has a commented line for every key, showing its default."""
    text = EXAMPLE.read_text(encoding="utf-8")
    shown = dict(re.findall(r"^# ([a-z][a-z0-9-]*) = (.*)$", text, re.MULTILINE))
    expected = config.defaults(Options)
    missing = {key: config.example_line(key, default) for key, default in expected.items()
               if key not in shown}
    assert not missing, ("chatservice.example.toml lacks these keys; add these lines "
                         f"(python -m chatservice.config prints them all): {missing}")
    wrong = {key: shown[key] for key, default in expected.items()
             if default is not None and tomllib.loads(f"v = {shown[key]}")["v"] != default}
    assert not wrong, f"chatservice.example.toml shows wrong defaults: {wrong}"
    unknown = sorted(set(shown) - set(expected))
    assert not unknown, f"chatservice.example.toml shows keys no option has: {unknown}"


def test_example_uncommented_is_a_valid_config(tmp_path):
    """The example with every line uncommented (each key at its default) parses to the defaults."""
    lines = [line[2:] for line in EXAMPLE.read_text().splitlines()
             if re.match(r"# [a-z][a-z0-9-]* = ", line) and not line.endswith('= ""')]
    options = parse("--config", write(tmp_path, "\n".join(lines)))
    assert options["config"] == parse()["config"] or options["limits"] == parse()["limits"]
    assert options["port"] == ["tcp:8000"]


def test_file_sets_options(tmp_path):
    """Keys of every kind (parameter, number, flag, array) set their options."""
    path = write(tmp_path, 'name = "filed"\nmax-line-length = 300\nflood-rate = 3\n'
                           'no-flood-control = true\nirc = ["tcp:6667", "tcp:6668"]\n'
                           'web-origin = ["https://chat.example"]\n')
    options = parse("--config", path)
    assert options["config"].name == "filed"
    assert options["limits"].max_line_length == 300
    assert options["limits"].flood_rate == 3.0
    assert options["limits"].flood_control is False
    assert options["irc"] == ["tcp:6667", "tcp:6668"]
    assert options["port"] == []
    assert options["config"].web_origins == ("https://chat.example",)


def test_command_line_overrides_file(tmp_path):
    """A key given on the command line replaces the file's value, a repeatable one as a whole."""
    path = write(tmp_path, 'name = "filed"\nirc = ["tcp:6667"]\nmax-line-length = 300\n')
    options = parse("--name", "typed", "--config", path, "--irc", "tcp:7000")
    assert options["name"] == "typed"
    assert options["irc"] == ["tcp:7000"]
    assert options["max-line-length"] == 300


def test_argv_kept_for_reload(tmp_path):
    """The parsed arguments are kept, so that a reload can read them again."""
    path = write(tmp_path, "")
    assert parse("--config", path, "--name", "x").argv == ["--config", path, "--name", "x"]


@pytest.mark.parametrize("text, expected", [
    ("colour = 1", "unknown key 'colour'"),
    ('max-line-length = "long"', "max-line-length must be a whole number, not a string"),
    ("max-line-length = 1.5", "max-line-length must be a whole number"),
    ("max-line-length = true", "max-line-length must not be a boolean"),
    ("max-line-length = -1", "max-line-length: must be a positive whole number"),
    ("flood-rate = nan", "flood-rate: must be a positive number"),
    ("no-persistence = 1", "no-persistence must be true or false"),
    ('port = "tcp:8000"', "port must be an array of strings"),
    ("port = [8000]", "port must be an array of strings"),
    ('port = ["carrierpigeon:1"]', "port: 'carrierpigeon:1'"),
    ('trusted-proxy = ["not an address"]', "trusted-proxy: 'not an address'"),
    ('oper = ["nocolon"]', "oper: not accepted (the value is not shown: it holds a password)"),
    ('default-room = "no hash"', "default-room: 'no hash'"),
    ('room-modes = "q"', "room-modes: 'q' is not one of imnst"),
    ('history-visibility = "some"', "history-visibility: must be all or since-join, not 'some'"),
    ("name = ", "not valid TOML"),
    ("[irc]\nport = 1", "irc must be an array of strings, not a table"),
    ('name = "\x00"', "not valid TOML"),
    ('name = "a\\u0000b"', "name must not hold control characters"),
    ('port = ["tcp:1", "tcp:2\\u001b[31m"]', "port must not hold control characters"),
])
def test_bad_file_is_one_line_naming_file_and_key(tmp_path, text, expected):
    """An unknown key, a wrong type or a bad value is one line naming the file and the key."""
    path = write(tmp_path, text)
    message = refusal("--config", path)
    assert message.startswith(f"chatservice: {path}: ")
    assert expected in message


@pytest.mark.parametrize("text", ['oper = "alice:hunter2"', 'oper = ["alicehunter2"]',
                                  "password = 7", 'oper = ["alice:hunter2", 5]'])
def test_password_never_shown(tmp_path, text):
    """A bad value of an option that holds a password is described, never repeated."""
    message = refusal("--config", write(tmp_path, text))
    assert "hunter2" not in message and "7" not in message.split(": ", 2)[2]


def test_invalid_utf8_file(tmp_path):
    """A file that is not UTF-8 is refused with one line."""
    path = tmp_path / "bad.toml"
    path.write_bytes(b'name = "\xff\xfe"\n')
    assert "not valid TOML" in refusal("--config", str(path))


def test_huge_and_hostile_values(tmp_path):
    """Control characters and a very long value reach the option's own checks, not a crash."""
    path = write(tmp_path, 'port = ["tcp:' + "9" * 100_000 + '"]\n')
    assert "port: " in refusal("--config", str(path))


def test_missing_file(tmp_path):
    """A config file that does not exist is one line naming it."""
    path = str(tmp_path / "nowhere.toml")
    assert refusal("--config", path) == f"chatservice: {path}: cannot read it: No such file or directory"


def test_command_line_errors_stay_usage_errors(tmp_path):
    """A bad command-line option is still twistd's usage error, not blamed on the file."""
    path = write(tmp_path, 'name = "x"\n')
    with pytest.raises(usage.UsageError):
        parse("--config", path, "--max-line-length", "0")


def test_twistd_exits_with_one_line_for_a_bad_file(tmp_path):
    """twistd given a bad config file prints one line naming the file and key, and exits non-zero."""
    path = write(tmp_path, "max-per-address = 0\n")
    port, = free_ports()
    result = run_twistd(["-n", "--pidfile=", "chat", "--config", path,
                         "--port", f"tcp:{port}:interface={HOST}"], tmp_path)
    assert result.returncode != 0
    assert result.stdout.strip().splitlines() == [
        f"chatservice: {path}: max-per-address: must be a positive whole number, not '0'"]
