"""
End to end with WeeChat (Debian's weechat-curses) in a terminal (tmux),
against a real C{twistd -n chat}: it logs in with SASL PLAIN, joins, talks,
receives and answers a private message and quits, with a line
user on the other side; the private conversation is then in the account's
history.
"""

from __future__ import annotations

import re
import shutil

import pytest

from irc_client_helpers import Tmux, terminal_env
from server import HOST, assert_terminal_safe, join_announcement
from test_e2e_accounts import add_account


@pytest.fixture
def tmux(tmp_path):
    missing = [program for program in ("weechat", "tmux") if shutil.which(program) is None]
    assert not missing, f"{' and '.join(missing)} not installed (tests/run.sh installs them)"
    terminal = Tmux(tmp_path)
    yield terminal
    terminal.stop()


def test_weechat_logs_in_with_sasl_and_chats_with_a_line_user(start_server, tmux, tmp_path):
    """
    WeeChat logs in to an account with SASL PLAIN, joins #lobby, talks (UTF-8
    too), acts, gets and answers a private message and quits; a line user
    sees all of it, and WeeChat's screen shows the line user's message, topic
    and private message, each in its buffer.
    """
    server = start_server(irc=1)
    add_account(server, "wendy", "wendy's pass")
    liz = server.user("liz")

    home = tmp_path / "weechat-home"
    home.mkdir()
    tmux.start(["weechat", "--dir", str(home / "weechat")], terminal_env(home))
    tmux.wait_for("Plugins loaded")
    tmux.send_line(f"/server add local {HOST}/{server.irc_ports[0]} -notls -nicks=wendy "
                   "-sasl_mechanism=plain -sasl_username=wendy -autojoin=#lobby")
    tmux.send_line("/set irc.server.local.sasl_password \"wendy's pass\"")
    tmux.send_line("/set irc.server.local.sasl_fail disconnect")
    # Stay on the server's buffer to read the login; go to #lobby after.
    tmux.send_line("/set irc.look.buffer_switch_autojoin off")
    tmux.send_line("/connect local")
    tmux.wait_for("You are now logged in as wendy")
    tmux.wait_for("SASL authentication successful")
    tmux.wait_for("Welcome to the chatservice IRC network, wendy!")

    liz.read_until(join_announcement("wendy"), timeout=15)
    tmux.send_line("/buffer #lobby")
    tmux.wait_for(re.compile(r"Channel #lobby: 2 nicks"))

    tmux.send_line("hello from weechat ✓")
    liz.read_until("[#lobby] <wendy> hello from weechat ✓\r\n", timeout=15)
    tmux.send_line("/me waves from weechat")
    liz.read_until("[#lobby] * wendy waves from weechat\r\n", timeout=15)

    liz.send_line("hi weechat, from the line")
    tmux.wait_for(re.compile(r"liz \| hi weechat, from the line"))
    liz.send_line("/topic Line and WeeChat ✓")
    tmux.wait_for('liz has changed topic for #lobby to "Line and WeeChat ✓"')

    liz.send_line("/msg wendy psst, private")
    tmux.send_line("/buffer liz")
    tmux.wait_for(re.compile(r"liz \| psst, private"))
    tmux.send_line("private answer")
    liz.read_until("[private] <wendy> private answer\r\n", timeout=15)

    tmux.send_line("/quit bye from weechat")
    liz.read_until("*** wendy quit (Quit: bye from weechat)\r\n", timeout=15)
    tmux.wait_exited()
    assert_terminal_safe(liz.transcript)

    # The conversation is kept for wendy's account (liz has none).
    wendy = server.connect("wendy-again")
    wendy.read_prompt()
    wendy.send_line("wendy")
    wendy.read_until(b"Password")
    wendy.send_line("wendy's pass")
    wendy.read_until(b"*** You are logged in as wendy.")
    wendy.send_line("/history liz")
    wendy.read_until(b"*** The last 2 private messages with liz")
    wendy.read_until(b"[private] <liz> psst, private")
    wendy.read_until(b"[to liz] <wendy> private answer")
