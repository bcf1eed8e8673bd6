"""
Server information: MOTD, LUSERS, VERSION (with ISUPPORT), TIME, INFO,
HELP and HELPOP (topics in L{helptext}), and the welcome burst's ISUPPORT,
LUSERS and MOTD replies.
"""

from __future__ import annotations

import time as _time
from typing import TYPE_CHECKING

from .... import __version__
from ....core import names
from ....core.hub import ROOMS_PER_USER, TOPIC_MAX_LENGTH, User
from ....core.monitor import WATCH_LIMIT
from .. import numerics as N
from ..wire import Message
from . import metadata
from .channels import MAX_KICK_TARGETS
from .common import _chunks
from .helptext import TOPICS
from .listing import ELIST
from .messages import MAX_MESSAGE_TARGETS
from .table import COMMANDS, command

if TYPE_CHECKING:
    from ..protocol import IRCConnection


VERSION = f"chatservice-{__version__}"


def send_isupport(conn: IRCConnection) -> None:
    tokens = [
        f"AWAYLEN={300}",
        "BOT=B",
        "CASEMAPPING=rfc1459",
        f"CHANLIMIT=#:{ROOMS_PER_USER}",
        "CHANMODES=Ibe,k,l,Cimnst",
        f"CHANNELLEN={names.ROOM_MAX_LENGTH}",
        "CHANTYPES=#",
        f"ELIST={ELIST}",
        "EXCEPTS=e",
        "EXTBAN=,m",
        "INVEX=I",
        "KICKLEN=300",
        metadata.ISUPPORT,
        "MODES=4",
        f"MONITOR={WATCH_LIMIT}",
        f"NETWORK={conn.hub.name}",
        f"NICKLEN={names.NICK_MAX_LENGTH}",
        "PREFIX=(ov)@+",
        f"TARGMAX=JOIN:,KICK:{MAX_KICK_TARGETS},LIST:,NAMES:,NOTICE:{MAX_MESSAGE_TARGETS},PART:,"
        f"PRIVMSG:{MAX_MESSAGE_TARGETS},WHOIS:1",
        "STATUSMSG=@+",
        f"TOPICLEN={TOPIC_MAX_LENGTH}",
        "USERLEN=11",
        "UTF8ONLY",
        "WHOX",
    ]
    history = conn.hub.history
    if history is not None:
        tokens += [f"CHATHISTORY={history.max_limit}", "MSGREFTYPES=timestamp,msgid"]
    if conn.hub.files is not None:
        tokens.append(f"draft/FILEHOST={conn.hub.files.base_url}/upload")
    tokens.sort()
    for start in range(0, len(tokens), 13):
        conn.numeric(N.RPL_ISUPPORT, *tokens[start:start + 13],
                     "are supported by this server")


def send_lusers(conn: IRCConnection) -> None:
    hub = conn.hub
    invisible = hub.invisible_count
    opers = hub.operator_count
    total = hub.user_count
    peak = max(hub.peak_user_count, total)
    conn.numeric(N.RPL_LUSERCLIENT,
                 f"There are {total - invisible} users and {invisible} invisible on 1 servers")
    conn.numeric(N.RPL_LUSEROP, str(opers), "operator(s) online")
    conn.numeric(N.RPL_LUSERCHANNELS, str(len(hub.rooms())), "channels formed")
    conn.numeric(N.RPL_LUSERME, f"I have {total} clients and 0 servers")
    conn.numeric(N.RPL_LOCALUSERS, str(total), str(peak),
                 f"Current local users {total}, max {peak}")
    conn.numeric(N.RPL_GLOBALUSERS, str(total), str(peak),
                 f"Current global users {total}, max {peak}")


def send_motd(conn: IRCConnection) -> None:
    motd = conn.factory.settings.motd
    if not motd:
        conn.numeric(N.ERR_NOMOTD, "MOTD File is missing")
        return
    conn.numeric(N.RPL_MOTDSTART, f"- {conn.server} Message of the day - ")
    for text_line in motd:
        conn.numeric(N.RPL_MOTD, f"- {text_line}")
    conn.numeric(N.RPL_ENDOFMOTD, "End of /MOTD command.")


@command("MOTD")
def motd(conn: IRCConnection, user: User, message: Message) -> None:
    send_motd(conn)


@command("LUSERS")
def lusers(conn: IRCConnection, user: User, message: Message) -> None:
    send_lusers(conn)


@command("VERSION")
def version(conn: IRCConnection, user: User, message: Message) -> None:
    conn.numeric(N.RPL_VERSION, VERSION, conn.server, "A multi-protocol chat server")
    send_isupport(conn)


@command("TIME")
def time(conn: IRCConnection, user: User, message: Message) -> None:
    now = conn.clock.seconds()
    conn.numeric(N.RPL_TIME, conn.server,
                 _time.strftime("%A %B %d %Y -- %H:%M:%S +00:00", _time.gmtime(now)))


@command("INFO")
def info(conn: IRCConnection, user: User, message: Message) -> None:
    for text_line in (f"{VERSION}: a multi-protocol chat server built on Twisted.",
                      "Line chat, IRC and (soon) the web share one set of rooms."):
        conn.numeric(N.RPL_INFO, text_line)
    conn.numeric(N.RPL_ENDOFINFO, "End of /INFO list")


@command("HELP")
def help_(conn: IRCConnection, user: User, message: Message) -> None:
    """The command list, or one command's syntax and purpose (704, 705..., 706)."""
    subject = message.params[0].upper() if message.params else ""
    topic = TOPICS.get(subject) if subject in COMMANDS else None
    if subject and topic is None:
        conn.numeric(N.ERR_HELPNOTFOUND, subject, "No help available on this topic")
        return
    key = subject or "*"
    if topic is not None:
        text_lines = [f"{subject}: {topic[0]}", *topic[1:]]
    else:
        text_lines = ["Commands (HELP <command> for one):"] + [
            " ".join(chunk) for chunk in _chunks(sorted(COMMANDS), 300)]
    conn.numeric(N.RPL_HELPSTART, key, text_lines[0])
    for text_line in text_lines[1:]:
        conn.numeric(N.RPL_HELPTXT, key, text_line)
    conn.numeric(N.RPL_ENDOFHELP, key, "End of /HELP")


command("HELPOP")(help_)
