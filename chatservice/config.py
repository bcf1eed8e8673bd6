"""
The config file: ``twistd -n chat --config chatservice.toml``.

The file is TOML whose keys are the plugin's long option names, without the
dashes in front: ``max-line-length = 4096``, ``irc = ["tcp:6667"]``.  The keys
are derived from the options class itself (its C{optParameters}, C{optFlags}
and C{opt_*} methods), so an option added to the plugin has a key at once:

 - a flag is a boolean (C{true} gives the flag; C{false} is the default);
 - a parameter is a string, or a number where its default is a number;
 - a repeatable option (one whose value starts as a list) is an array of
   strings.

The command line overrides the file, key by key: a repeatable option given on
the command line replaces the file's whole array.  Every value from the file
goes through the same checks as the command line's; an unknown key, a wrong
type or a bad value is one line naming the file and the key.

``python -m chatservice.config`` prints a commented example listing every
key with its default (``chatservice.example.toml`` is one).
"""

from __future__ import annotations

import getopt
import re
import sys
import textwrap

from twisted.python import usage

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - setup.cfg installs tomli there
    import tomli as tomllib

# Options every usage.Options has, which a file has no business setting.
_NOT_KEYS = frozenset({"help", "version", "config"})

EXAMPLE_NAME = "chatservice.example.toml"

# What no option value needs, and a command line cannot even carry (NUL):
# C0 controls but tab and newline, DEL and C1 controls.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class ConfigError(Exception):
    """The config file cannot be used; the message names the file and the key."""


def option_keys(options_class: type[usage.Options]) -> dict[str, str]:
    """
    Every key the config file accepts for C{options_class}: its long option
    names, each mapped to C{"flag"}, C{"parameter"} or C{"repeatable"}.
    """
    probe = options_class()
    keys = {}
    for long_option in probe.longOpt:
        name = long_option.rstrip("=")
        if name in _NOT_KEYS or probe.synonyms.get(name, name) != name:
            continue
        if not long_option.endswith("="):
            keys[name] = "flag"
        elif isinstance(probe.get(name), list) or name in getattr(probe, "repeatable", ()):
            keys[name] = "repeatable"
        else:
            keys[name] = "parameter"
    return keys


def defaults(options_class: type[usage.Options]) -> dict[str, object]:
    """Each key's default, as the options class starts it."""
    probe = options_class()
    found = {}
    for name, kind in option_keys(options_class).items():
        if kind == "flag":
            found[name] = False
        elif kind == "repeatable":
            given = probe[name]
            found[name] = list(getattr(probe, "repeatable", {})[name] if given is None else given)
        else:
            found[name] = probe.defaults.get(name)
    return found


def _type_problem(kind: str, default: object, value: object) -> str | None:
    """Why C{value} has the wrong TOML type for a key, or None."""
    if kind == "flag":
        return None if isinstance(value, bool) else "must be true or false"
    if kind == "repeatable":
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return None
        return "must be an array of strings"
    if isinstance(value, bool):
        return "must not be a boolean"
    if isinstance(default, float):
        return None if isinstance(value, (int, float)) else "must be a number"
    if isinstance(default, int):
        return None if isinstance(value, int) else "must be a whole number"
    return None if isinstance(value, str) else "must be a string"


def read(path: str) -> dict[str, object]:
    """The table in the TOML file at C{path}."""
    try:
        with open(path, "rb") as file:
            return tomllib.load(file)
    except OSError as problem:
        raise ConfigError(f"{path}: cannot read it: {problem.strerror or problem}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as problem:
        raise ConfigError(f"{path}: not valid TOML: {problem}") from None


def file_arguments(path: str, options_class: type[usage.Options],
                   overridden=frozenset()) -> list[str]:
    """
    The command-line arguments the config file at C{path} stands for,
    leaving out the keys in C{overridden} (given on the command line).  Each
    value is checked by the option's own handler first, so that a bad one is
    reported with the file and the key.
    """
    keys = option_keys(options_class)
    starts = defaults(options_class)
    arguments = []
    for key, value in read(path).items():
        kind = keys.get(key)
        if kind is None:
            raise ConfigError(f"{path}: unknown key {key!r}")
        problem = _type_problem(kind, starts[key], value)
        if problem:
            raise ConfigError(f"{path}: {key} {problem}, not {_shown(value)}")
        if any(isinstance(item, str) and _CONTROL.search(item)
               for item in (value if isinstance(value, list) else [value])):
            raise ConfigError(f"{path}: {key} must not hold control characters "
                              "(other than tab and newline)")
        if key in overridden:
            continue
        if kind == "flag":
            arguments += [f"--{key}"] if value else []
            continue
        for item in value if kind == "repeatable" else [value]:
            _check(options_class, path, key, str(item))
            arguments.append(f"--{key}={item}")
    return arguments


def _shown(value: object) -> str:
    """A value's type, not the value itself: it may be a password."""
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "an array", dict: "a table"}.get(type(value), type(value).__name__)


def _check(options_class, path: str, key: str, value: str) -> None:
    probe = options_class()
    try:
        handler = probe._dispatch[key]
        if isinstance(handler, usage.CoerceParameter):
            handler.dispatch(key, value)
        else:
            handler(key, value)
    except (usage.UsageError, ValueError) as problem:
        if _secret(probe, key):
            raise ConfigError(f"{path}: {key}: not accepted (the value is not shown: it "
                              f"holds a password); see twistd chat --help") from None
        message = str(problem).removeprefix("Parameter type enforcement failed: ")
        raise ConfigError(_about(path, key, message)) from None


def _secret(probe: usage.Options, key: str) -> bool:
    """Whether option C{key}'s value holds a password, by its help text."""
    return "password" in (probe.docs.get(key) or "").lower()


def _about(path: str, key: str, message: str) -> str:
    """C{message} about option C{key}, said of the file's key instead."""
    message = message.removeprefix(f"--{key}").lstrip(": ")
    return f"{path}: {key}: {message}"


def given_on_command_line(options_class, argv: list[str]) -> tuple[set[str], str | None]:
    """
    The keys C{argv} gives, by their long names, and its --config file.
    Arguments getopt cannot read are left for the real parse to report.
    """
    probe = options_class()
    try:
        given, _ = getopt.gnu_getopt(argv, probe.shortOpt, probe.longOpt)
    except getopt.GetoptError:
        return set(), None
    names, path = set(), None
    for option, value in given:
        name = probe.synonyms.get(option.lstrip("-"), option.lstrip("-"))
        names.add(name)
        if name == "config":
            path = value
    return names, path


class ConfigFileOptions(usage.Options):
    """
    Options that may also come from a TOML file given with --config; see
    the module's docstring.  C{argv} keeps the arguments, so that a reload
    can read the file (and the command line's files) again, and
    C{config_file} the file's path (or None): the value under C{"config"}
    is the plugin's to replace with what it builds from the options.
    """

    optParameters = [
        ["config", None, None,
         "TOML file of options (keys are the long option names); the command "
         "line overrides it."],
    ]

    argv: list[str] = []
    config_file: str | None = None

    def parseOptions(self, options=None) -> None:
        """Parse the command line over the config file; a file's problem is one line."""
        try:
            self.parse_with_file(sys.argv[1:] if options is None else options)
        except ConfigError as problem:
            raise SystemExit(f"chatservice: {problem}") from None

    def parse_with_file(self, argv: list[str]) -> None:
        """
        Parse C{argv} over its --config file.
        @raise ConfigError: the file cannot be read or has a bad key or value.
        @raise usage.UsageError: an option is wrong.
        """
        self.argv = list(argv)
        given, path = given_on_command_line(type(self), self.argv)
        self.config_file = path
        from_file = [] if path is None else file_arguments(path, type(self), given)
        try:
            super().parseOptions(from_file + self.argv)
        except usage.UsageError as problem:
            # A check across options (an endpoint, a room) that fails on a
            # value the file gave names the file too.
            message = str(problem)
            for argument in from_file:
                key = argument[2:].split("=", 1)[0]
                if message.startswith((f"--{key} ", f"--{key}:")):
                    raise ConfigError(_about(path, key, message)) from None
            raise


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def example_line(key: str, default: object) -> str:
    """The example file's (commented) line for C{key}."""
    return f"# {key} = " + ('""' if default is None else _toml(default))


def example(options_class) -> str:
    """A commented config file listing every key with its default."""
    probe = options_class()
    lines = ["# chatservice configuration: twistd -n chat --config chatservice.toml",
             "# Every key is a long command-line option; the command line overrides",
             "# the file.  Uncomment and change what you need.", ""]
    for key, default in defaults(options_class).items():
        doc = " ".join((probe.docs.get(key) or "").split())
        lines += textwrap.wrap(doc, 76, initial_indent="# ",
                               subsequent_indent="# ", break_on_hyphens=False) or ["#"]
        if default is None:
            lines.append("# (not set by default)")
        lines += [example_line(key, default), ""]
    return "\n".join(lines).rstrip("\n") + "\n"


if __name__ == "__main__":
    from .tap import Options

    print(example(Options), end="")
