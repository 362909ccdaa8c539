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
    _refuse_conflicting_globals(globals_, head + hoisted)
    return head + hoisted + tail


def _refuse_conflicting_globals(globals_: dict[str, Any], tokens: list[str]) -> None:
    """A global option given twice with two values (`--as kari ... --as odd`) is refused: acting as
    whoever came last, silently, is how a careless command line acts as the wrong person."""
    from dataops_platform.errors import InvalidInput

    seen: dict[str, str] = {}
    i = 0
    while i < len(tokens):
        name, has_value, value = tokens[i].partition("=")
        param = globals_.get(name)
        if param is None or not _takes_value(param):
            i += 1
            continue
        if not has_value:
            value = tokens[i + 1] if i + 1 < len(tokens) else ""
        canonical = param.opts[0] if getattr(param, "opts", None) else name
        if canonical in seen and seen[canonical] != value:
            raise InvalidInput(
                f"{canonical} given twice ({seen[canonical]!r}, then {value!r}): give it once",
                field=canonical,
                value=value,
            )
        seen[canonical] = value
        i += 1 if has_value else 2
