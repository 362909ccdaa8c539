"""Python's cyclic garbage collector paused while an artifact is built, parsed or judged.

Building or parsing a large artifact allocates millions of dicts and lists while the process
already holds millions more (the artifacts parsed before it). Every time the objects alive grow by
a quarter the collector walks all of them: at a million objects that made `dataset_versions` and
`audit_log` three to four times slower (measured: 8.1 s against 2.5 s and 6.4 s against 1.5 s with
300k objects' artifacts held). None of that work frees anything: records are freed by their
reference counts, and what they build holds no cycles. So the collector is off inside these
regions and back on (as it was) when the outermost one ends; a cycle made meanwhile is collected
later, as usual.
"""

from __future__ import annotations

import ctypes
import gc
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def paused() -> Iterator[None]:
    """Collector off for the block; regions nest, and the last one out restores what was before."""
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()


_libc: list[Any] = []  # [glibc's malloc_trim, or None where there is none], looked up once


def give_back() -> None:
    """Hand the heap's free pages back to the system (glibc's `malloc_trim`; nothing elsewhere).

    A step builds or reads an artifact of millions of objects and frees most of them, but glibc
    keeps the freed pages, so the process's resident memory only ever grew from step to step: the
    run's peak was the sum of its steps' high-water marks rather than the largest of them. Called
    when a step ends and no other is running (a few milliseconds). pyarrow's pool likewise."""
    if not _libc:
        trim = None
        if sys.platform.startswith("linux"):
            try:
                trim = ctypes.CDLL(None).malloc_trim
                trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
            except (OSError, AttributeError):  # musl and other libcs have none
                trim = None
        _libc.append(trim)
    if _libc[0] is not None:
        _libc[0](0)
    arrow = sys.modules.get("pyarrow")  # the projections' columns come from pyarrow's own pool, which keeps freed pages too
    if arrow is not None:
        arrow.default_memory_pool().release_unused()
