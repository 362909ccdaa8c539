"""The one rule for text the platform accepts, on every field and interface (SPEC §13).

Text must be encodable as UTF-8 and hold no NUL: a lone surrogate (what invalid UTF-8 in a
command-line argument or a JSON escape such as "\\ud800" decodes to) cannot be written as UTF-8,
so once stored it breaks every listing that shows it; NUL is refused by PostgreSQL's text columns
and by file paths. The CLI, the REST API and the store itself (a flush check) all apply this rule.
"""

from __future__ import annotations

from typing import Any

from dataops_platform.errors import InvalidInput

MAX_NESTING = 64


def text_problem(value: str) -> str | None:
    """Why `value` is not acceptable text, or None."""
    nul = value.find("\x00")
    if nul >= 0:
        return f"contains a NUL character (U+0000) at position {nul}"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = value[exc.start]
        if 0xDC80 <= ord(bad) <= 0xDCFF:  # how Python decodes an undecodable byte of argv or a file name
            return f"is not valid UTF-8 (byte 0x{ord(bad) - 0xDC00:02x} at position {exc.start})"
        return f"is not valid UTF-8 (lone surrogate U+{ord(bad):04X} at position {exc.start})"
    return None


def find_bad_text(value: Any, where: str, depth: int = 0) -> tuple[str, str] | None:
    """(path, problem) of the first unacceptable text in `value` (text, or lists and dicts of it)."""
    if isinstance(value, str):
        problem = text_problem(value)
        return (where, problem) if problem else None
    if depth > MAX_NESTING:
        return where, f"is nested more than {MAX_NESTING} levels deep"
    if isinstance(value, dict):
        pairs: Any = value.items()
    elif isinstance(value, (list, tuple)):
        pairs = enumerate(value)
    else:
        return None
    for key, item in pairs:
        if isinstance(key, str) and (problem := text_problem(key)):
            return f"{where} key {key!r}", problem
        found = find_bad_text(item, f"{where}.{key}" if isinstance(key, str) else f"{where}[{key}]", depth + 1)
        if found:
            return found
    return None


def check_text(value: Any, field: str) -> None:
    """Raise InvalidInput naming `field` when `value` holds unacceptable text anywhere."""
    found = find_bad_text(value, field)
    if found is not None:
        where, problem = found
        raise InvalidInput(f"{where} {problem}; send UTF-8 text without NUL characters", field=where, value=None)


def plural(count: int, word: str, many: str | None = None) -> str:
    """`1 experiment`, `3 experiments` (`many` for irregular plurals), counts over 999 with separators:
    one wording for every count the CLI and the report print."""
    return f"{count:,} {word if count == 1 else many or word + 's'}"
