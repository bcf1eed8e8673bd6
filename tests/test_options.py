"""
Tests for L{chatservice.tap}: the twistd plugin's options.
"""

import pytest
from twisted.application.service import MultiService
from twisted.python import usage

from chatservice.core.limits import Limits
from chatservice.tap import Options, makeService

NUMERIC = {
    "max-line-length": int,
    "flood-rate": float,
    "flood-burst": int,
    "flood-queue": int,
    "max-send-queue": int,
    "max-per-address": int,
    "registration-timeout": float,
    "max-nick-attempts": int,
}


def parse(*arguments):
    options = Options()
    options.parseOptions(list(arguments))
    return options


def test_defaults():
    """Without arguments, line chat listens on tcp:8000 with the default name, room and limits."""
    options = parse()
    assert options["port"] == ["tcp:8000"]
    assert options["name"] == "chatservice"
    assert options["default-room"] == "#lobby"
    assert options["no-flood-control"] == 0
    assert options["limits"] == Limits()


def test_default_limit_values():
    """Every limit's option defaults to the value in Limits."""
    options = parse()
    defaults = Limits()
    for name in NUMERIC:
        assert options[name] == getattr(defaults, name.replace("-", "_")), name
    assert options["limits"].flood_control is True


def test_port_repeatable():
    """--port may be given several times, and replaces the default."""
    options = parse("--port", "tcp:8001", "--port=tcp:8002:interface=127.0.0.1")
    assert options["port"] == ["tcp:8001", "tcp:8002:interface=127.0.0.1"]


def test_options_independent():
    """Two Options instances do not share their list of ports."""
    parse("--port", "tcp:9001")
    assert parse()["port"] == ["tcp:8000"]


def test_no_flood_control():
    """--no-flood-control turns flood control off."""
    assert parse("--no-flood-control")["limits"].flood_control is False


def test_name_and_room():
    """--name and --default-room are kept as given."""
    options = parse("--name", "Test chat", "--default-room", "#General")
    assert (options["name"], options["default-room"]) == ("Test chat", "#General")


@pytest.mark.parametrize(
    "option, value, field, expected",
    [
        ("max-line-length", "100", "max_line_length", 100),
        ("flood-rate", "0.5", "flood_rate", 0.5),
        ("flood-burst", "3", "flood_burst", 3),
        ("flood-queue", "7", "flood_queue", 7),
        ("max-send-queue", "4096", "max_send_queue", 4096),
        ("max-per-address", "1", "max_per_address", 1),
        ("registration-timeout", "2.5", "registration_timeout", 2.5),
        ("max-nick-attempts", "4", "max_nick_attempts", 4),
    ],
)
def test_limit_option(option, value, field, expected):
    """Each limit option sets its limit, as a number of the right type."""
    limits = parse(f"--{option}", value)["limits"]
    assert getattr(limits, field) == expected
    assert type(getattr(limits, field)) is type(expected)
    others = {name: getattr(Limits(), name) for name in Limits.__dataclass_fields__
              if name != field}
    assert {name: getattr(limits, name) for name in others} == others


@pytest.mark.parametrize("option", sorted(NUMERIC))
@pytest.mark.parametrize("value", ["abc", "", "0", "-1", "-0.5"])
def test_invalid_number(option, value):
    """A limit that is not a positive number is a usage error."""
    with pytest.raises(usage.UsageError):
        parse(f"--{option}", value)


@pytest.mark.parametrize("option", sorted(name for name, kind in NUMERIC.items() if kind is int))
def test_fraction_for_integer(option):
    """A fraction where a whole number is needed is a usage error."""
    with pytest.raises(usage.UsageError):
        parse(f"--{option}", "1.5")


@pytest.mark.parametrize("option", ["flood-rate", "registration-timeout"])
@pytest.mark.parametrize("value", ["nan", "NaN", "-inf"])
def test_not_a_number(option, value):
    """A limit of NaN, or of minus infinity, is a usage error."""
    with pytest.raises(usage.UsageError):
        parse(f"--{option}", value)


def test_invalid_number_message():
    """A non-positive limit's usage error names the option and says what was wrong."""
    with pytest.raises(usage.UsageError) as raised:
        parse("--flood-burst", "0")
    assert "--flood-burst must be a positive whole number, not '0'" in str(raised.value)
    with pytest.raises(usage.UsageError) as raised:
        parse("--flood-rate", "fast")
    assert "--flood-rate must be a positive number, not 'fast'" in str(raised.value)


@pytest.mark.parametrize("endpoint", ["bogus:1234", "tcp:notaport", "tcp"])
def test_bad_endpoint(endpoint):
    """An endpoint string that does not parse is a usage error naming the endpoint."""
    with pytest.raises(usage.UsageError) as raised:
        parse("--port", "tcp:8001", "--port", endpoint)
    assert repr(endpoint) in str(raised.value)


def test_missing_certificate(tmp_path):
    """A TLS endpoint whose key or certificate file is missing is a usage error naming the endpoint."""
    endpoint = f"ssl:8443:privateKey={tmp_path}/missing-key.pem:certKey={tmp_path}/cert.pem"
    with pytest.raises(usage.UsageError) as raised:
        parse("--port", endpoint)
    message = str(raised.value)
    assert repr(endpoint) in message
    assert "missing-key.pem" in message


@pytest.mark.parametrize("room", ["lobby", "#a b", "#a,b", "#", "#" + "x" * 50])
def test_bad_default_room(room):
    """An invalid --default-room is a usage error naming the room."""
    with pytest.raises(usage.UsageError) as raised:
        parse("--default-room", room)
    assert repr(room) in str(raised.value)


def test_unknown_option():
    """An unknown option is a usage error."""
    with pytest.raises(usage.UsageError):
        parse("--colour")


def test_make_service():
    """makeService builds, without listening, one service per port around one hub with the chosen name and room."""
    options = parse("--port", "tcp:0", "--port", "tcp:0:interface=127.0.0.1",
                    "--name", "unit", "--default-room", "#home")
    service = makeService(options)
    assert isinstance(service, MultiService)
    assert [listener.description for listener in service.listeners] == [
        "tcp:0", "tcp:0:interface=127.0.0.1"]
    assert not service.running
    assert (service.hub.name, service.hub.default_room) == ("unit", "#home")


# History options

def test_history_defaults():
    """By default history is kept in ./chatservice-data for 90 days, 100,000 events a room."""
    from chatservice.service import HistorySettings

    history = parse()["config"].history
    assert history == HistorySettings()
    assert (history.persistence, history.data_dir, history.days, history.max_per_room,
            history.since_join, history.replay_lines, history.queue_limit) == (
        True, "chatservice-data", 90, 100_000, False, 15, 100_000)


def test_history_options():
    """Each history option reaches the server's configuration."""
    history = parse("--no-persistence", "--data-dir", "/srv/chat", "--history-days", "0",
                    "--history-max-per-room", "50", "--history-visibility", "since-join",
                    "--replay-lines", "0", "--history-queue", "10")["config"].history
    assert (history.persistence, history.data_dir, history.days, history.max_per_room,
            history.since_join, history.replay_lines, history.queue_limit) == (
        False, "/srv/chat", 0, 50, True, 0, 10)


@pytest.mark.parametrize("arguments", [
    ("--history-days", "-1"), ("--history-days", "soon"), ("--history-days", "inf"),
    ("--history-days", "nan"), ("--history-max-per-room", "0"),
    ("--history-visibility", "members"), ("--replay-lines", "-3"),
    ("--replay-lines", "1.5"), ("--history-queue", "0"),
])
def test_bad_history_values_refused(arguments):
    """A bad history option value is refused with a sentence naming the option."""
    with pytest.raises(usage.UsageError) as refused:
        parse(*arguments)
    assert arguments[0] in str(refused.value)


def test_readme_documents_every_option():
    """README's option table names every option twistd accepts."""
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.rst").read_text()
    options = Options()
    names = [flag[0] for flag in options.optFlags] + [p[0] for p in options.optParameters]
    names += ["port", "irc", "web", "web-origin", "trusted-proxy", "oper", "exempt"]
    missing = [name for name in names if f"``--{name}" not in readme]
    assert not missing


def test_exempt_default_and_repeatable():
    """--exempt replaces the loopback default with the networks given, repeatable; an invalid network is a usage error."""
    assert parse()["limits"].exempt == ("127.0.0.0/8", "::1")
    options = parse("--exempt", "10.0.0.0/8", "--exempt", "2001:db8::/48")
    assert options["limits"].exempt == ("10.0.0.0/8", "2001:db8::/48")
    with pytest.raises(usage.UsageError, match="--exempt 'nowhere'"):
        parse("--exempt", "nowhere")


def test_exempt_none():
    """--exempt none leaves no address exempt (and a later --exempt adds to nothing)."""
    assert parse("--exempt", "none")["limits"].exempt == ()
    assert parse("--exempt", "none", "--exempt", "192.0.2.1")["limits"].exempt == ("192.0.2.1",)


def test_sts_duration():
    """--sts-duration defaults to 30 days, takes 0 or more whole seconds, and refuses anything else."""
    assert parse()["config"].irc.sts_duration == 2592000
    assert parse("--sts-duration", "0")["config"].irc.sts_duration == 0
    assert parse("--sts-duration", "3600")["config"].irc.sts_duration == 3600
    for bad in ("-1", "1.5", "forever", ""):
        with pytest.raises(usage.UsageError):
            parse("--sts-duration", bad)


def test_sts_port_is_the_first_tls_irc_listener(certificate):
    """The service's IRC front end sends plain clients to the first ssl: --irc listener's port, and nowhere without one."""
    from chatservice.frontends.irc import IRCFactory

    def sts_port(*arguments):
        service = makeService(parse(*arguments))
        assert isinstance(service.irc, IRCFactory)
        return service.irc.settings.sts_port

    key, cert = certificate
    assert sts_port("--irc", "tcp:6667") is None
    assert sts_port("--irc", "tcp:6667", "--irc",
                    f"ssl:6697:privateKey={key}:certKey={cert}") == 6697
