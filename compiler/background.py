"""Run one pure function in a forked process while the caller goes on.

A large build ends with work that runs in one process while the second core idles:
lowering the tables and encoding the scene records, which do not depend on each other.
`in_background` starts the second in a forked child (which shares the model without
pickling it) and hands back a function that collects its bytes. Anything that goes wrong
in the child (no fork on this platform, no process allowed, an exception, a crash) only
means the work is done in this process when it is collected: the result is the same.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def in_background(fn: Callable[[T], bytes], arg: T, worth_it: bool) -> Callable[[], bytes]:
    """`fn(arg)` computed in a forked child when `worth_it`; call the result to get it
    (the first call waits for the child and reaps it; later calls return the same bytes)."""
    if not worth_it or "fork" not in multiprocessing.get_all_start_methods():
        return lambda: fn(arg)
    context = multiprocessing.get_context("fork")
    try:
        receive, send = context.Pipe(duplex=False)
    except OSError:
        return lambda: fn(arg)
    child = context.Process(target=_child, args=(fn, arg, send), daemon=True)
    try:
        child.start()
    except (OSError, RuntimeError):  # no process allowed here: close the pipe, work inline
        receive.close()
        send.close()
        return lambda: fn(arg)
    send.close()
    done: list[bytes] = []

    def collect() -> bytes:
        if not done:
            try:
                data: bytes | None = receive.recv_bytes()
            except (EOFError, OSError):  # the child failed before sending: do it here
                data = None
            finally:
                receive.close()
                child.join()
            done.append(data if data is not None else fn(arg))
        return done[0]

    return collect


def _child(fn: Callable[[Any], bytes], arg: Any, send: Any) -> None:
    try:
        data = fn(arg)
    except BaseException:
        os._exit(1)  # the parent sees the pipe close and computes it itself
    send.send_bytes(data)
    send.close()
