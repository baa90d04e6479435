"""Find, read and parse the `.scene` files of a build, following imports.

Files are taken in the order given (a directory contributes its `*.scene` files sorted by
path); each file's imports come before the file itself, and a file is read only once.
This order is the "source order" that breaks ranking ties.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..dsl import ast
from ..dsl.diagnostics import DiagnosticBag, SourceCache, Span
from ..dsl.parser import MAX_STRING_CHARS, RecoveryBudget, parse_text
from ..runtime.artifact import MAGIC as ARTIFACT_MAGIC
from .prefetch import NotRegular, Parsed, digest, open_regular, prefetch

MAX_FILE_BYTES = 4 << 20
MAX_BUILD_BYTES = 32 << 20  # all rule and word files of one build together
MAX_FILES = 10_000
MAX_HINTED_ERRORS = 100  # a missing import's case hint lists its folder: only this often
MAX_HINT_ENTRIES = 5000  # and reads at most this many of the folder's entries
CYCLE_ENDS = 3  # an import cycle names its first and last files, and counts the rest


@dataclass
class Sources:
    files: list[ast.File] = field(default_factory=list)
    cache: SourceCache = field(default_factory=SourceCache)
    bytes_read: int = 0  # rule and word files so far, against MAX_BUILD_BYTES
    over_budget: bool = False  # a file was refused for MAX_BUILD_BYTES (reported once)
    recovery: RecoveryBudget = field(default_factory=RecoveryBudget)
    parsed: Parsed = field(default_factory=dict)  # clean parses done ahead, in parallel
    # imports that failed (E501): (the path as written, where); the checker's hint for an
    # unknown name points there
    failed_imports: list[tuple[str, Span]] = field(default_factory=list)


def expand(paths: list[str], diags: DiagnosticBag | None = None) -> list[str]:
    """Files named directly, and every `*.scene` below a named directory (sorted). A folder
    that cannot be listed is E504 in `diags`."""
    out: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            out.extend(_scene_files(str(Path(p)), diags))
        else:
            out.append(p)
    return out


def _scene_files(folder: str, diags: DiagnosticBag | None = None) -> list[str]:
    """Everything named *.scene below `folder` but a folder, sorted: a FIFO or a dangling
    link is reported (E504) when read, not skipped in silence. Walked with a list of
    folders still to list, not recursion (pathlib's rglob hit the recursion limit in a
    folder 1,200 deep); as with rglob, a link to a folder is not entered (a loop would
    never end). A folder that cannot be listed (no permission) is E504: passed over in
    silence, its rules left the build while it succeeded."""
    found: list[str] = []
    todo = [folder]
    while todo:
        here = todo.pop()
        try:
            with os.scandir(here) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        todo.append(entry.path)
                    elif entry.name.endswith(".scene") and not _links_to_folder(entry):
                        found.append(entry.path)
        except OSError as exc:
            if diags is not None:
                diags.error("E504", f"cannot list folder {here}: {exc.strerror}",
                            Span.point(here, 1, 1), "check its permissions, or build "
                            "without it")
    return sorted(found)


def _links_to_folder(entry: os.DirEntry[str]) -> bool:
    """Whether a `*.scene` entry leads to a folder. A link in a loop (`a.scene ->
    b.scene -> a.scene`) raises ELOOP here: it is no folder, and is reported (E504) when
    read. Raised out of the listing, it abandoned the folder, and every rule file in it
    left the build without a word."""
    try:
        return entry.is_dir()
    except OSError:
        return False


# What makes two names one file: its device and inode, or its real path when it cannot
# be stat'ed (the read then reports why).
FileId = tuple[int, int] | str


def file_id(path: str) -> FileId:
    """One file's identity whatever it is called. The real path folds `sub/../b.scene`
    and links to `b.scene`, but not a hard link or `B.scene` on a case-insensitive file
    system (macOS, Windows): read under both names, every item in it was E101 twice."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return os.path.realpath(path)
    return (st.st_dev, st.st_ino)


def load(paths: list[str], diags: DiagnosticBag) -> Sources:
    files = expand(paths, diags)
    sources = Sources(parsed=prefetch(files[: MAX_FILES + 1], MAX_FILE_BYTES))
    loaded: set[FileId] = set()
    for path in files:
        _load_tree(path, loaded, sources, diags)
    return sources


@dataclass
class _Open:
    """A file whose imports are being loaded: it joins the build after them."""
    shown: str  # its real path relative to the working folder, as a cycle names it
    ident: FileId
    path: str
    parsed: ast.File
    imports: Iterator[ast.Import]


def _load_tree(path: str, loaded: set[FileId], sources: Sources,
               diags: DiagnosticBag) -> None:
    """`path` and what it imports, depth first, each file after its imports. The chain of
    open files is a list, not the Python stack: a chain of imports thousands of files
    deep (each importing the next) hit the recursion limit with a traceback."""
    chain: list[_Open] = []
    at: dict[FileId, int] = {}  # file -> its place in the chain, to find cycles in O(1)
    _open(path, None, chain, at, loaded, sources, diags)
    while chain:
        top = chain[-1]
        item = next(top.imports, None)
        if item is None:
            chain.pop()
            del at[top.ident]
            sources.files.append(top.parsed)
            continue
        target = _import_target(top.path, item, diags, sources.failed_imports)
        if target is not None:
            _open(target, item.path.span, chain, at, loaded, sources, diags)


def _open(path: str, via: Span | None, chain: list[_Open], at: dict[FileId, int],
          loaded: set[FileId], sources: Sources, diags: DiagnosticBag) -> None:
    """Read and parse `path` and put it on the chain, unless it closes a cycle (E502), was
    loaded already, is one file too many (E904) or cannot be read."""
    key, ident = os.path.realpath(path), file_id(path)
    if ident in at:
        assert via is not None
        diags.error("E502", "import cycle: " + _cycle(chain, at[ident]),
                    via, "move the shared definitions into a file that both import")
        return
    if ident in loaded:
        return
    loaded.add(ident)
    if len(loaded) > MAX_FILES:
        if len(loaded) == MAX_FILES + 1:  # once, at the first file too many
            diags.error("E904", f"more than {MAX_FILES} files in one build",
                        via or Span.point(path, 1, 1), "split the rule set into several builds")
        return
    text = _read(path, via, diags, sources)
    if text is None:
        return
    sources.cache.add(path, text)
    ahead = sources.parsed.pop(key, None)
    if ahead is not None and ahead[0] == digest(text):
        parsed = ahead[1]
    else:
        parsed = parse_text(path, text, diags, sources.recovery)
    at[ident] = len(chain)
    chain.append(_Open(os.path.relpath(key), ident, path, parsed,
                       (i for i in parsed.items if isinstance(i, ast.Import))))


def _cycle(chain: list[_Open], start: int) -> str:
    """The cycle from `chain[start]` to the end of the chain and back, its first and last
    three files named (each file's name made once, when it is opened): named whole, 1,000
    files each importing 30 others gave 15,000 cycles of up to 1,000 files, 5 million
    `relpath`s, 177 s."""
    names = len(chain) - start + 1
    if names <= 2 * CYCLE_ENDS + 1:
        shown = chain[start:] + [chain[start]]
    else:
        shown = (chain[start:start + CYCLE_ENDS] + chain[len(chain) - CYCLE_ENDS + 1:]
                 + [chain[start]])
    parts = [o.shown for o in shown]
    if names > len(shown):
        parts.insert(CYCLE_ENDS, f"… ({names - len(shown):,} more) …")
    return " -> ".join(parts)


def _import_target(importer: str, item: ast.Import, diags: DiagnosticBag,
                   failed: list[tuple[str, Span]]) -> str | None:
    """The path an import names, relative to its file; None (E501, and the import added to
    `failed`) when it is no regular file."""
    target = os.path.join(os.path.dirname(importer), item.path.value)
    if os.path.isfile(target):
        return os.path.normpath(target)
    failed.append((item.path.value, item.path.span))
    if os.path.exists(target):  # a directory, a FIFO, a device
        diags.error("E501", f"imported path is not a regular file: {item.path.value}",
                    item.path.span, "import a .scene file")
    else:
        diags.error("E501", f"imported file not found: {item.path.value}", item.path.span,
                    _case_hint(target, item.path.value, diags)
                    or f"paths are relative to {os.path.dirname(importer) or '.'}")
    return None


def _case_hint(target: str, written: str, diags: DiagnosticBag) -> str | None:
    """A hint naming the file whose name differs from the import's only in case: such
    an import builds on a case-insensitive file system and fails on Linux. Searched, like
    the checker's did-you-mean, only for a build's first diagnostics and among a folder's
    first entries, so thousands of missing imports into a big folder stay linear."""
    if len(diags.items) > MAX_HINTED_ERRORS:
        return None
    folder, name = os.path.split(target)
    try:
        with os.scandir(folder or ".") as entries:
            first = itertools.islice(entries, MAX_HINT_ENTRIES)
            same = sorted(e.name for e in first if e.name.lower() == name.lower())
    except (OSError, ValueError):
        return None
    if not same:
        return None
    fixed = written[: len(written) - len(name)] + same[0]
    return f"did you mean '{fixed}'? the name differs only in case"


def _read(path: str, via: Span | None, diags: DiagnosticBag, sources: Sources) -> str | None:
    where = via or Span.point(path, 1, 1)
    if os.path.exists(path) and not os.path.isfile(path):  # a FIFO would block, /dev/zero never end
        diags.error("E504", f"cannot read {path}: not a regular file", where,
                    "build .scene files, or a directory of them")
        return None
    try:
        with open_regular(path) as f:  # still a regular file (it may have been swapped)
            if not _within_limits(os.fstat(f.fileno()).st_size, where, diags, sources):
                return None  # refused unread
            # A /proc file states 0 bytes and gives more, a log grows as it is read: what
            # is read is bounded, and its own length counted.
            raw = f.read(MAX_FILE_BYTES + 1)
    except NotRegular:
        diags.error("E504", f"cannot read {path}: not a regular file", where,
                    "build .scene files, or a directory of them")
        return None
    except OSError as exc:
        diags.error("E504", f"cannot read {path}: {exc.strerror}", where, "check the path")
        return None
    if not _within_limits(len(raw), where, diags, sources):
        return None
    sources.bytes_read += len(raw)
    if raw.startswith(ARTIFACT_MAGIC):  # quoted, its first "line" would be binary
        diags.error("E504", f"{path} is a compiled artifact, not a rule file", where,
                    "check and build read the .scene files it was built from; "
                    "`scenec match` reads artifacts")
        return None
    try:
        return _one_line_break(raw.decode("utf-8").removeprefix("\ufeff"))
    except UnicodeDecodeError as exc:
        head = _one_line_break(raw[: exc.start].decode("utf-8", "replace"))
        line, col = head.count("\n") + 1, len(head) - head.rfind("\n")
        sources.cache.add(path, _one_line_break(raw.decode("utf-8", "replace")))  # quoted
        diags.error("E504", "file is not valid UTF-8", Span.point(path, line, col),
                    "save the file as UTF-8")
        return None


def _within_limits(size: int, where: Span, diags: DiagnosticBag, sources: Sources) -> bool:
    """Whether a file of `size` bytes may be read: E901 past a file's or the build's limit."""
    if size > MAX_FILE_BYTES:
        diags.error("E901", f"file is over {MAX_FILE_BYTES} bytes, the limit", where,
                    "split it into several files")
        return False
    if sources.bytes_read + size > MAX_BUILD_BYTES:
        if not sources.over_budget:  # once: 10,000 small files gave 2,000 copies
            diags.error("E901", f"the files of this build exceed {MAX_BUILD_BYTES} bytes",
                        where, "split the rule set into several builds")
        sources.over_budget = True
        return False
    return True


def _one_line_break(text: str) -> str:
    """CRLF and a lone CR (old Mac files) end a line like LF: with a lone CR left as is, a
    first-line comment would run to the end of the file and hide every scene after it."""
    if "\r" not in text:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_word_file(path: str, span: Span, diags: DiagnosticBag,
                   sources: Sources) -> list[str] | None:
    """One word per line; blank lines and lines starting with # are skipped. Word files
    count against the build's byte budget like rule files, each time they are named."""
    text = _read(path, span, diags, sources)
    if text is None:
        return None
    sources.cache.add(path, text)  # one of the build's inputs (see pipeline.build)
    words = []
    for number, line in enumerate(text.split("\n"), 1):
        for word in (w.strip() for w in line.splitlines()):
            if not word or word.startswith("#"):
                continue
            if len(word) > MAX_STRING_CHARS:  # a literal like a string: the same limit
                diags.error("E906", f"word is {len(word)} characters; the limit is "
                            f"{MAX_STRING_CHARS}", Span.point(path, number, 1),
                            "use shorter words")
                continue
            words.append(word)
    return words
