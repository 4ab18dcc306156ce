"""The cyclic garbage collector paused while a diagnosis decodes and analyzes a namespace.

Every collection would walk the pods already held (10k pods are ~1M dicts), which made decoding them 2-3x slower;
refcounting still frees the rest. Only around the reading of the lists and the analysis: the waits between (a
container's next run, up to a minute) run with the collector on, as does the rest of the server.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_gc_lock = threading.Lock()
_gc_holders = 0
_gc_was_enabled = True


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic collection inside; the collector runs again once the last concurrent holder is done."""
    global _gc_holders, _gc_was_enabled
    with _gc_lock:
        if not _gc_holders:
            _gc_was_enabled = gc.isenabled()
        _gc_holders += 1
        gc.disable()
    try:
        yield
    finally:
        with _gc_lock:
            _gc_holders -= 1
            if not _gc_holders and _gc_was_enabled:
                gc.enable()
