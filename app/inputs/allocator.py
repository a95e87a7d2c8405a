"""glibc's malloc tuned for two kinds of work: serving images, and decoding untrusted ones.

- Serving (the normal state): the buffers of a request for a large image (the upstream body,
  the decoded bytes, base64 for the client; 3 to 4 MB each) come from the heap and are reused
  from one request to the next. Served from fresh ``mmap`` instead, each costs about a thousand
  page faults (measured: 1825 to 3360 faults and 60% kernel time per 3 MB image). Blocks up to
  ``SERVING_MMAP_THRESHOLD`` stay in the heap, and the heap keeps up to ``SERVING_TRIM_THRESHOLD``
  free at its top (glibc's own dynamic rule keeps twice the largest block it saw freed).
- Decoding (while :class:`~app.inputs.decoding.Decoder` holds any of its budget): blocks of
  ``DECODING_MMAP_THRESHOLD`` and more come straight from the OS, so freeing a decoded bitmap or
  band returns its memory at once. In the heap they would stay with the per-thread arenas:
  measured with sixteen 200 MB decodes, RSS stayed at 305 MB afterwards instead of 105 MB.

The thresholds are process-wide; :func:`decoding` and :func:`serving` switch between them as the
first decode starts and the last one ends (both called on the event loop). An operator's own
``MALLOC_MMAP_THRESHOLD_`` wins: glibc read it at start, and nothing here changes it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
from typing import Any

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
ARENA_MAX = 2  # the event loop's heap and one for every worker thread: fewer heaps to keep
SERVING_MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's own ceiling for its dynamic threshold
SERVING_TRIM_THRESHOLD = 32 * 1024 * 1024
DECODING_MMAP_THRESHOLD = 1024 * 1024
DECODING_TRIM_THRESHOLD = 128 * 1024  # glibc's default


@functools.cache
def _glibc_function(name: str) -> Any:
    library = ctypes.util.find_library("c")
    return getattr(ctypes.CDLL(library), name, None) if library else None


@functools.cache
def _tunable() -> bool:
    return "MALLOC_MMAP_THRESHOLD_" not in os.environ and _glibc_function("mallopt") is not None


def _set(mmap_threshold: int, trim_threshold: int) -> None:
    if _tunable():
        mallopt = _glibc_function("mallopt")
        mallopt(_M_MMAP_THRESHOLD, mmap_threshold)
        mallopt(_M_TRIM_THRESHOLD, trim_threshold)
        mallopt(_M_ARENA_MAX, ARENA_MAX)


def serving() -> None:
    """Large request buffers from the heap, reused (the state between decodes)."""
    _set(SERVING_MMAP_THRESHOLD, SERVING_TRIM_THRESHOLD)


def decoding() -> None:
    """Blocks of 1 MB and more straight from the OS: freed, they leave RSS at once."""
    _set(DECODING_MMAP_THRESHOLD, DECODING_TRIM_THRESHOLD)


def release_memory() -> None:
    """Hand freed heap pages back to the OS (glibc ``malloc_trim``); a no-op elsewhere."""
    trim = _glibc_function("malloc_trim")
    if trim is not None:
        trim(0)
