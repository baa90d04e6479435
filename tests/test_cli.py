"""The `scenec` command as a user runs it: real processes, real files, exit codes."""

from __future__ import annotations

import json
import os
import select
import stat
import subprocess
import sys
from pathlib import Path

import pytest

GOOD = """
enterprise cmb "招商银行" { sender "95555", "【招商银行】" }
context { segment: str }
scene spend "信用卡消费" {
    enterprise cmb
    category finance.card.spend
    template "您尾号${card:digits}的信用卡消费${amount:money}元"
    highlight amount
    menu "专属" -> tel("95555") if ctx.segment == "gold"
    example "【招商银行】您尾号1234的信用卡消费88.00元" expect card = "1234", amount = 88
    counterexample "【招商银行】您尾号1234的信用卡还款88.00元"
}
"""
MSG = "【招商银行】您尾号1234的信用卡消费88.00元"


def scenec(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scenec.compiler.cli", *args], input=stdin,
                          capture_output=True, text=True, timeout=120)


def write(tmp_path: Path, text: str, name: str = "r.scene") -> str:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return str(p)


def test_build_then_match_human_and_json(tmp_path: Path) -> None:
    src, out = write(tmp_path, GOOD), str(tmp_path / "rules.scb")
    r = scenec("build", src, "-o", out)
    assert r.returncode == 0, r.stderr
    assert "examples 2/2 passed" in r.stdout
    r = scenec("match", out, MSG, "--ctx", "segment=gold")
    assert r.returncode == 0 and "spend" in r.stdout and "tel 95555" in r.stdout
    r = scenec("match", out, MSG, "--json")
    doc = json.loads(r.stdout)
    assert doc["matches"][0]["fields"] == {"card": "1234", "amount": 88.0}
    start = MSG.index("88.00")
    assert doc["matches"][0]["highlights"] == [{"field": "amount", "start": start,
                                                "end": start + 5}]


def test_match_file_one_json_line_per_message(tmp_path: Path) -> None:
    out = str(tmp_path / "rules.scb")
    assert scenec("build", write(tmp_path, GOOD), "-o", out).returncode == 0
    msgs = write(tmp_path, MSG + "\n你好\n" + MSG.replace("消费", "还款") + "\n", "m.txt")
    lines = scenec("match", out, "--file", msgs, "--json").stdout.splitlines()
    assert [len(json.loads(x)["matches"]) for x in lines] == [1, 0, 0]
    piped = scenec("match", out, "--file", "-", "--json", stdin=MSG + "\n").stdout
    assert json.loads(piped)["matches"][0]["scene"] == "spend"


def no_control_characters(text: str) -> bool:
    return not any((ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) < 0xA0 for c in text)


def test_escape_sequences_never_reach_the_terminal(tmp_path: Path) -> None:
    out = str(tmp_path / "rules.scb")
    assert scenec("build", write(tmp_path, GOOD), "-o", out).returncode == 0
    msgs = MSG + "\x1b[2J\n" + "abc\x07\x9b31m\n"
    r = scenec("match", out, "--file", "-", stdin=msgs)
    assert r.returncode == 0 and "1. spend" in r.stdout
    assert no_control_characters(r.stdout) and "\u241b[2J" in r.stdout
    r = scenec("match", out, "--file", "-", "--json", stdin=msgs)
    assert no_control_characters(r.stdout)
    texts = [json.loads(line)["text"] for line in r.stdout.splitlines()]
    assert texts == msgs.splitlines()   # escaped, not lost
    bad = write(tmp_path, GOOD.replace('category finance.card.spend',
                                       'category finance.card.spend "\x1b]0;pwned\x07"'))
    r = scenec("check", bad)
    assert r.returncode == 1 and "error[E001]" in r.stderr
    assert no_control_characters(r.stderr) and "\u241b]0;pwned\u2407" in r.stderr


def test_file_names_in_test_and_build_output_cannot_act_on_the_terminal(
        tmp_path: Path) -> None:
    """`scenec test` located each failing example with its file name as it was, and
    `scenec build` named its output as given: an escape sequence or a bidi override in
    either reached the terminal."""
    evil = write(tmp_path, GOOD.replace("amount = 88", "amount = 89"), "\x1b[2Jr\u202e.scene")
    r = scenec("test", evil)
    assert r.returncode == 1 and "FAIL spend" in r.stdout
    assert no_control_characters(r.stdout + r.stderr) and "\u241b[2Jr" in r.stdout
    assert "\u202e" not in r.stdout + r.stderr
    out = str(tmp_path / "\x1b]0;t\x07.scb")
    good = write(tmp_path, GOOD)
    r = scenec("build", good, "-o", out)
    assert r.returncode == 0 and no_control_characters(r.stdout) and "\u241b]0;t" in r.stdout
    r = scenec("build", evil, "-o", out)
    assert r.returncode == 1 and no_control_characters(r.stdout + r.stderr)


def test_arguments_argparse_refuses_cannot_act_on_the_terminal(tmp_path: Path) -> None:
    """argparse quotes an argument it refuses (an extra one, an unknown command) as it
    was given: an escape sequence in it reached the terminal."""
    out = str(tmp_path / "rules.scb")
    assert scenec("build", write(tmp_path, GOOD), "-o", out).returncode == 0
    for args in (["match", out, MSG, "b\x1b]0;t\x07"], ["\x1b[2Jx\u202e"]):
        r = scenec(*args)
        assert r.returncode == 2 and "error:" in r.stderr
        assert no_control_characters(r.stderr) and "\u202e" not in r.stderr


def test_check_reports_located_errors_and_exits_1(tmp_path: Path) -> None:
    bad = write(tmp_path, GOOD.replace("enterprise cmb\n", "enterprise cbm\n")
                .replace("${amount:money}", "${amount:mony}"))
    r = scenec("check", bad)
    assert r.returncode == 1
    assert f"{bad}:5:16: error[E102]" in r.stderr and "did you mean 'cmb'?" in r.stderr
    assert "error[E104]" in r.stderr and "^" in r.stderr


def test_failed_build_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "rules.scb"
    bad = write(tmp_path, GOOD.replace('amount = 88', 'amount = 89'))
    r = scenec("build", bad, "-o", str(out))
    assert r.returncode == 1 and "E702" in r.stderr and not out.exists()
    assert list(tmp_path.iterdir()) == [Path(bad)]  # no temporary file left behind either


def test_build_never_writes_over_its_own_inputs(tmp_path: Path) -> None:
    """`-o` naming a rule file, a word file or any `.scene` (directly, through a folder
    or a symlink) is refused with exit 2, and every input is left as it was."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "w.txt").write_text("消费\n", encoding="utf-8")
    src = write(rules, 'words w from "w.txt"\n' + GOOD.replace('"信用卡消费" {',
                                                                '"信用卡消费" {\n  when any(w)'))
    (tmp_path / "link.scb").symlink_to(src)
    before = {p: p.read_bytes() for p in rules.iterdir()}
    for out in (src, str(rules / "w.txt"), str(rules / "new.scene"), str(tmp_path / "link.scb")):
        r = scenec("build", str(rules), "-o", out)
        assert r.returncode == 2 and "one of the files being built" in r.stderr, (out, r.stderr)
        assert "Traceback" not in r.stderr
    assert {p: p.read_bytes() for p in rules.iterdir()} == before
    assert scenec("build", str(rules), "-o", str(tmp_path / "ok.scb")).returncode == 0


def test_test_command_pass_and_fail(tmp_path: Path) -> None:
    r = scenec("test", write(tmp_path, GOOD))
    assert r.returncode == 0 and "1 passed, 0 failed" in r.stdout
    r = scenec("test", write(tmp_path, GOOD.replace("消费${", "支出${"), "bad.scene"))
    assert r.returncode == 1 and "FAIL spend" in r.stdout


def test_test_command_fails_when_examples_were_left_unrun(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Examples stopped by the build's example budget (E913) are a failure of `scenec
    test`, located, even when every example that did run passed."""
    from scenec.compiler import cli, examples

    monkeypatch.setattr(examples, "MAX_EXAMPLE_WORK", 100)
    monkeypatch.setattr(examples, "WORK_PER_EXAMPLE", 0)
    rules = "".join(f'scene s{i} "x" {{ when "k{i}x" or ("a" and /zzz/) example "k{i}x a" }}\n'
                    for i in range(30))  # each example wakes all 30 scenes, matches its own
    assert cli.main(["test", write(tmp_path, rules)]) == 1
    out, err = capsys.readouterr()
    assert "error[E913]" in err and ":4:" in err
    assert "skip s29 (0/1 run)" in out and "3 passed, 0 failed, 27 not run" in out


def test_an_unknown_ctx_fact_lists_at_most_30_declared_ones(tmp_path: Path) -> None:
    """The refusal of an unknown `--ctx` fact is one short line, however many facts the
    rules declare (each of 5,000 was listed)."""
    facts = ", ".join(f"f{i:04d}: str" for i in range(5000))
    out = str(tmp_path / "rules.scb")
    rules = f'context {{ {facts} }}\nscene s "x" {{ when "a" and ctx.f0000 == "y" }}\n'
    assert scenec("build", write(tmp_path, rules), "-o", out).returncode == 0
    r = scenec("match", out, "a", "--ctx", "nope=1")
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1
    assert "f0029, … (5000 in all)" in r.stderr and len(r.stderr) < 500


def test_match_file_dash_with_standard_input_closed(tmp_path: Path) -> None:
    """`--file -` when the process has no standard input at all (`<&-`: Python's stdin is
    None) is one error line and exit 2, not a traceback; no standard output is no error."""
    out = str(tmp_path / "rules.scb")
    assert scenec("build", write(tmp_path, GOOD), "-o", out).returncode == 0
    r = subprocess.run(["sh", "-c", 'exec "$0" -m scenec.compiler.cli match "$1" --file - <&-',
                        sys.executable, out], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith("scenec: error: --file -: ") and len(r.stderr.splitlines()) == 1
    # standard output closed (`>&-`): as if its reader had gone, no traceback
    msgs = write(tmp_path, MSG + "\n", "msgs.txt")
    r = subprocess.run(["sh", "-c", 'exec "$0" -m scenec.compiler.cli match "$1" --file "$2" >&-',
                        sys.executable, out, msgs], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stderr == ""


def test_match_refuses_bad_artifacts_and_ctx(tmp_path: Path) -> None:
    junk = tmp_path / "junk.scb"
    junk.write_bytes(b"not an artifact at all, really not")
    r = scenec("match", str(junk), "x")
    assert r.returncode == 2 and "not a scenec artifact" in r.stderr
    out = str(tmp_path / "rules.scb")
    assert scenec("build", write(tmp_path, GOOD), "-o", out).returncode == 0
    r = scenec("match", out, "x", "--ctx", "tier=1")
    assert r.returncode == 2 and "declared: segment" in r.stderr


def test_a_rule_path_that_is_not_a_regular_file_is_an_error(tmp_path: Path) -> None:
    """`scenec build` on a FIFO (which would block) or /dev/zero (which never ends)."""
    fifo = tmp_path / "r.scene"
    os.mkfifo(fifo)
    out = tmp_path / "o.scb"
    for path in (str(fifo), "/dev/zero"):
        done = scenec("build", path, "-o", str(out))
        assert done.returncode == 1 and "E504" in done.stderr + done.stdout
        assert "not a regular file" in done.stderr + done.stdout
        assert not out.exists()


def test_a_folder_reports_its_unreadable_scene_files(tmp_path: Path) -> None:
    """A FIFO or a dangling link named *.scene inside a folder is an E504 like the same
    path given directly, not a file skipped in silence."""
    write(tmp_path, GOOD)
    os.mkfifo(tmp_path / "pipe.scene")
    (tmp_path / "gone.scene").symlink_to(tmp_path / "nowhere.scene")
    done = scenec("check", str(tmp_path))
    assert done.returncode == 1
    assert done.stderr.count("E504") == 2 and "pipe.scene" in done.stderr
    assert "gone.scene" in done.stderr


def test_bad_match_options_name_themselves(tmp_path: Path) -> None:
    out = str(tmp_path / "rules.scb")
    assert scenec("build", write(tmp_path, GOOD.replace(
        "segment: str", "segment: str, n: number")), "-o", out).returncode == 0
    for args, says in ((["--ctx", "n=1e5"], "--ctx n takes a number"),
                       (["--ctx", "n="], "--ctx n takes a number"),
                       (["--ctx", "n=1_000"], "--ctx n takes a number"),
                       (["--now", "20240101"], "--now takes a date as YYYY-MM-DD"),
                       (["--now", "2024-02-30"], "is no date of the calendar"),
                       (["--file", str(tmp_path / "r.scene")], "not both")):
        done = scenec("match", out, MSG, *args)
        assert done.returncode == 2 and says in done.stderr, (args, done.stderr)
    assert scenec("match", out, MSG, "--ctx", "n=-3.5").returncode == 0
    hostile = str(tmp_path / "no\x1b[31m\u202e.scb")  # an escape sequence in a path
    for args in (["match", hostile, MSG], ["build", str(tmp_path / "r.scene"), "-o",
                                           str(tmp_path / "no" / "x\x1b[31m.scb")]):
        done = scenec(*args)
        assert done.returncode == 2 and "\x1b" not in done.stderr and "\u202e" not in done.stderr
    assert "-o needs a file name" in scenec("build", str(tmp_path / "r.scene"), "-o", "").stderr


def test_a_closed_or_full_output_ends_cleanly(tmp_path: Path) -> None:
    """`… | head` closing the pipe is no error (exit 0, nothing on stderr); an output that
    cannot be written (/dev/full) is exit 2 with one line, never a traceback."""
    out = str(tmp_path / "rules.scb")
    assert scenec("build", write(tmp_path, GOOD), "-o", out).returncode == 0
    lines = tmp_path / "many.txt"
    lines.write_text((MSG + "\n") * 20000, encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "scenec.compiler.cli", "match", out,
                             "--file", str(lines), "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    assert json.loads(proc.stdout.readline())["matches"]
    proc.stdout.close()
    assert proc.wait(timeout=120) == 0 and proc.stderr.read() == b""
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "scenec.compiler.cli", "check",
                               str(tmp_path / "r.scene")], stdout=full, stderr=subprocess.PIPE,
                              text=True, timeout=120)
    assert done.returncode == 2 and "No space left" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("closed", ["stdout", "both"])
def test_a_closed_output_keeps_a_failing_commands_status(tmp_path: Path, closed: str) -> None:
    """Round 14: a reader that went away (`scenec test rules | head -1`, `build … 2>&1 |
    head`) made every command exit 0, as `match` rightly does: a failing example, a rule
    error or a failed build passed `set -o pipefail` and CI. The status a command has
    found stands; only the rest of its output is dropped, without a traceback."""
    bad = write(tmp_path, GOOD.replace('expect card = "1234"', 'expect card = "9999"'))
    broken = write(tmp_path, 'scene a "A" { when ( }\n', "broken.scene")
    out = tmp_path / "x.scb"
    for args, status in ((["test", bad], 1), (["build", bad, "-o", str(out)], 1),
                         (["check", broken], 1), (["build", broken, "-o", str(out)], 1),
                         (["match", str(tmp_path / "none.scb"), MSG], 2),
                         (["build", write(tmp_path, GOOD, "good.scene"), "-o",
                           str(tmp_path / "no" / "x.scb")], 2)):
        read, written = os.pipe()
        os.close(read)  # the reader is gone before the first line is written
        errors = written if closed == "both" else subprocess.PIPE
        done = subprocess.run([sys.executable, "-m", "scenec.compiler.cli", *args],
                              stdout=written, stderr=errors, timeout=120)
        os.close(written)
        assert done.returncode == status, (args, done.returncode)
        assert b"Traceback" not in (done.stderr or b""), done.stderr
        assert not out.exists()


def test_the_artifact_replaces_only_a_regular_file_and_keeps_its_mode(tmp_path: Path) -> None:
    """`-o` naming a FIFO (or a device) is refused, not replaced by a file; a new artifact
    is readable as a new file would be (mkstemp's 0600 would lock out a service running
    under another user); a rebuilt one keeps its file's mode; a symlink is followed."""
    src = write(tmp_path, GOOD)
    fifo = tmp_path / "pipe.scb"
    os.mkfifo(fifo)
    done = scenec("build", src, "-o", str(fifo))
    assert done.returncode == 2 and "not a regular file" in done.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    new = tmp_path / "new.scb"
    assert scenec("build", src, "-o", str(new)).returncode == 0
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(os.stat(new).st_mode) == 0o666 & ~mask
    os.chmod(new, 0o640)
    link = tmp_path / "link.scb"
    link.symlink_to(new)
    assert scenec("build", src, "-o", str(link)).returncode == 0
    assert link.is_symlink() and stat.S_IMODE(os.stat(new).st_mode) == 0o640


def test_match_file_streams_its_answers(tmp_path: Path) -> None:
    """`--file -` answers each line before the next is read (a log piped in keeps getting
    answers), and a "line" without end (/dev/zero) is refused, not buffered."""
    out = str(tmp_path / "rules.scb")
    assert scenec("build", write(tmp_path, GOOD), "-o", out).returncode == 0
    proc = subprocess.Popen([sys.executable, "-m", "scenec.compiler.cli", "match", out,
                             "--file", "-", "--json"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        for _ in range(2):
            proc.stdin.write(MSG + "\n")
            proc.stdin.flush()
            ready, _, _ = select.select([proc.stdout], [], [], 60)   # not a hang if it buffers
            assert ready, "no answer before the next line"
            assert json.loads(proc.stdout.readline())["matches"][0]["scene"] == "spend"
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)
    assert proc.returncode == 0
    done = scenec("match", out, "--file", "/dev/zero")
    assert done.returncode == 2 and "longer than" in done.stderr



def test_a_folder_named_scenec_does_not_hide_the_installed_package(tmp_path: Path) -> None:
    """scenec is a regular package (its own __init__.py), not a namespace: a clone called
    `scenec` in the working folder (no __init__.py at its top) would otherwise be merged in
    front of the installed package, and `import scenec.runtime` would find the source tree
    without its compiled core. Checked end to end on a regular install (as CI installs it);
    an editable install resolves through its own finder, after sys.path, and cannot say."""
    import scenec as package

    assert package.__file__ is not None and package.__file__.endswith("__init__.py")
    assert scenec("--version").stdout == f"scenec {package.__version__}\n"
    (tmp_path / "scenec" / "runtime").mkdir(parents=True)
    (tmp_path / "scenec" / "runtime" / "__init__.py").write_text("raise SystemExit(3)\n")
    done = subprocess.run([sys.executable, "-c", "import scenec.runtime._core, scenec; "
                           "print(scenec.__file__)"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    if "site-packages" in package.__file__:
        assert done.returncode == 0 and done.stdout.strip() == package.__file__, done.stderr


def test_match_file_with_a_sender_on_each_line(tmp_path: Path) -> None:
    """`--tab`: SENDER<TAB>MESSAGE lines, so a log of many senders is one process; an
    empty sender is none (or `--sender`'s), a line without a TAB is refused."""
    out = str(tmp_path / "rules.scb")
    assert scenec("build", write(tmp_path, GOOD), "-o", out).returncode == 0
    plain = "您尾号1234的信用卡消费88.00元"
    done = scenec("match", out, "--file", "-", "--tab", "--json",
                  stdin=f"95555\t{plain}\n\t{plain}\n10086\t{plain}\n")
    lines = [json.loads(x) for x in done.stdout.splitlines()]
    assert [(x["sender"], [m["scene"] for m in x["matches"]]) for x in lines] == [
        ("95555", ["spend"]), (None, []), ("10086", [])]
    done = scenec("match", out, "--file", "-", "--tab", stdin=f"{plain}\n")
    assert done.returncode == 2 and "no TAB" in done.stderr
    done = scenec("match", out, "--file", "-", "--tab", stdin=f"95555\t{plain}\n\t{plain}\n")
    assert done.returncode == 0
    assert done.stdout.splitlines()[0] == f"> (from 95555) {plain}"  # human: whose it was
    assert f"\n> {plain}\nno scene matches" in done.stdout         # none: no "from"


def test_an_unreadable_message_file_is_said_plainly(tmp_path: Path) -> None:
    """`--file` that is missing or a folder: exit 2 with `cannot read --file …`, like an
    unreadable artifact, not Python's `[Errno 2] …`."""
    out = str(tmp_path / "rules.scb")
    assert scenec("build", write(tmp_path, GOOD), "-o", out).returncode == 0
    for path, says in ((tmp_path / "nowhere.txt", "No such file or directory"),
                       (tmp_path, "Is a directory")):
        done = scenec("match", out, "--file", str(path))
        assert done.returncode == 2, done.stderr
        assert done.stderr == f"scenec: error: cannot read --file {path}: {says}\n"


def test_every_command_and_option_has_help_and_exit_statuses() -> None:
    """`-h` of every command says what its exit statuses mean (as the README's CLI table
    does), and every argument has a help text."""
    top = scenec("--help")
    assert top.returncode == 0 and "exit status: 0 ok; 1" in top.stdout
    for command, statuses in (("build", "2 the output cannot be written"),
                              ("check", "1 the rules have errors"),
                              ("test", "1 the rules have errors, an example fails"),
                              ("match", "2 a missing, corrupt or incompatible artifact")):
        done = scenec(command, "-h")
        text = " ".join(done.stdout.split())  # argparse wraps at the terminal width
        assert done.returncode == 0 and "exit status: 0" in text and statuses in text
        helped = [line for line in done.stdout.split("options:")[0].splitlines()[1:]
                  if line.startswith("  ") and not line.startswith("   ")]
        assert helped and all(len(line.split()) > 1 for line in helped), (command, helped)
    for command in ("build", "check", "test", "match"):  # the options too
        done = scenec(command, "-h")
        options = done.stdout.split("options:")[1].split("exit status")[0]
        for line in options.splitlines():
            if line.startswith("  -"):  # `  --strict` alone: no help text
                assert len(line.split()) > 1, (command, line)



def test_match_reports_malformed_records_of_a_crafted_artifact(tmp_path: Path) -> None:
    """A re-signed artifact whose extractor names a group its pattern lacks: the scene is
    skipped (never read past RE2's result) and the CLI says so, exit 2."""
    from array import array

    from scenec.compiler import compile_paths
    from scenec.runtime.artifact import pack, unpack

    compiled = compile_paths([write(tmp_path, GOOD)], run_examples=False)
    assert compiled.artifact is not None
    sections = unpack(compiled.artifact)
    scenes = sections["scenes"]
    scenes[0]["templates"][0][1][0][2] = 7
    tables = {k: array(v.format, v.tobytes()) for k, v in sections.items()
              if isinstance(v, memoryview)}
    bad = tmp_path / "bad.scb"
    bad.write_bytes(pack(tables, {"meta": sections["meta"], "scenes": scenes}))
    done = scenec("match", str(bad), MSG)
    assert done.returncode == 2 and "malformed scene records skipped (spend)" in done.stderr


def _wait_for_cpu(proc: subprocess.Popen[str], seconds: float) -> None:
    """Wait until the child has run `seconds` of its own CPU time (or ended). A wall-clock
    wait failed on a loaded host: the child was still importing its modules, before
    `main` handles Ctrl-C, when the signal came. Its CPU time counts its own work only."""
    import time
    tick = os.sysconf("SC_CLK_TCK")
    while proc.poll() is None:
        with open(f"/proc/{proc.pid}/stat") as record:
            fields = record.read().rsplit(")", 1)[1].split()
        if (int(fields[11]) + int(fields[12])) / tick >= seconds:
            return
        time.sleep(0.02)


# how _interrupted starts scenec: the CLI module (its own Ctrl-C handler), by default
CLI_MODULE = ("-m", "scenec.compiler.cli")


def _interrupted(args: list[str], wait_for: str | None, delay: float, stdin: str = "",
                 entry: tuple[str, str] = CLI_MODULE) -> subprocess.CompletedProcess[str]:
    """Run `scenec ARGS` (`python ENTRY ARGS`), wait until its output shows `wait_for` and
    then `delay` seconds (without `wait_for`: until it has used `delay` seconds of CPU),
    then send SIGINT as Ctrl-C would. The child starts with SIGINT's default action, as in
    a terminal: a test run started in the background (`pytest … &` without job control)
    ignores SIGINT, Python then installs no KeyboardInterrupt handler, and the command
    rightly went on to exit 0."""
    import signal
    import time
    proc = subprocess.Popen([sys.executable, *entry, *args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert proc.stdin is not None and proc.stdout is not None
    if wait_for is not None:
        proc.stdin.write(stdin)
        proc.stdin.flush()
        assert wait_for in proc.stdout.readline()
        time.sleep(delay)
    else:
        _wait_for_cpu(proc, delay)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def test_ctrl_c_is_a_short_message_and_exit_130(tmp_path: Path) -> None:
    """Ctrl-C printed a KeyboardInterrupt traceback from wherever the command was (Lark's
    lexer, the checker, `re`'s compiler); now one line and the shell's 130. A build
    interrupted leaves neither an artifact nor a temporary file."""
    out = str(tmp_path / "rules.scb")
    assert scenec("build", write(tmp_path, GOOD), "-o", out).returncode == 0
    done = _interrupted(["match", out, "--file", "-", "--json"], "matches", 0.2, MSG + "\n")
    assert done.returncode == 130, done.stderr
    assert done.stderr == "scenec: interrupted\n"
    rules = Path(__file__).resolve().parent.parent / "rules"
    target = tmp_path / "out" / "all.scb"
    target.parent.mkdir()
    done = _interrupted(["build", str(rules), "-o", str(target)], None, 1.5)
    assert done.returncode == 130, done.stderr
    assert done.stderr == "scenec: interrupted\n"
    assert list(target.parent.iterdir()) == []


def test_ctrl_c_while_the_command_starts_is_the_same_short_message() -> None:
    """Ctrl-C while the `scenec` command was still importing its modules (Lark, the
    compiler) printed a traceback from the import machinery: the CLI's own handler was
    not in place yet. The entry point (`scenec._launch`) catches it there too."""
    rules = Path(__file__).resolve().parent.parent / "rules"
    launcher = ("-c", "import sys; from scenec._launch import main; sys.exit(main())")
    for _ in range(3):  # 0.08 s of CPU: the imports take 0.3-0.5 s
        done = _interrupted(["check", str(rules)], None, 0.08, entry=launcher)
        assert done.returncode == 130, done.stderr
        assert done.stderr == "scenec: interrupted\n"


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    """A read error inside `--file` (EIO from /proc/self/mem) was printed as Python's
    '[Errno 5] Input/output error', naming no file."""
    out = str(tmp_path / "rules.scb")
    assert scenec("build", write(tmp_path, GOOD), "-o", out).returncode == 0
    done = scenec("match", out, "--file", "/proc/self/mem")
    assert done.returncode == 2
    assert done.stderr.startswith("scenec: error: cannot read --file /proc/self/mem: ")
    assert "Errno" not in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("twice", [["-o", "a.scb", "-o", "b.scb"],
                                   ["--output", "a.scb", "-o", "b.scb"]])
def test_an_option_given_twice_is_refused(tmp_path: Path, twice: list[str]) -> None:
    """`build … -o a.scb -o b.scb` wrote only b.scb (argparse keeps the last value), so a
    script that meant both, or one, got a silent surprise; likewise two `--file`,
    `--sender` or `--now` for `match`. Each is a usage error (exit 2) naming both values."""
    src = write(tmp_path, GOOD)
    done = subprocess.run([sys.executable, "-m", "scenec.compiler.cli", "build", src, *twice],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2 and "given twice" in done.stderr, done.stderr
    assert not (tmp_path / "a.scb").exists() and not (tmp_path / "b.scb").exists()
    out = str(tmp_path / "rules.scb")
    assert scenec("build", src, "-o", out).returncode == 0
    for flag, values in [("--file", ("-", "-")), ("--sender", ("95555", "10086")),
                         ("--now", ("2025-01-01", "2025-01-02"))]:
        done = scenec("match", out, *([] if flag == "--file" else [MSG]),
                      flag, values[0], flag, values[1], stdin="")
        assert done.returncode == 2 and f"{flag} given twice" in done.stderr, done.stderr
    # the same context fact twice: `--ctx segment=gold --ctx segment=basic` kept the last
    done = scenec("match", out, MSG, "--ctx", "segment=gold", "--ctx", "segment=basic")
    assert done.returncode == 2 and "--ctx segment given twice" in done.stderr, done.stderr


def test_match_to_a_full_output_says_it_cannot_write(tmp_path: Path) -> None:
    """`scenec match … > /dev/full` said 'scenec: error: [Errno 28] No space left on
    device', as if an input were at fault (match took every OSError for one); now
    'cannot write the output', as `check` says it, exit 2."""
    out = str(tmp_path / "rules.scb")
    assert scenec("build", write(tmp_path, GOOD), "-o", out).returncode == 0
    for args in ([MSG], [MSG, "--json"], ["--file", "-"]):
        with open("/dev/full", "w") as full:
            done = subprocess.run([sys.executable, "-m", "scenec.compiler.cli", "match", out,
                                   *args], input=MSG + "\n", stdout=full,
                                  stderr=subprocess.PIPE, text=True, timeout=120)
        assert done.returncode == 2
        assert done.stderr == "scenec: error: cannot write the output: No space left on device\n"


def test_a_single_path_is_one_path_never_its_characters(tmp_path: Path) -> None:
    """Round 11: `compile_paths("rules/")` (a str where a list was meant) walked each
    character as a path, and `"/"` is the root: the whole file system was read for rule
    files. `compile_paths`, `front_end`, `build` and `compile_files` take one str or
    `os.PathLike` as one path; a `Path` made `build` and `compile_files` raise TypeError."""
    from scenec.compiler import build, compile_files, compile_paths, front_end

    folder = Path(write(tmp_path, GOOD)).parent
    for one in (str(folder), folder):
        assert compile_paths(one, run_examples=False).ok
        assert front_end(one).ok
        assert compile_files(one) is not None
        assert build(one, str(tmp_path / "x.scb")).ok
    with pytest.raises(TypeError, match="paths must be"):
        compile_paths(str(folder).encode())  # type: ignore[arg-type]


def test_a_carriage_return_inside_a_message_does_not_split_it(tmp_path: Path) -> None:
    """Round 13: `--file PATH` was read with universal newlines, so a message holding a
    bare CR (an SMS may) was two messages, the second matched alone, while `--file -`
    read the same bytes as one message. Lines end at LF only, as for standard input; a
    CRLF line end is still taken off whole."""
    out = str(tmp_path / "rules.scb")
    assert scenec("build", write(tmp_path, GOOD), "-o", out).returncode == 0
    body = MSG + "\r你好\n" + MSG + "\r\n"
    msgs = tmp_path / "m.txt"
    msgs.write_bytes(body.encode())
    by_file = scenec("match", out, "--file", str(msgs), "--json")
    by_stdin = scenec("match", out, "--file", "-", "--json", stdin=body)
    for r in (by_file, by_stdin):
        assert r.returncode == 0, r.stderr
        texts = [json.loads(line)["text"] for line in r.stdout.splitlines()]
        assert texts == [MSG + "\r你好", MSG], texts


def test_json_lines_stay_one_line_for_any_line_splitter(tmp_path: Path) -> None:
    """Round 13: U+2028 and U+2029 (and the C1 NEL) in a message were written raw in its
    JSON line: valid JSON, but `str.splitlines()` and JavaScript break a line there, so a
    reader of the lines got two halves of invalid JSON. They are written as escapes, and
    the human listing shows them as visible stand-ins."""
    out = str(tmp_path / "rules.scb")
    assert scenec("build", write(tmp_path, GOOD), "-o", out).returncode == 0
    text = MSG + "\u2028a\u2029b\x85c\x1cd\x1de\x1ef\x0bg\x0ch"
    r = scenec("match", out, text, "--json")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["text"] == text, r.stdout
    human = scenec("match", out, text)
    assert human.returncode == 0 and len(human.stdout.splitlines()) == len(
        human.stdout.split("\n")) - 1, human.stdout


def test_a_build_that_defines_no_scene_writes_nothing(tmp_path: Path) -> None:
    """Round 13: rule files that define no scene (emptied by a failed checkout or a full
    disk, or every scene commented out) built an artifact that matches nothing, exit 0,
    and a service's `Handle.reload` swapped it in: every message unmatched. `build` now
    refuses it (E603 at the first file: round 14 gave it a code of its own, it was E504
    'cannot read') and leaves the previous artifact as it was; `check` of a file of word
    sets alone still passes."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "a.scene").write_text("", encoding="utf-8")
    (rules / "b.scene").write_text('# scene gone "G" { when "x" }\nwords w = "a"\n',
                                   encoding="utf-8")
    out = tmp_path / "rules.scb"
    out.write_bytes(b"previous artifact")
    r = scenec("build", str(rules), "-o", str(out))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "error[E603]" in r.stderr and "no scene" in r.stderr and "hint" in r.stderr
    assert "E504" not in r.stderr  # nothing was unreadable
    assert out.read_bytes() == b"previous artifact"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rules", "rules.scb"]
    assert scenec("check", str(rules / "b.scene")).returncode == 0
