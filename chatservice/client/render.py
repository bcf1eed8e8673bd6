"""
Classified lines into text for the terminal: plain, or with ANSI colours for
server lines, actions, notices, private messages and history.

The text is already clean (L{lines.sanitise}): the only escape sequences in
the output are the ones added here.
"""

from __future__ import annotations

import os
from typing import Mapping

from .lines import Kind, Line

RESET = "\x1b[0m"
BOLD = "\x1b[1m"

STYLES = {
    Kind.SERVER: "\x1b[36m",              # cyan
    Kind.NICK_PROMPT: "\x1b[1;36m",       # bold cyan
    Kind.PASSWORD_PROMPT: "\x1b[1;36m",
    Kind.ACTION: "\x1b[35m",              # magenta
    Kind.NOTICE: "\x1b[32m",              # green
    Kind.PRIVATE: "\x1b[1;33m",           # bold yellow
    Kind.OWN_PRIVATE: "\x1b[33m",         # yellow
    Kind.CLIENT: "\x1b[1;31m",            # bold red
}
HISTORY = "\x1b[2m"                       # dim


def render(line: Line, colour: bool) -> str:
    if not colour:
        return line.text
    style = STYLES.get(line.kind)
    if line.history:
        style = HISTORY + (style or "")
    if style:
        return f"{style}{line.text}{RESET}"
    if line.kind is Kind.MESSAGE and line.nick:
        # [#room] <nick> text: the nick in bold.
        tag = f"<{line.nick}>"
        at = line.text.find(tag)
        if at >= 0:
            end = at + len(tag)
            return f"{line.text[:at]}{BOLD}{tag}{RESET}{line.text[end:]}"
    return line.text


def use_colour(no_color_option: bool, stdout_is_terminal: bool,
               environ: Mapping[str, str] = os.environ) -> bool:
    """Colours unless C{--no-color}, a non-empty C{NO_COLOR}, or output that is not a terminal."""
    return not no_color_option and stdout_is_terminal and not environ.get("NO_COLOR")
