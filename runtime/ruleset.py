"""`Ruleset`: a loaded artifact, and `match` / `best` / `match_many` over it.

The compiled core finds the candidate scenes of a message (scan, anchors, condition
programs); only those reach Python, where `evaluate.SceneRunner` finishes them.
"""

from __future__ import annotations

import datetime as dt
import os
import stat
from array import array
from collections.abc import Iterable, Mapping
from typing import Any

from ._core import Core, Matcher, json_array_items, json_values, untrack_results
from .artifact import (
    HEADER_SIZE,
    ArtifactError,
    RawJSON,
    Sections,
    parse_json,
    payload_length,
    unpack,
    wrong_length,
)
from .evaluate import Patterns, SceneRunner
from .match import Match
from .senders import dlt_header, sender_text

_REQUIRED_JSON = ("meta", "scenes")
MAX_ARTIFACT_BYTES = 1 << 30
MAX_THREADS = 1 << 10  # a larger `threads` is taken as this (the core uses at most 64)
# JSON values (`_core.json_values`) of the meta section and of one scene record. Parsed,
# each is a Python object of ~30-100 bytes: a crafted 30 MB artifact of `[[],[],…]` took
# 820 MB to load, which at the 1 GiB file limit would end the service. A build writes
# two per sender into meta (at most ~2 million distinct senders fit E908; the 100k
# workload has 99,534 values) and a few per literal into a record (E903 allows 2,000;
# the shipped library's largest record has 4,173 values).
MAX_META_VALUES = 5_000_000
MAX_RECORD_VALUES = 100_000


def core_tables(tables: dict[str, Any]) -> dict[str, Any]:
    """Turn the stored ``ac_class_pairs`` into the core's dense BMP table and astral pairs.

    The core validates class ids and the astral order; here only the code points are checked,
    since they index the BMP table.
    """
    pairs = tables.pop("ac_class_pairs", None)
    if pairs is None:
        raise ValueError("table ac_class_pairs: missing")
    if len(pairs) % 2:
        raise ValueError("table ac_class_pairs: odd length")
    if len(pairs) > 2 * 0x110000:  # read below in a Python loop: bounded before it
        raise ValueError(f"table ac_class_pairs: {len(pairs) // 2} pairs, more pairs than "
                         "there are code points")
    bmp = array("i", bytes(4 * 0x10000))
    astral = array("i")
    for cp, cls in zip(pairs[0::2], pairs[1::2], strict=True):
        if not 0 <= cp <= 0x10FFFF:
            raise ValueError(f"table ac_class_pairs: code point {cp} out of range")
        if cp < 0x10000:
            bmp[cp] = cls
        else:
            astral.extend((cp, cls))
    tables["ac_class_bmp"], tables["ac_class_astral"] = memoryview(bmp), memoryview(astral)
    return tables


class Records:
    """The artifact's scene records, each parsed from its JSON on first use.

    Parsing 100k records at load took 1.8 s and 300 MB; a service only ever needs the
    records of scenes that match. `json_array_items` checks the section's shape and finds
    each record's bytes at load; a record whose JSON is bad (possible only in a crafted
    artifact with a valid checksum) raises ValueError when used, and that scene is
    treated as broken, like any other malformed record.
    """

    def __init__(self, section: Any) -> None:
        if isinstance(section, RawJSON):
            self._body: memoryview | None = section.body
            self._spans = array("q", json_array_items(section.body, MAX_RECORD_VALUES))
            self._parsed: list[Any] | None = None
        elif isinstance(section, list):  # an already parsed section (`loads` of sections)
            self._body, self._spans, self._parsed = None, array("q"), section
        else:
            raise ArtifactError("artifact lacks its meta or scenes section")

    def __len__(self) -> int:
        return len(self._parsed) if self._parsed is not None else len(self._spans) // 2

    def __getitem__(self, i: int) -> dict:
        if self._parsed is not None:
            rec = self._parsed[i]
        else:
            assert self._body is not None
            rec = parse_json(self._body[self._spans[2 * i]:self._spans[2 * i + 1]])
        if not isinstance(rec, dict):
            raise ValueError(f"scene record {i} is not an object")
        return rec


class Ruleset:
    """An immutable compiled rule set; safe to share between threads."""

    def __init__(self, sections: Sections, source: str = "<memory>") -> None:
        meta, scenes = (sections.get(k) for k in _REQUIRED_JSON)
        if isinstance(meta, RawJSON):
            meta = _parse_meta(meta)
        if not isinstance(meta, dict) or not isinstance(scenes, (list, RawJSON)):
            raise ArtifactError("artifact lacks its meta or scenes section")
        try:
            records = Records(scenes)
        except ValueError as exc:
            raise ArtifactError(f"section scenes: {exc}") from None
        try:
            nlits, nscenes = _whole(meta["nlits"]), _whole(meta["nscenes"])
            senders = {str(k): _whole(v) for k, v in meta["senders"].items()}
            self.context: dict[str, str] = {str(k): _text(v) for k, v in meta["context"].items()}
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise ArtifactError(f"bad meta section: {exc!r}") from None
        if nscenes != len(records) or isinstance(scenes, list) and any(
                not isinstance(r, dict) for r in scenes):
            raise ArtifactError("scenes section does not match the scene count")
        if any(not 0 <= v < nlits for v in senders.values()):
            raise ArtifactError("sender table refers to a literal that does not exist")
        tables = {k: v for k, v in sections.items() if isinstance(v, memoryview)}
        try:
            self._core = Core(core_tables(tables), nlits, nscenes)
        except (ValueError, TypeError, KeyError, OverflowError) as exc:
            raise ArtifactError(f"invalid tables: {exc}") from None
        self._senders = senders
        self._records = records
        self._finisher = Finisher(self._core, records)
        self._quick = self._finisher.quick
        self.meta: dict[str, Any] = meta
        self.source = source
        self.broken_scenes: set[str] = self._finisher.broken
        # The Matcher and the Finisher never refer back to the Ruleset: with no reference
        # cycle, a rule set dropped by a reload is freed at once.
        self._matcher = Matcher(self._core, self._senders, self._quick,
                                self._finisher.finish_found, check_facts)
        self.match = self._matcher.match  # type: ignore[method-assign]

    # --- public API -------------------------------------------------------------------

    @property
    def scene_ids(self) -> list[str]:
        return [self._finisher.scene_id(i) for i in range(len(self._records))]

    def __len__(self) -> int:
        return len(self._records)

    def match(self, text: str, sender: str | None = None, ctx: dict | None = None,
              now: dt.date | dt.datetime | None = None) -> list[Match]:
        """Every matching scene, best first. `__init__` binds each instance's `match` to
        the compiled `_core.Matcher.match`, which takes these steps without an interpreter
        frame: the core scans, quick runners finish the decided candidates, and
        `Finisher.finish_found` the rest. This body serves explicit `Ruleset.match(rs, …)` calls."""
        return self._matcher.match(text, sender, ctx, now)

    def best(self, text: str, sender: str | None = None, ctx: dict | None = None,
             now: dt.date | dt.datetime | None = None) -> Match | None:
        found = self.match(text, sender, ctx, now)
        return found[0] if found else None

    def match_many(self, texts: Iterable[str], senders: Iterable[str | None] | None = None, *,
                   ctxs: Iterable[dict | None] | None = None,
                   now: dt.date | dt.datetime | None = None,
                   threads: int | None = None) -> list[list[Match]]:
        """A batch, columns in: the core scans it with the GIL released, on `threads`."""
        _column(texts, "texts must be an iterable of str")
        _column(senders, "senders must be an iterable of str or None")
        _column(ctxs, "ctxs must be an iterable of mappings", Mapping)
        if threads is not None and (type(threads) is bool or not isinstance(threads, int)):
            raise TypeError(f"threads must be an int or None, not {type(threads).__name__}")
        texts = list(texts)
        n = len(texts)
        senders_at, ctxs_at = _indexable(senders), _indexable(ctxs)
        if senders_at is not None and len(senders_at) != n or \
                ctxs_at is not None and len(ctxs_at) != n:
            raise ValueError("senders and ctxs must have one entry per text")
        for ctx in ctxs_at or ():
            check_facts(ctx, None)
        nthreads = threads if threads is not None else _default_threads(n)
        day = plain_day(now) if now is not None else None
        # Any int is a thread count; the core takes a C int and uses at most 64 anyway.
        nthreads = min(max(1, nthreads), MAX_THREADS)
        out, unfinished = self._matcher.many(texts, senders_at, nthreads)
        if unfinished:  # candidates left for the Python path
            for i, found in enumerate(out):
                if found.__class__ is not list:
                    sender = senders_at[i] if senders_at is not None else None
                    ctx = _facts(ctxs_at[i] if ctxs_at is not None else None)
                    out[i] = self._finisher.finish(texts[i], found[0], sender, ctx, day)
        return out

    def woken(self, text: str, sender: object = None) -> int:
        """How many candidate scenes `text` (from `sender`) wakes: scenes the core's
        literal scan did not rule out, each of which `match` then finishes. What one
        match costs beyond the scan; the build's example runner budgets on it (E913).
        A DLT sender's header is counted as a second lookup: an upper bound."""
        if not isinstance(text, str):  # as `match` says it, not str.__str__'s own words
            raise TypeError(f"text must be str, not {type(text).__name__}")
        sender = sender_text(sender)
        ids = {self._senders.get(sender, -1) if sender is not None else -1}
        header = dlt_header(sender)
        if header is not None:
            ids.add(self._senders.get(header, -1))
        text = str.__str__(text)
        return sum(len(self._core.candidates(text, lit)) for lit in ids)

    def stats(self) -> dict[str, Any]:
        return dict(self._core.stats())

    def validate(self) -> None:
        """Parse every scene record and build (then drop) its runner, compiling its regexes:
        the checks `load` defers so that loading stays fast. Raises ArtifactError naming the
        first malformed record, which only a crafted artifact with a valid checksum can
        contain. `Handle.reload` runs it before swapping; it takes seconds at 100k scenes."""
        patterns = Patterns(len(self._records))  # thrown away after: serving stays lazy
        for index in range(len(self._records)):
            try:
                SceneRunner(index, self._records[index], patterns)
            except Exception as exc:
                name = self._finisher.scene_id(index)
                raise ArtifactError(f"scene record {index} ({name}) is malformed: "
                                    f"{exc!r}") from None


class Finisher:
    """The Python half of matching for one rule set: each scene's runners, built on first
    use, and the candidates the core did not finish itself. `quick[scene]` is the scene's
    quick runner (the core calls it for decided candidates), `runners[scene]` its full
    runner once a candidate ever needed the Python path."""

    def __init__(self, core: Core, records: Records) -> None:
        self.core, self.records = core, records
        self.runners: list[SceneRunner | None] = [None] * len(records)
        self.quick: list[Any] = [None] * len(records)
        self.patterns = Patterns(len(records))
        self.broken: set[str] = set()
        # Indices of the broken scenes: each record is tried once, not again at every
        # message that wakes its scene (a crafted record's parse and compiles each time).
        self.failed: set[int] = set()

    def finish_found(self, text: str, cands: list[int], sender: str | None,
                     ctx: dict | None, now: dt.date | dt.datetime | None) -> list[Match]:
        day = plain_day(now) if now is not None else None
        return self.finish(text, cands, sender, _facts(ctx), day)

    def finish(self, text: str, cands: list[int], sender: str | None, ctx: dict,
               day: dt.date | None) -> list[Match]:
        """Run the candidates' scene runners; `day` None means today (looked up only by
        scenes with a validity window)."""
        enc = self.core.fold_utf8(text)  # fold + UTF-8 in one C pass
        folded: str | None = None  # the folded str, built only for the slower paths
        out = []
        runners, quick = self.runners, self.quick
        for c in cands:
            sc = c >> 1
            try:
                q = quick[sc]
                if q is not None and not c & 1:
                    out.append(q(text, enc))
                    continue
                runner = runners[sc]
                if runner is None:
                    if sc in self.failed:
                        continue
                    runner = self.new_runner(sc)
                    if runner is None:
                        continue
                    quick[sc] = runner.quick
                    if runner.quick is not None and not c & 1:
                        # A decided candidate needs only the quick runner: the full one
                        # (7 KB with its record) is kept only for scenes that need it.
                        out.append(runner.quick(text, enc))
                        continue
                    runners[sc] = runner
                if folded is None:
                    folded = self.core.fold(text)
                found = runner.run(folded, enc, sender, ctx, day, not c & 1, text)
            except MemoryError:  # the process's trouble, not the record's
                raise
            except Exception:  # a malformed record in a hand-made artifact: skip the scene
                self.broken.add(self.scene_id(sc))
                continue
            if found is not None:
                out.append(found)
        return untrack_results(out)  # as the compiled finishing does (see _core)

    def scene_id(self, index: int) -> str:
        """The scene's id, or `#index` when its record cannot be read."""
        try:
            return str(self.records[index].get("id"))
        except Exception:  # a crafted record: bad JSON, too deep, not an object
            return f"#{index}"

    def new_runner(self, index: int) -> SceneRunner | None:
        """The scene's runner, built from its record; None (and the scene counted as
        broken) when the record is malformed."""
        try:
            return SceneRunner(index, self.records[index], self.patterns)
        except MemoryError:  # the process's trouble, not the record's: tried again later
            raise
        except Exception:
            self.broken.add(self.scene_id(index))
            self.failed.add(index)
            return None


def _whole(value: object) -> int:
    """A count or literal id of the meta section, which a build writes as a JSON integer:
    `int()` read "12", 12.5 and true (a sender's literal 1.9 became literal 1)."""
    if type(value) is not int:
        raise TypeError(f"{value!r} is not a whole number")
    return value


def _text(value: object) -> str:
    """A context fact's type name: `str()` read `{…}` and null as text ("None")."""
    if type(value) is not str:
        raise TypeError(f"{value!r} is not a type name")
    return value


def _parse_meta(section: RawJSON) -> Any:
    """The meta section, parsed only when it holds no more than MAX_META_VALUES values."""
    if json_values(section.body) > MAX_META_VALUES:
        raise ArtifactError(f"section meta: more than {MAX_META_VALUES} JSON values")
    try:
        return parse_json(section.body)
    except (ValueError, RecursionError) as exc:
        raise ArtifactError(f"section meta: bad JSON ({exc})") from None


def _column(value: object, must: str, *single: type) -> None:
    """A TypeError for a single str (or bytes) where a column of one per message belongs:
    it would otherwise be taken for a batch of its characters; likewise a single mapping
    for a column of contexts (`single`), which would be taken for a batch of its keys."""
    if isinstance(value, (str, bytes, *single)):
        raise TypeError(f"{must}, one per message, not a single {type(value).__name__}")


def _indexable(column: Iterable[Any] | None) -> Any:
    """A column as the core reads it, by len() and index: one that has both is read as
    it is (a numpy array, or a class that makes each item on access); any other iterable
    (a generator, which raised 'has no len()') is read once into a list, like texts."""
    if column is None or hasattr(column, "__len__") and hasattr(column, "__getitem__"):
        return column
    return list(column)


def _facts(ctx: Mapping | None) -> dict:
    """The caller's context as a plain dict, read once per message before any scene runs:
    a mapping whose lookups raise (a backend that is down) raises to the caller then,
    instead of inside a scene, where it would be taken for a broken record. Its keys are
    plain `str`s: a scene looks a fact up by name, and a key's own `==` (a str subclass,
    or any object hashing like the name) ran there, its error taken for a broken record;
    a key that is no str names no fact and is left out."""
    if ctx is None:
        return {}
    if type(ctx) is dict and all(k.__class__ is str for k in ctx):
        return ctx
    return {str.__str__(k): v for k, v in dict(ctx).items() if isinstance(k, str)}


def check_facts(ctx: object, now: object) -> None:
    """A TypeError for a `ctx` that is not a mapping or a `now` that is not a date, on
    every call: the compiled path reads neither for most messages, so without this check
    a wrong type would pass or fail depending on the message."""
    if ctx is not None and not isinstance(ctx, Mapping):
        raise TypeError(f"ctx must be a dict (a mapping), not {type(ctx).__name__}")
    if now is not None:
        plain_day(now)


def plain_day(now: dt.date | dt.datetime | None) -> dt.date:
    """The day to match on as a plain `date`: a subclass's own comparisons (or a
    datetime's own `date()`) ran against a scene's `valid` range, and their error was
    taken for a broken record. Read through `date`'s own fields, as a context value is."""
    if now is None:
        return dt.date.today()
    if now.__class__ is dt.date:
        return now
    if isinstance(now, dt.date):  # a datetime is a date too
        return dt.date(_YEAR(now), _MONTH(now), _DAY(now))
    raise TypeError(f"now must be a date or datetime, not {type(now).__name__}")


# `date`'s own field getters, which no subclass's property can replace
_YEAR, _MONTH, _DAY = (getattr(dt.date, f).__get__ for f in ("year", "month", "day"))


def _default_threads(n: int) -> int:
    return min(8, os.cpu_count() or 1) if n >= 512 else 1


def loads(data: bytes | bytearray | memoryview, source: str = "<memory>") -> Ruleset:
    return Ruleset(unpack(data, raw=frozenset(("meta", "scenes"))), source)


def load(path: str | os.PathLike[str]) -> Ruleset:
    """Load and fully validate an artifact; raises ArtifactError with the cause. An
    artifact the memory left cannot hold is one too: a file at the 1 GiB limit whose
    header states its length (a sparse file, which any user can make) is read whole
    before its checksum is compared, and under an address-space limit `Handle.reload`
    raised a bare MemoryError where it keeps serving on ArtifactError."""
    try:
        return loads(_read_artifact(path), os.fspath(path))
    except MemoryError:
        size = _size_of(path)
        raise ArtifactError(f"cannot load artifact {os.fspath(path)}: out of memory"
                            + (f" holding its {size:,} bytes" if size else "")) from None


def _size_of(path: str | os.PathLike[str]) -> int:
    """The file's size for a message, 0 if it cannot be told."""
    try:
        return os.stat(path).st_size
    except (OSError, ValueError):
        return 0


def _read_artifact(path: str | os.PathLike[str]) -> bytearray:
    """The file's bytes. Only a regular file: a FIFO would block the service until some
    writer came, and /dev/zero or /dev/urandom would never end (the open does not block,
    O_NONBLOCK, and the type is checked before anything is read). The header is read and
    checked first (`artifact.payload_length`), and the payload read in pieces: a 1 GiB
    file of zeros was read whole before its magic number was looked at, and
    `read(MAX_ARTIFACT_BYTES + 1)` reserved 1 GiB even for a 1 KB file, a MemoryError
    under an address-space limit (`ulimit -v`)."""
    name = os.fspath(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise ArtifactError(f"cannot read artifact {name}: {exc.strerror}") from None
    except ValueError as exc:  # a NUL byte, a lone surrogate: no file can have that name
        raise ArtifactError(f"cannot read artifact {name!r}: {exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ArtifactError(f"cannot read artifact {name}: not a regular file")
        if st.st_size > MAX_ARTIFACT_BYTES:  # refused unread: a 100 GB file is no artifact
            raise ArtifactError(f"cannot read artifact {name}: {st.st_size} bytes; the limit "
                                f"is {MAX_ARTIFACT_BYTES} (100,000 scenes take ~50 MB)")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = bytearray(f.read(HEADER_SIZE))
            length = payload_length(data)
            if HEADER_SIZE + length > MAX_ARTIFACT_BYTES:
                raise ArtifactError(f"cannot read artifact {name}: its header states "
                                    f"{HEADER_SIZE + length} bytes; the limit is "
                                    f"{MAX_ARTIFACT_BYTES} (100,000 scenes take ~50 MB)")
            if st.st_size and st.st_size != HEADER_SIZE + length:  # a /proc file states 0
                raise ArtifactError(wrong_length(length, st.st_size - HEADER_SIZE))
            _read_payload(f, data, length + 1)  # one byte more: a file that grew is padded
        if len(data) > HEADER_SIZE + length:
            raise ArtifactError(wrong_length(length, "more"))
        return data
    except OSError as exc:
        raise ArtifactError(f"cannot read artifact {name}: {exc.strerror}") from None
    finally:
        os.close(fd)


READ_PIECE = 1 << 24  # bytes read (and so reserved) at a time


def _read_payload(f: Any, data: bytearray, size: int) -> None:
    """Append up to `size` bytes of `f` to `data`, READ_PIECE at a time: what is reserved
    follows what the file really holds, not what its header claims."""
    end = len(data) + size
    while len(data) < end:
        piece = f.read(min(end - len(data), READ_PIECE))
        if not piece:
            return
        data += piece
