"""
IRC commands: a declarative table checked before any handler runs.

The table (L{COMMANDS}, L{Command}, the L{command} decorator and L{run}) is
in L{table}; each module here registers its commands into it, by subject:

 - L{registration}: CAP, PASS, NICK, USER, PING, PONG, QUIT, AWAY;
 - L{channels}: JOIN, PART, TOPIC, KICK, INVITE, MODE;
 - L{messages}: PRIVMSG, NOTICE, TAGMSG;
 - L{queries}: NAMES, WHOIS, WHOWAS, ISON, USERHOST;
 - L{who}: WHO, with WHOX;
 - L{listing}: LIST, with the ELIST filters;
 - L{monitor}: MONITOR;
 - L{setname}: SETNAME;
 - L{operators}: OPER, KILL, WALLOPS, REHASH;
 - L{serverinfo}: MOTD, LUSERS, VERSION, TIME, INFO, HELP;
 - L{files}: UPLOAD, DELETEFILE;
 - L{redaction}: REDACT (draft/message-redaction);
 - L{rename}: RENAME (draft/channel-rename);
 - L{readmarker}: MARKREAD (draft/read-marker);
 - L{metadata}: METADATA (draft/metadata);
 - L{accounts}: AUTHENTICATE, REGISTER, VERIFY (and PASS account:password);
 - L{tokens}: TOKEN (login tokens, for the web page's "remember me");
 - L{nickserv}: NICKSERV and NS, and PRIVMSG NickServ (from L{messages});
 - L{chanserv}: CHANSERV and CS, and PRIVMSG ChanServ (from L{messages}).

L{common} holds the helpers they share.  CHATHISTORY and SEARCH register
from L{chatservice.frontends.irc.history}.  Importing this package imports
every module, so the table is complete; the names below are re-exported so
that C{from chatservice.frontends.irc.commands import X} keeps working.
"""

from .table import COMMANDS, Command, Handler, command, run
from .registration import (
    CAPABILITIES, HISTORY_CAPABILITIES, away, cap, capabilities, nick, pass_, ping, pong,
    quit_, user_)
from .channels import (
    MAX_KICK_TARGETS, invite, join, kick, mode, part, send_names, send_topic, topic)
from .messages import MAX_MESSAGE_TARGETS, notice, privmsg, tagmsg
from .queries import ison, names_, userhost, whois, whowas
from .who import who
from .listing import list_
from .monitor import monitor
from .setname import setname
from .operators import kill, oper, rehash, wallops
from .files import deletefile, upload
from .redaction import redact
from .rename import rename
from .readmarker import markread
from .metadata import metadata_
from . import accounts, chanserv, nickserv, tokens
from .serverinfo import (
    VERSION, help_, info, lusers, motd, send_isupport, send_lusers, send_motd, time,
    version)

__all__ = [
    "CAPABILITIES", "COMMANDS", "accounts", "chanserv", "nickserv", "tokens", "Command", "HISTORY_CAPABILITIES", "Handler",
    "MAX_KICK_TARGETS", "MAX_MESSAGE_TARGETS", "VERSION", "away", "cap", "capabilities",
    "command", "deletefile", "help_", "info", "invite", "ison", "join", "kick", "kill", "list_",
    "lusers", "markread", "metadata_", "mode", "monitor", "motd", "names_", "nick", "notice",
    "oper", "part", "pass_", "ping", "pong", "privmsg", "quit_", "redact", "rehash", "rename",
    "run", "send_isupport", "send_lusers", "send_motd", "send_names", "send_topic", "setname",
    "tagmsg", "time", "topic", "upload", "user_", "userhost", "version", "wallops",
    "who", "whois", "whowas",
]
