"""Global options (--home, --as, --json, --verbose) anywhere on the command line.

Click takes a group's options only before its subcommand, so `dataops experiment list --json`
was refused. `hoist_global_options` moves every global option found after the command to just
before it, walking the real command tree so that an option value is never mistaken for an option
(`--summary --json` stays the summary text "--json") and a command's own option of the same name,
should one ever exist, keeps it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _options(command: Any) -> dict[str, Any]:
    """Every option spelling of a command (`--x`, `--no-x`, `-x`) -> its parameter."""
    out = {}
    for param in getattr(command, "params", ()):
        for spelling in (*getattr(param, "opts", ()), *getattr(param, "secondary_opts", ())):
            if spelling.startswith("-"):
                out[spelling] = param
    return out


def _takes_value(param: Any) -> bool:
    return not (getattr(param, "is_flag", False) or getattr(param, "count", False))


def hoist_global_options(root: Any, argv: Sequence[str]) -> list[str]:
    """`argv` with the root command's options that follow a subcommand moved in front of it, in
    the order given (so the last one given still wins). Everything else keeps its place."""
    argv = list(argv)
    globals_ = _options(root)
    head: list[str] = []  # the root's own part, up to the first subcommand
    hoisted: list[str] = []
    tail: list[str] = []
    command, i = root, 0
    while i < len(argv):
        token = argv[i]
        if token == "--":  # everything after is positional
            (tail if command is not root else head).extend(argv[i:])
            break
        name, has_value, _ = token.partition("=")
        own = _options(command)
        if command is not root and name not in own and name in globals_:
            width = 1 if has_value or not _takes_value(globals_[name]) else 2
            hoisted.extend(argv[i : i + width])
            i += width
            continue
        out = head if command is root else tail
        if name in own and not has_value and _takes_value(own[name]):
            out.extend(argv[i : i + 2])  # the option and its value, whatever the value looks like
            i += 2
            continue
        subcommands = getattr(command, "commands", None)
        if subcommands and not token.startswith("-") and token in subcommands:
            command = subcommands[token]
            tail.append(token)
        else:
            out.append(token)
        i += 1
    return head + hoisted + tail
