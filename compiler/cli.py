"""`scenec`: build, check, test and try scene rules from the command line.

Exit status: 0 success; 1 the rules have errors or an example fails; 2 bad usage, an
unreadable input or a refused artifact; 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import math
import os
import re
import sys
from collections.abc import Iterable, Iterator
from importlib import metadata
from typing import Any, NoReturn

from ..dsl.diagnostics import BIDI_CONTROLS, visible
from ..runtime import ArtifactError, Match, Ruleset, load
from .checker import listing
from .pipeline import Compiled, build, compile_paths


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    _tolerant_streams()
    parser, match_parser = _parser()
    if argv[:1] == ["match"]:  # options may follow the message: `match rules.scb "…" --json`
        args = match_parser.parse_intermixed_args(argv[1:])
    else:
        args = parser.parse_args(argv)
    try:
        status = int(args.run(args))
        sys.stdout.flush()  # a full disk shows here, not in the interpreter's exit flush
        return status
    except KeyboardInterrupt:  # Ctrl-C: one line, not a traceback from wherever it was
        return _interrupted()
    except BrokenPipeError:  # `scenec match … --file log | head`: the reader has had enough
        _silence_stdout()  # but what a command found before its output was cut stands
        return int(getattr(args, "status", 0))
    except OSError as exc:  # standard output itself failed (a full disk, /dev/full)
        _silence_stdout()
        print(f"scenec: error: cannot write the output: {exc.strerror or exc}", file=sys.stderr)
        return 2


EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a command Ctrl-C ended


def _interrupted() -> int:
    """Ctrl-C: say so in one line and exit 130. A build interrupted has written nothing:
    `write_atomic` removes its temporary file on any exception, KeyboardInterrupt too."""
    _silence_stdout()  # what is still buffered is dropped, not flushed half-written
    print("scenec: interrupted", file=sys.stderr)
    return EXIT_INTERRUPTED


def _silence_stdout() -> None:
    """Point standard output at /dev/null, so that the interpreter's final flush of what
    is still buffered does not fail again and print a traceback at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor behind stdout
        pass


def _tolerant_streams() -> None:
    """Messages are arbitrary: a lone surrogate (from undecodable bytes in argv or a file)
    is printed as a `\\udcff` escape, which also keeps --json output valid JSON, instead of
    UnicodeEncodeError killing the command halfway through its output. A stream the
    process was started without (`>&-`: Python's is None) is the null device, as a
    reader that went away is: `sys.stdout.flush()` on None was a traceback."""
    if sys.stdout is None:
        sys.stdout = open(os.devnull, "w")  # kept open for the process's lifetime
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    reconfigure = getattr(sys.stdin, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="surrogateescape")


class _Parser(argparse.ArgumentParser):
    """argparse quotes an argument it refuses (`unrecognized arguments: …`) as it was
    given: an escape sequence in it reached the terminal. Its subcommands' parsers are of
    this class too (add_subparsers takes the parent's)."""

    def error(self, message: str) -> NoReturn:
        super().error(visible(message))


class _Once(argparse.Action):
    """An option that takes one value and may be given once: argparse keeps the last of
    `-o a.scb -o b.scb` in silence, and only b.scb was written. A second one is a usage
    error naming both values."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        before = getattr(namespace, self.dest, None)
        if before is not None:
            parser.error(f"{'/'.join(self.option_strings)} given twice "
                         f"({before!r} and {values!r}); give it once")
        setattr(namespace, self.dest, values)


EXIT_RULES = "exit status: 0 ok; 1 the rules have errors (or an example fails)"
EXIT_BUILD = EXIT_RULES + "; 2 the output cannot be written; 130 interrupted"
EXIT_RULES += "; 130 interrupted"
EXIT_MATCH = ("exit status: 0 ok (also when no scene matches); 2 a missing, corrupt or "
              "incompatible artifact, a bad option or an unreadable --file; 130 interrupted")


def _parser() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    p = _Parser(prog="scenec", description="Compile and run smart-SMS scene rules.",
                epilog="exit status: 0 ok; 1 the rules have errors or an example fails; "
                       "2 bad usage, an unreadable input or a refused artifact; "
                       "130 interrupted (Ctrl-C). "
                       "`scenec COMMAND -h` for a command's options.")
    p.add_argument("--version", action="version", version=f"scenec {_version()}")
    sub = p.add_subparsers(required=True, metavar="COMMAND")

    b = sub.add_parser("build", help="check, run examples and write an artifact",
                       epilog=EXIT_BUILD)
    b.add_argument("paths", nargs="+", help=".scene files or folders")
    b.add_argument("-o", "--output", required=True, action=_Once,
                   help="artifact to write (e.g. rules.scb)")
    b.add_argument("--strict", action="store_true", help="treat warnings as errors")
    b.add_argument("--no-examples", action="store_true", help="do not run inline examples")
    b.set_defaults(run=_build)

    c = sub.add_parser("check", help="report every error and warning; write nothing",
                       epilog=EXIT_RULES)
    c.add_argument("paths", nargs="+", help=".scene files or folders")
    c.add_argument("--strict", action="store_true", help="treat warnings as errors")
    c.set_defaults(run=_check)

    t = sub.add_parser("test", help="run the inline examples, pass/fail per scene",
                       epilog="exit status: 0 every example passes; 1 the rules have "
                              "errors, an example fails or examples were not run; 130 "
                              "interrupted")
    t.add_argument("paths", nargs="+", help=".scene files or folders")
    t.add_argument("-v", "--verbose", action="store_true", help="list passing scenes too")
    t.set_defaults(run=_test)

    m = sub.add_parser("match", help="match messages against an artifact", epilog=EXIT_MATCH)
    m.add_argument("artifact", help="a file written by `scenec build` (e.g. rules.scb)")
    m.add_argument("text", nargs="?", help="the message (or use --file)")
    m.add_argument("--file", action=_Once, help="one message per line ('-' for standard input)")
    m.add_argument("--tab", action="store_true",
                   help="with --file: each line is SENDER<TAB>MESSAGE (the sender may be empty)")
    m.add_argument("--sender", action=_Once, help="the sending number, e.g. 95555")
    m.add_argument("--ctx", action="append", default=[], metavar="KEY=VALUE",
                   help="a context fact declared in the rules (repeatable)")
    m.add_argument("--now", action=_Once, help="the date to match on (YYYY-MM-DD; default today)")
    m.add_argument("--json", action="store_true", help="one JSON object per message")
    m.add_argument("--best", action="store_true", help="only the best match")
    m.set_defaults(run=_match)
    return p, m


def _version() -> str:
    try:
        return metadata.version("scenec")
    except metadata.PackageNotFoundError:  # run from a source tree, not installed
        return "unknown"


def _found(args: argparse.Namespace, status: int) -> int:
    """Record the status a command has found before it writes its report: if the reader
    of its output goes away midway (`scenec test rules | head -1`), `main` still exits
    with it. It exited 0, so a failing example or a failed build passed `pipefail`."""
    args.status = status
    return status


def _print_diagnostics(result: Compiled) -> None:
    for text in result.rendered():
        print(text, file=sys.stderr)
    errors, warnings = len(result.diagnostics.errors), len(result.diagnostics.warnings)
    if errors or warnings:
        print(f"{errors} error(s), {warnings} warning(s)", file=sys.stderr)


def _build(args: argparse.Namespace) -> int:
    if not args.output:
        print("scenec: error: -o needs a file name, e.g. -o rules.scb", file=sys.stderr)
        return _found(args, 2)
    try:
        result = build(args.paths, args.output, strict=args.strict,
                       run_examples=not args.no_examples)
    except OSError as exc:  # the rules are fine; the output path is not (nothing was left)
        _found(args, 2)
        print(visible(f"scenec: error: cannot write {args.output}: {exc.strerror}"),
              file=sys.stderr)
        return 2
    if _found(args, 0 if result.ok else 1):
        _print_diagnostics(result)
        print(visible(f"build failed; {args.output} was not written"), file=sys.stderr)
        return 1
    _print_diagnostics(result)
    passed = sum(1 for e in result.examples if e.ok)
    print(visible(f"built {args.output}: {len(result.model.scenes)} scenes, "
                  f"{len(result.artifact or b'')} bytes; examples {passed}/"
                  f"{len(result.examples)} passed"))
    return 0


def _check(args: argparse.Namespace) -> int:
    result = compile_paths(args.paths, run_examples=False, strict=args.strict)
    _found(args, 0 if result.ok else 1)
    _print_diagnostics(result)
    if result.ok:
        print(f"ok: {len(result.model.scenes)} scenes")
    return 0 if result.ok else 1


def _test(args: argparse.Namespace) -> int:
    result = compile_paths(args.paths, run_examples=True)
    if result.ruleset is None:
        _print_diagnostics(result)
        return _found(args, 1)
    by_scene: dict[str, list] = {}
    for e in result.examples:
        by_scene.setdefault(e.scene, []).append(e)
    # an example failed or was not run (E913 reports it): the status, before the report
    _found(args, 0 if result.ok and all(e.ok for e in result.examples) else 1)
    failed = unrun = 0
    for scene in result.model.scenes:
        runs = by_scene.get(scene.id, [])
        if scene.examples and not runs:  # stopped by the build's example budget (E913)
            unrun += 1
            print(f"skip {scene.id} (0/{len(scene.examples)} run)")
            continue
        bad = [e for e in runs if not e.ok]
        failed += bool(bad)
        if bad:
            print(f"FAIL {scene.id} ({len(runs) - len(bad)}/{len(runs)})")
            for e in bad:
                loc = f"{e.example.span.file}:{e.example.span.line}:{e.example.span.col}"
                print(visible(f"     {loc}: {e.message}"))  # the rules' file name
        elif args.verbose or not runs:
            print(f"{'ok  ' if runs else 'none'} {scene.id} ({len(runs)}/{len(runs)})")
    total = len(result.model.scenes)
    if failed or not result.ok:  # each failure located, with its caret and hint, as
        _print_diagnostics(result)  # `build` shows it; also examples left unrun (E913)
    print(f"{total - failed - unrun} passed, {failed} failed"
          + (f", {unrun} not run" if unrun else ""))
    return 1 if failed or not result.ok else 0


def _match(args: argparse.Namespace) -> int:
    try:
        ruleset = load(args.artifact)
        ctx = _parse_ctx(args.ctx, ruleset)
        now = _parse_now(args.now) if args.now is not None else None
        if (args.file is None) == (args.text is None):
            raise ValueError("give a message, or --file, not both" if args.text is not None
                             else "give a message, or --file")
        if args.tab and args.file is None:
            raise ValueError("--tab reads SENDER<TAB>MESSAGE lines from --file")
        # A file is streamed: each line's answer is written (and flushed) before the
        # next line is read, so `tail -f log | scenec match … --file -` answers as it goes.
        lines = _lines(args.file) if args.file is not None else [args.text]
        for sender, text in _with_senders(lines, args.sender, args.tab):
            found = ruleset.match(text, sender, ctx, now)
            if args.best:
                found = found[:1]
            if args.json:
                line = {"text": text, **({"sender": sender} if args.tab else {}),
                        "matches": [m.to_json() for m in found]}
                print(json.dumps(line, ensure_ascii=False).translate(_JSON_ESCAPES))
            else:
                _print_human(text, found, many=bool(args.file),
                             sender=sender if args.tab else None)
            if args.file is not None:
                sys.stdout.flush()
    except BrokenPipeError:
        raise  # main's: the reader of our output went away, which is no error
    except (ArtifactError, ValueError) as exc:  # paths and values are shown safely
        # (an OSError is the output's: the inputs' are ArtifactError or ValueError, and
        # main says 'cannot write the output' for a full disk)
        _found(args, 2)
        print(visible(f"scenec: error: {exc}"), file=sys.stderr)
        return 2
    if ruleset.broken_scenes:  # a crafted artifact: its malformed records were skipped
        _found(args, 2)
        names = ", ".join(sorted(ruleset.broken_scenes)[:5])
        print(visible(f"scenec: error: {args.artifact}: malformed scene records skipped "
                      f"({names}); rebuild the artifact"), file=sys.stderr)
        return 2
    return 0


MAX_LINE = 1 << 24   # characters: a longer "line" (/dev/zero has none) is refused, not buffered


def _lines(path: str) -> Iterator[str]:
    """The non-blank lines of a file (`-`: standard input), one at a time."""
    if path == "-" and sys.stdin is None:  # started with its standard input closed
        raise ValueError("--file -: there is no standard input to read")
    try:
        # Lines end at LF alone (CRLF loses its CR below): universal newlines made a
        # message holding a bare CR two messages, where standard input kept it whole.
        stream = sys.stdin if path == "-" else open(path, encoding="utf-8",
                                                    errors="surrogateescape", newline="\n")
    except OSError as exc:  # said like an unreadable artifact, not as Python's "[Errno 2] …"
        raise ValueError(f"cannot read --file {path}: {exc.strerror or exc}") from None
    with stream:
        for number in itertools.count(1):
            try:
                line = stream.readline(MAX_LINE + 1)
            except OSError as exc:  # EIO, EISDIR of a path that opened: name the file
                raise ValueError(f"cannot read --file {path}: {exc.strerror or exc}") from None
            if not line:
                return
            if len(line) > MAX_LINE and not line.endswith("\n"):
                raise ValueError(f"{path}: line {number} is longer than {MAX_LINE} characters")
            if line.strip():
                yield line.rstrip("\r\n")


def _with_senders(lines: Iterable[str], sender: str | None,
                  tab: bool) -> Iterator[tuple[str | None, str]]:
    """(sender, message) per line: `--sender` for all, or with `--tab` the line's own
    sender before its first TAB (`VM-HDFCBK<TAB>Rs 500 debited…`; none when empty)."""
    for line in lines:
        if not tab:
            yield sender, line
            continue
        own, sep, text = line.partition("\t")
        if not sep:
            raise ValueError(f"--tab: no TAB in line {line[:40]!r}")
        yield (own or sender), text


def _parse_ctx(pairs: list[str], ruleset: Ruleset) -> dict[str, Any]:
    ctx: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep:
            raise ValueError(f"--ctx takes KEY=VALUE, got {pair!r}")
        if key in ctx:  # argparse appends every --ctx: the last one would win in silence
            raise ValueError(f"--ctx {key} given twice; give each fact once")
        typ = ruleset.context.get(key)
        if typ is None:
            raise ValueError(f"unknown context fact {key!r} (declared: "
                             f"{listing(ruleset.context)})")  # 30 at most: one line
        if typ == "number":
            ctx[key] = _parse_number(key, raw)
        elif typ == "bool":
            if raw not in ("true", "false"):
                raise ValueError(f"--ctx {key} takes true or false")
            ctx[key] = raw == "true"
        else:
            ctx[key] = raw
    return ctx


_NUMBER = re.compile(r"[+-]?[0-9]{1,30}(?:\.[0-9]{1,30})?")  # ASCII, as the rules write them
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _parse_number(key: str, raw: str) -> int | float:
    """A number fact as the rules write numbers: `12`, `-3.5` (not `1e5`, `1_000`, `٣`)."""
    if not _NUMBER.fullmatch(raw):
        raise ValueError(f"--ctx {key} takes a number such as 12 or 3.5, got {raw!r}")
    value = float(raw) if "." in raw else int(raw)
    assert math.isfinite(value)  # at most 30 digits on each side of the point
    return value


def _parse_now(raw: str) -> dt.date:
    if not _DATE.fullmatch(raw):
        raise ValueError(f"--now takes a date as YYYY-MM-DD, got {raw!r}")
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"--now {raw} is no date of the calendar") from None


# JSON escapes C0 controls itself; DEL, the C1 controls (0x9B is an 8-bit CSI) and the
# bidirectional overrides are escaped too, so the JSON lines are as safe to print as the
# human output, and so are U+2028 and U+2029, where `str.splitlines()` and JavaScript end
# a line (a JSON line was read as two halves). They only occur inside strings, where
# \uXXXX is the same character.
_JSON_ESCAPES = {c: f"\\u{c:04x}" for c in (0x7F, *range(0x80, 0xA0), *BIDI_CONTROLS,
                                             0x2028, 0x2029)}


def _print_human(text: str, found: list[Match], many: bool, sender: str | None = None) -> None:
    """The human listing. Every line goes through `visible`: the message, and the field
    values and action targets taken from it, may carry terminal escape sequences. With
    `--tab` the line's sender heads its message (`> (from VM-HDFCBK) Rs 500 debited…`)."""
    def out(line: str) -> None:
        print(visible(line))

    if many:
        out(f"> (from {sender}) {text}" if sender is not None else f"> {text}")
    if not found:
        out("no scene matches")
    for rank, m in enumerate(found, 1):
        out(f"{rank}. {m.scene}  {m.name}  [{m.category or '-'}]  priority {m.priority}"
            + (f"  enterprise {m.enterprise}" if m.enterprise else ""))
        if m.fields:
            out("   fields:  " + ", ".join(f"{k}={v!r}" for k, v in m.fields.items()))
        if m.highlights:
            out("   highlight: " + ", ".join(f"{f} {text[s:e]!r} [{s}:{e}]"
                                             for f, s, e in m.highlights))
        for a in m.actions:
            extra = "".join(f"  {k}={v!r}" for k, v in a.params)
            out(f"   {a.slot:<6} {a.label} -> {a.kind} {a.target}{extra}")
    if many:
        out("")


if __name__ == "__main__":
    sys.exit(main())
