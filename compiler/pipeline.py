"""The build pipeline: sources → checked model → lowered tables → artifact bytes.

Each stage reads only the previous stage's output. Diagnostics from every stage are
gathered in one bag so a single run reports everything it can.
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..dsl.diagnostics import Diagnostic, DiagnosticBag, SourceCache, Span, render
from ..runtime import ArtifactError, Ruleset, loads
from ..runtime import ruleset as ruleset_module
from ..runtime._core import json_array_items, json_values
from ..runtime.artifact import pack
from . import model as m
from .automaton import build_automaton
from .background import in_background
from .checker import check
from .lower import Lowered, collector_paused, lower, records_json
from .sources import load

VERSION = "0.1.0"
# From this many scenes on, the scene records are encoded in a forked process while this
# one lowers the tables: at 100k scenes that is ~2.8 s of a ~25 s build, off the critical
# path; below, the fork costs more than it saves.
BACKGROUND_RECORDS = 20_000


class CompileError(Exception):
    """The rules have errors; `diagnostics` holds all of them, rendered by str()."""

    def __init__(self, diagnostics: list[Diagnostic], sources: SourceCache) -> None:
        self.diagnostics = diagnostics
        self.sources = sources
        errors = [d for d in diagnostics if d.severity == "error"]
        super().__init__(f"{len(errors)} error(s) in the rules")

    def __str__(self) -> str:
        return "\n".join(render(d, self.sources) for d in self.diagnostics)


@dataclass
class Compiled:
    model: m.Model
    diagnostics: DiagnosticBag
    sources: SourceCache
    artifact: bytes | None = None
    ruleset: Ruleset | None = None
    examples: list = field(default_factory=list)  # examples.ExampleResult

    @property
    def ok(self) -> bool:
        return not self.diagnostics.errors

    def rendered(self) -> list[str]:
        return [render(d, self.sources) for d in self.diagnostics.sorted()]


# One rule path (file or folder), or several.
Paths = str | os.PathLike[str] | Iterable[str | os.PathLike[str]]


def path_list(paths: object) -> list[str]:
    """The rule paths of a build: one str or `os.PathLike` is one path. A str where a list
    was meant was read character by character, and its `/` is the root: the whole file
    system was walked for rule files. bytes are refused (a path list of bytes would need
    decoding the same way for the diagnostics that name them)."""
    if isinstance(paths, (bytes, bytearray)):
        raise TypeError("paths must be a str, an os.PathLike or a list of them, not bytes")
    if isinstance(paths, (str, os.PathLike)):
        return [os.fspath(paths)]
    out = []
    for p in paths:  # type: ignore[attr-defined]
        if not isinstance(p, (str, os.PathLike)) or isinstance(os.fspath(p), bytes):
            raise TypeError(f"paths must be a str, an os.PathLike or a list of them, "
                            f"not a list holding {type(p).__name__}")
        out.append(os.fspath(p))
    return out


def front_end(paths: Paths) -> Compiled:
    """Parse and check; no tables are built."""
    paths = path_list(paths)
    diags = DiagnosticBag()
    with collector_paused():
        sources = load(paths, diags)
        model = check(sources, diags)
    if not sources.files and not diags.errors:
        where = paths[0] if paths else "<no input>"
        diags.error("E504", "no .scene files found", Span.point(where, 1, 1),
                    "name .scene files or a folder that contains them")
    return Compiled(model, diags, sources.cache)


def artifact_bytes(model: m.Model, lowered: Lowered | None = None,
                   records: bytes | None = None) -> bytes:
    low = lowered or lower(model)
    tables = dict(low.tables)
    tables.update(build_automaton(low.auto_literals, low.signatures))
    meta = {
        "scenec": VERSION, "built": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "nlits": low.nlits, "nscenes": len(model.scenes), "senders": low.sender_ids,
        "context": model.context, "enterprises": model.enterprises,
    }
    scenes = records if records is not None else records_json(model)
    return pack(tables, {"meta": meta, "scenes": scenes})


def compile_paths(paths: Paths, *, run_examples: bool = True, strict: bool = False) -> Compiled:
    """Everything `scenec build` does except writing the file."""
    with collector_paused():
        return _compile(path_list(paths), run_examples, strict)


def _compile(paths: list[str], run_examples: bool, strict: bool) -> Compiled:
    result = front_end(paths)
    if result.diagnostics.errors:
        return result
    records = in_background(records_json, result.model,
                            len(result.model.scenes) >= BACKGROUND_RECORDS)
    try:
        low = lower(result.model)
        for s in low.unanchored:
            result.diagnostics.warning(
                "W001", f"scene '{s.id}' has no literal to anchor on; it is checked for every "
                "message", s.span, "add a sender, a template or a required keyword")
        encoded = records()
        if _oversized_records(result.model, encoded, result.diagnostics):
            return result
        result.artifact = artifact_bytes(result.model, low, encoded)
    finally:
        records()  # reaps the child even if lowering failed; the bytes once collected
    try:
        result.ruleset = loads(result.artifact)
    except ArtifactError as exc:  # a check above missed something the runtime refuses
        result.artifact = None
        where = result.sources.files()[0] if result.sources.files() else "<no input>"
        result.diagnostics.error("E915", f"the runtime would refuse this build's artifact: "
                                 f"{exc}", Span.point(where, 1, 1),
                                 "split the rule set into several builds")
        return result
    if run_examples:
        from .examples import run_examples as run

        result.examples = run(result.model, result.ruleset, result.diagnostics)
    if strict:
        result.diagnostics.promote_warnings("(--strict)")
    return result


def _oversized_records(model: m.Model, encoded: bytes, diags: DiagnosticBag) -> bool:
    """E915 for every scene whose record holds more JSON values than the runtime reads
    (`ruleset.MAX_RECORD_VALUES`: it refuses larger ones, which only a crafted artifact
    has). Tags, meta entries, `in` values and comparisons have no limit of their own, and
    900,000 tags ended `scenec check` in a traceback when it loaded its own artifact."""
    limit = ruleset_module.MAX_RECORD_VALUES
    try:
        json_array_items(encoded, limit)
        return False
    except ValueError:  # some record holds more: find them all
        pass
    spans = json_array_items(encoded)
    for i, scene in enumerate(sorted(model.scenes, key=m.Scene.rank_key)):
        values = json_values(encoded[spans[2 * i]:spans[2 * i + 1]])
        if values > limit:
            diags.error("E915", f"scene '{scene.id}' is too big for the runtime: its record "
                        f"holds {values:,} JSON values; the limit is {limit:,}", scene.span,
                        "use fewer tags, meta entries, `in` values or conditions, or "
                        "split the scene")
    return True


def compile_files(paths: Paths, *, run_examples: bool = False) -> Ruleset:
    """Compile in memory; raises CompileError with every diagnostic on failure."""
    result = compile_paths(path_list(paths), run_examples=run_examples)
    if result.diagnostics.errors or result.ruleset is None:
        raise CompileError(result.diagnostics.sorted(), result.sources)
    return result.ruleset


def build(paths: Paths, out: str, *, strict: bool = False,
          run_examples: bool = True) -> Compiled:
    """Compile and write `out` atomically; nothing is written when there is an error.

    Problems in the rules are diagnostics in the result; an `out` that cannot be written
    (missing folder, a directory, no permission) raises OSError, leaving no file behind."""
    result = compile_paths(path_list(paths), run_examples=run_examples, strict=strict)
    if result.diagnostics.errors or result.artifact is None or _no_scene(result):
        return result
    target = os.path.realpath(out)
    if target.endswith(".scene") or any(os.path.realpath(f) == target
                                        for f in result.sources.files()):
        # `-o rules/x.scene` (a slip of the tab key) would replace a rule file by the
        # binary, or put one where the next build reads rules
        raise OSError(errno.EINVAL, "is a rule file or one of the files being built; "
                      "write the artifact to a .scb file", out)
    write_atomic(out, result.artifact)
    return result


def _no_scene(result: Compiled) -> bool:
    """E603 when rule files define no scene: emptied by a failed checkout or a full disk,
    or every scene commented out, they built an artifact that matches nothing, and a
    service's `Handle.reload` swapped it in. `check` still passes such files (a file of
    word sets alone is checked on its own); only an artifact of them is refused. A code
    of its own: it was E504, which says a file could not be read, and every file was."""
    if result.model.scenes:
        return False
    files = [f for f in result.sources.files() if f.endswith(".scene")] or \
        result.sources.files()
    where = files[0] if files else "<no input>"
    result.diagnostics.error(
        "E603", f"no scene is defined in the {len(files)} file(s) read: the artifact "
        "would match nothing", Span.point(where, 1, 1),
        "define a scene, or check the files are not empty or cut short (a failed "
        "checkout, a full disk); nothing was written")
    result.artifact = None
    return True


def write_atomic(path: str, data: bytes) -> None:
    """Write beside the target, fsync, then rename: a reader sees the old file or the new.

    Only a regular file (or a new name) is replaced: renaming over `/dev/null` or a FIFO
    would put a file where a device was (as root, in /dev); a symlink is followed, so the
    file it points to is replaced and the link stays."""
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
    if path.endswith(("/", os.sep)) or os.path.basename(path) in (".", ".."):
        # `out.scb/` names a folder: realpath drops the slash, and a file `out.scb` was
        # written where `open` would refuse
        raise IsADirectoryError(errno.EISDIR, "names a directory, not a file", path)
    if os.path.exists(path) and not os.path.isfile(path):
        raise OSError(errno.EINVAL, "not a regular file", path)
    path = os.path.realpath(path)
    folder = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".scenec-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            # mkstemp makes the file 0600: give it the mode of the file it replaces, or
            # the one a new file gets, so that a service under another user can read it.
            os.fchmod(f.fileno(), _mode_for(path))
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _mode_for(path: str) -> int:
    try:
        return os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask
