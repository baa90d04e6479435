"""Parse the named files of a big build in parallel, before `sources.load` walks them.

Parsing is the largest part of a large build's work (100k scenes: ~8 s of CPU, and ~0.3 s
a file to move an AST between processes), and files parse independently, so worker
processes parse the files named on the command line (and this process, instead of only
waiting, the ones no worker has started: see `_parse_shared`) while the walk stays
sequential and unchanged. Only clean parses are handed over: a file with any diagnostic
is parsed again in order by the walk, so error recovery, its shared budget and the order
of diagnostics are exactly those of a sequential build. A parse is used only if the text
the walk reads is the text the worker parsed (same digest).
"""

from __future__ import annotations

import errno
import hashlib
import multiprocessing
import os
import stat
from concurrent.futures import Future, ProcessPoolExecutor
from typing import BinaryIO

from ..dsl import ast
from ..dsl.diagnostics import DiagnosticBag
from ..dsl.parser import parse_text

MIN_PARALLEL_BYTES = 1 << 20  # below this, starting workers costs more than it saves

Parsed = dict[str, tuple[bytes, ast.File]]  # realpath -> (digest of the text, its AST)


def digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def prefetch(paths: list[str], max_file_bytes: int) -> Parsed:
    """Clean parses of `paths` (files only), by worker processes; {} when not worth it."""
    sizes = {p: _size(p, max_file_bytes) for p in dict.fromkeys(paths)}
    files = [p for p, size in sizes.items() if size > 0]
    workers = min(len(files), os.cpu_count() or 1)
    if workers < 2 or sum(sizes.values()) < MIN_PARALLEL_BYTES:
        return {}
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    try:
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            done = _parse_shared(files, [pool.submit(_parse_clean, p, max_file_bytes)
                                         for p in files], max_file_bytes)
    except (OSError, RuntimeError):  # no processes here: the walk parses everything
        return {}
    return {os.path.realpath(p): r for p, r in zip(files, done, strict=True) if r is not None}


def _parse_shared(files: list[str], futures: list[Future], limit: int) -> list:
    """Every file's `_parse_clean` result. The workers take files from the front; this
    process, which would otherwise only wait, parses from the back each file that no
    worker has started (its future can still be cancelled). A file parsed here is not
    pickled to cross from a worker (pickling and unpickling an AST cost about two thirds
    as much as parsing its file)."""
    results: list = [_PENDING] * len(files)
    for i in range(len(files) - 1, -1, -1):
        if not futures[i].cancel():
            break
        results[i] = _parse_clean(files[i], limit)
    return [f.result() if r is _PENDING else r for f, r in zip(futures, results, strict=True)]


_PENDING = object()


def _size(path: str, limit: int) -> int:
    """The file's size if it is a regular file within the limit, else 0 (the walk reports)."""
    try:
        size = os.path.getsize(path) if os.path.isfile(path) else 0
    except OSError:
        return 0
    return size if size <= limit else 0


class NotRegular(OSError):
    """What `open_regular` opened is no regular file (a FIFO, a device, a folder)."""


def open_regular(path: str) -> BinaryIO:
    """`path` opened for reading, if what is opened is a regular file; else NotRegular.
    A file looked at by name and then opened by name may have been replaced in between
    (a rules folder someone else writes to): opened as it was, a FIFO blocked the build
    forever. So the open does not wait for a writer, and the kind is read from the open
    file itself."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegular(errno.EINVAL, "not a regular file")
        if flags & getattr(os, "O_NONBLOCK", 0):  # reads of a regular file do not block
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _parse_clean(path: str, limit: int) -> tuple[bytes, ast.File] | None:
    """A file's clean parse, or None (the walk reads it again and reports). At most
    `limit` bytes are read: a file that grew since its size was taken is the walk's."""
    try:
        with open_regular(path) as f:
            raw = f.read(limit + 1)
        if len(raw) > limit:
            return None
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except (OSError, UnicodeDecodeError):
        return None
    diags = DiagnosticBag()
    parsed = parse_text(path, text, diags)
    return None if diags.items else (digest(text), parsed)
