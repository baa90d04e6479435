"""Corrupt, incompatible and hostile artifacts are refused with ArtifactError, never a crash.

A checksum catches accidents; the hostile cases re-sign a mutated payload with a valid
checksum, so only the loader's and the core's own validation stand between the bytes and
memory: the result must be ArtifactError, or a rule set that matches without crashing.
"""

from __future__ import annotations

import array
import hashlib
import os
import struct
import subprocess
import sys

import pytest
from helpers import compile_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scenec.runtime import FORMAT_VERSION, ArtifactError, load, loads
from scenec.runtime.artifact import MAGIC, pack, unpack

SOURCE = """
enterprise cmb "招商银行" { sender "95555", "【招商银行】" }
words codes = "验证码", "校验码"
scene code "验证码" {
    when any(codes) and not "退订"
    extract code = /(\\d{4,6})/ as code
    button "复制" -> copy(code)
}
scene spend "消费" {
    enterprise cmb
    template "您尾号${card:digits}的信用卡消费${amount:money}元"
    highlight amount
}
"""
MESSAGES = ["【招商银行】您尾号1234的信用卡消费88.00元", "验证码123456", "", "x" * 300]


@pytest.fixture(scope="module")
def artifact() -> bytes:
    data = compile_text(SOURCE).artifact
    assert data is not None
    return data


def test_round_trip(artifact: bytes, tmp_path: object) -> None:
    rs = loads(artifact)
    assert rs.best(MESSAGES[0]).scene == "spend"  # type: ignore[union-attr]


@pytest.mark.parametrize(("data", "cause"), [
    (b"", "empty"), (b"SCENEC", "shorter than the header"),
    (b"PK\x03\x04" + b"\0" * 100, "bad magic"),
    (os.urandom(4096), "bad magic"),
])
def test_garbage_is_refused(data: bytes, cause: str) -> None:
    with pytest.raises(ArtifactError, match=cause):
        loads(data)


def test_other_format_version(artifact: bytes) -> None:
    bumped = artifact[:8] + struct.pack("<I", FORMAT_VERSION + 1) + artifact[12:]
    with pytest.raises(ArtifactError, match="format version"):
        loads(bumped)


def test_every_truncation(artifact: bytes) -> None:
    for n in range(len(artifact)):
        with pytest.raises(ArtifactError):
            loads(artifact[:n])


def test_every_single_bit_flip(artifact: bytes) -> None:
    data = bytearray(artifact)
    for i in range(len(data)):
        for bit in range(8):
            data[i] ^= 1 << bit
            with pytest.raises(ArtifactError):
                loads(bytes(data))
            data[i] ^= 1 << bit


def test_missing_file_and_directory(tmp_path: object) -> None:
    with pytest.raises(ArtifactError, match="cannot read"):
        load(os.path.join(str(tmp_path), "nope.scb"))
    with pytest.raises(ArtifactError, match="not a regular file"):
        load(str(tmp_path))


def test_only_a_regular_file_is_read(tmp_path: object) -> None:
    """A FIFO with no writer would block `load` (and a service's reload) forever, and
    /dev/zero would never end: both are refused before anything is read. Run in a child
    process, so that a regression fails by timeout instead of hanging the suite."""
    fifo = os.path.join(str(tmp_path), "rules.scb")
    os.mkfifo(fifo)
    code = ("from scenec.runtime import ArtifactError, load\n"
            f"for p in ({fifo!r}, '/dev/zero'):\n"
            "    try:\n        load(p)\n    except ArtifactError as e:\n        print(e)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.count("not a regular file") == 2, done.stdout + done.stderr


def resign(payload: bytes) -> bytes:
    header = MAGIC + struct.pack("<IIQ", FORMAT_VERSION, 0, len(payload))
    return header + hashlib.sha256(payload).digest() + payload


@settings(max_examples=int(os.environ.get("SCENEC_FUZZ_EXAMPLES", "400")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_hostile_payload_with_valid_checksum(artifact: bytes, data: st.DataObject) -> None:
    payload = bytearray(artifact[56:])
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(0, len(payload) - 1))
        payload[i] = data.draw(st.integers(0, 255))
    refused_or_safe(resign(bytes(payload)))


def refused_or_safe(data: bytes) -> None:
    """A hostile artifact is refused with a message, or it loads and matching is safe."""
    try:
        rs = loads(data)
    except ArtifactError as exc:
        assert str(exc)
        return
    for text in MESSAGES:
        rs.match(text, "95555")
        rs.match_many([text] * 3, ["95555", None, "1"], threads=2)


def mutated_sections(artifact: bytes, data: st.DataObject) -> bytes:
    """The artifact's sections with 1–3 table entries set to the values that break bounds
    checks (-1, 0, the length, one past it, int32 extremes) or a table grown or shrunk by
    one, re-packed with a valid checksum: each mutation reaches the core's validation
    instead of dying in the JSON parser as most random bytes do."""
    sections = unpack(artifact)
    arrays = {k: array.array("i" if v.itemsize == 4 else "q", v.tolist())
              for k, v in sections.items() if isinstance(v, memoryview)}
    docs = {k: v for k, v in sections.items() if not isinstance(v, memoryview)}
    for _ in range(data.draw(st.integers(1, 3))):
        table = arrays[data.draw(st.sampled_from(sorted(arrays)))]
        n = len(table)
        value = data.draw(st.sampled_from([-1, 0, 1, n - 1, n, n + 1, 2**31 - 1, -2**31])
                          | st.integers(-2, 3 * n + 2))
        how = data.draw(st.sampled_from(["set", "append", "pop"]) if n else st.just("append"))
        if how == "set":
            table[data.draw(st.integers(0, n - 1))] = value
        elif how == "append":
            table.append(value)
        else:
            table.pop()
    return pack(arrays, docs)


@settings(max_examples=int(os.environ.get("SCENEC_FUZZ_EXAMPLES", "400")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_hostile_tables_with_valid_checksum(artifact: bytes, data: st.DataObject) -> None:
    refused_or_safe(mutated_sections(artifact, data))


def test_oversized_and_unnameable_files_are_refused_unread(tmp_path: object) -> None:
    """A 100 GB file read whole before its header was checked gave a MemoryError (a 2 GB
    one took 15 s and 2 GB); a name with a NUL or a lone surrogate gave a ValueError."""
    from scenec.runtime.ruleset import MAX_ARTIFACT_BYTES

    big = os.path.join(str(tmp_path), "big.scb")
    with open(big, "wb") as f:
        f.truncate(MAX_ARTIFACT_BYTES + 1)  # sparse: no disk, no memory
    with pytest.raises(ArtifactError, match="the limit is"):
        load(big)
    for name in ("rules\0.scb", "rules\ud800.scb"):
        with pytest.raises(ArtifactError, match="cannot read artifact"):
            load(name)


@pytest.mark.skipif(not os.path.isfile("/proc/self/maps"), reason="needs Linux's /proc")
def test_a_file_whose_size_is_not_told_is_read_only_to_the_limit(
        monkeypatch: pytest.MonkeyPatch, artifact: bytes, tmp_path: object) -> None:
    """A /proc file states 0 bytes and then gives more: the read itself is bounded, by
    the header first (/proc/self/maps has no magic number, and is refused after 56
    bytes), then by the limit, which the length the header states must respect."""
    from scenec.runtime import ruleset

    monkeypatch.setattr(ruleset, "MAX_ARTIFACT_BYTES", 100)
    with pytest.raises(ArtifactError, match="bad magic"):
        load("/proc/self/maps")
    monkeypatch.setattr(ruleset, "MAX_ARTIFACT_BYTES", len(artifact) - 1)
    path = os.path.join(str(tmp_path), "a.scb")
    with open(path, "wb") as f:
        f.write(artifact)
    with pytest.raises(ArtifactError, match=f"the limit is {len(artifact) - 1}"):
        load(path)


def test_only_the_header_is_read_before_it_is_checked(artifact: bytes,
                                                      tmp_path: object) -> None:
    """A file of zeros just under the 1 GiB limit was read whole (6.5 s, 1 GB resident)
    before its magic number was looked at, and so was an artifact padded to that size
    before its header's payload length was compared with the file's. Both are refused
    now after reading the 56-byte header: Python allocates almost nothing."""
    import tracemalloc

    from scenec.runtime.ruleset import MAX_ARTIFACT_BYTES

    zeros, padded = (os.path.join(str(tmp_path), n) for n in ("zeros.scb", "padded.scb"))
    for path, head in ((zeros, b""), (padded, artifact)):
        with open(path, "wb") as f:
            f.write(head)
            f.truncate(MAX_ARTIFACT_BYTES)  # sparse: no disk, and no memory unless read
    tracemalloc.start()
    try:
        with pytest.raises(ArtifactError, match="bad magic"):
            load(zeros)
        with pytest.raises(ArtifactError, match=f"header says {len(artifact) - 56} payload"):
            load(padded)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, peak


def test_loading_reserves_only_what_the_file_holds(tmp_path: object) -> None:
    """The whole file was read with `read(MAX_ARTIFACT_BYTES + 1)`, which allocates its
    argument before reading: under an address-space limit 900 MB above what the process
    uses (`ulimit -v`, a container's), loading a 1 KB artifact raised MemoryError, and
    `Handle.reload` raised it instead of keeping the old rule set. Run in a child whose
    limit is 512 MB above its own size after import."""
    rules = os.path.join(str(tmp_path), "r.scene")
    out = os.path.join(str(tmp_path), "r.scb")
    with open(rules, "w", encoding="utf-8") as f:
        f.write('scene a "A" { when "x" }\n')
    code = ("import resource, sys\n"
            "from scenec.compiler import build\n"
            "from scenec.runtime import Handle\n"
            f"assert build([{rules!r}], {out!r}).ok\n"
            "size = int(open('/proc/self/statm').read().split()[0]) * resource.getpagesize()\n"
            "resource.setrlimit(resource.RLIMIT_AS, (size + (512 << 20), -1))\n"
            f"h = Handle({out!r})\n"
            f"h.reload({out!r})\n"
            "print(h.best('x').scene, h.generation)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.split() == ["a", "1"], done.stdout + done.stderr[-2000:]


def test_an_artifact_too_big_for_the_memory_left_is_an_artifact_error(tmp_path: object) -> None:
    """Round 13: a file at the 1 GiB limit whose header states its length (a sparse file
    holds no blocks: any user can make one) is read whole before its checksum is
    compared; under an address-space limit `Handle.reload` raised a bare MemoryError
    instead of ArtifactError. It is now ArtifactError saying memory ran out, and the old
    rule set keeps serving."""
    import struct

    from scenec.runtime.artifact import FORMAT_VERSION, MAGIC

    rules = os.path.join(str(tmp_path), "r.scene")
    out = os.path.join(str(tmp_path), "r.scb")
    big = os.path.join(str(tmp_path), "big.scb")
    with open(rules, "w", encoding="utf-8") as f:
        f.write('scene a "A" { when "x" }\n')
    length = (1 << 30) - 64
    with open(big, "wb") as f:
        f.write(struct.pack("<8sIIQ32s", MAGIC, FORMAT_VERSION, 0, length, bytes(32)))
        f.truncate(56 + length)
    code = ("import resource, sys\n"
            "from scenec.compiler import build\n"
            "from scenec.runtime import ArtifactError, Handle\n"
            f"assert build([{rules!r}], {out!r}).ok\n"
            f"h = Handle({out!r})\n"
            "size = int(open('/proc/self/statm').read().split()[0]) * resource.getpagesize()\n"
            "resource.setrlimit(resource.RLIMIT_AS, (size + (400 << 20), -1))\n"
            "try:\n"
            f"    h.reload({big!r})\n"
            "except ArtifactError as exc:\n"
            "    print('refused:', exc)\n"
            "print(h.best('x').scene, h.generation)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    lines = done.stdout.splitlines()
    assert len(lines) == 2 and lines[1] == "a 0", done.stdout + done.stderr[-2000:]
    assert lines[0].startswith("refused:") and "memory" in lines[0], lines


@pytest.mark.parametrize("meta", [
    b'{"nlits": Infinity, "nscenes": 1}', b'{"nlits": NaN}', b'{"nlits": 1' + b"0" * 5000 + b"}",
])
def test_json_that_python_reads_but_is_not_json_is_refused(artifact: bytes, meta: bytes) -> None:
    """`Infinity`, `NaN` and 5,000-digit numbers in a section: ArtifactError, never the
    OverflowError or ValueError they used to surface as."""
    sections = unpack(artifact)
    docs = {k: v for k, v in sections.items() if not isinstance(v, memoryview)}
    arrays = {k: array.array("i", v) for k, v in sections.items() if isinstance(v, memoryview)}
    docs["meta"] = meta
    with pytest.raises(ArtifactError, match="section meta: bad JSON"):
        loads(pack(arrays, docs))


def test_class_ids_beyond_int32_are_refused(artifact: bytes) -> None:
    sections = unpack(artifact)
    docs = {k: v for k, v in sections.items() if not isinstance(v, memoryview)}
    arrays = {k: array.array("i", v) for k, v in sections.items() if isinstance(v, memoryview)}
    arrays["ac_class_pairs"] = array.array("q", [0x41, 2**40])
    with pytest.raises(ArtifactError):
        loads(pack(arrays, docs))


@pytest.mark.parametrize("section", ["meta", "scenes"])
def test_json_that_would_grow_many_times_when_parsed_is_refused_unparsed(
        artifact: bytes, section: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`[[],[],…]` grows ~27 times when parsed (a 30 MB artifact took 820 MB, so one near
    the 1 GiB file limit would end the service). The values of the meta section and of
    each scene record are counted first (`_core.json_values`, without parsing) against
    MAX_META_VALUES and MAX_RECORD_VALUES, lowered here, as the limits are not far below
    the real ones; a section just within them still loads."""
    from scenec.runtime import ruleset

    monkeypatch.setattr(ruleset, "MAX_META_VALUES", 2_000)
    monkeypatch.setattr(ruleset, "MAX_RECORD_VALUES", 10_000)
    sections = unpack(artifact)
    arrays = {k: array.array("i", v) for k, v in sections.items() if isinstance(v, memoryview)}
    docs = {k: v for k, v in sections.items() if not isinstance(v, memoryview)}

    def with_padding(n: int) -> bytes:
        padded = dict(docs)
        if section == "meta":
            padded["meta"] = {**docs["meta"], "x": [[]] * n}
        else:
            padded["scenes"] = [{**docs["scenes"][0], "x": [[]] * n}, *docs["scenes"][1:]]
        return pack(arrays, padded)

    refused = {"meta": "section meta: more than 2000", "scenes": "holds more than 10000"}
    with pytest.raises(ArtifactError, match=refused[section]):
        loads(with_padding(6_000))
    assert loads(with_padding(100)).match("x") is not None


def test_json_values_counts_outside_strings_only() -> None:
    from scenec.runtime._core import json_values

    assert json_values(b'{"a":[1,2,{}]}') == 7  # an upper bound of its 6 values (the key is one)
    assert json_values(b'"[,{:\\"]"') == 1  # within a string, an escaped quote too
    assert json_values(b"") == 1


@pytest.mark.parametrize(("key", "value"), [
    ("nlits", "12"), ("nlits", 12.5), ("nlits", True), ("nscenes", "2"), ("nscenes", 2.0),
    ("senders", {"95555": 1.9}), ("senders", {"95555": True}), ("senders", {"95555": "1"}),
    ("context", {"vip": {"type": "bool"}}), ("context", {"vip": None}),
])
def test_meta_values_of_the_wrong_type_are_refused(artifact: bytes, key: str,
                                                   value: object) -> None:
    """The meta section was read with `int()` and `str()`: a count of "12" or 12.5, a
    sender's literal id of 1.9 or true (read as literal 1), a context type of `{…}` or
    null (read as the text "None") loaded as if the build had written them. A build
    writes ints and type names; anything else is a crafted or damaged artifact."""
    sections = unpack(artifact)
    docs = {k: v for k, v in sections.items() if not isinstance(v, memoryview)}
    arrays = {k: array.array("i", v) for k, v in sections.items() if isinstance(v, memoryview)}
    meta = dict(docs["meta"])
    meta[key] = {**meta[key], **value} if isinstance(value, dict) else value
    if key == "nscenes" and value == 2.0:
        assert meta["nscenes"] == len(docs["scenes"])  # equal as a number, not as a count
    with pytest.raises(ArtifactError, match="bad meta section"):
        loads(pack(arrays, {**docs, "meta": meta}))


def test_a_class_table_longer_than_unicode_is_refused_unread(artifact: bytes) -> None:
    """`ac_class_pairs` holds a (code point, class) pair for each code point a literal
    uses: at most 0x110000 pairs. Its pairs are read in a Python loop, so a crafted table
    of the file limit's size (1 GiB, 134 million pairs) took ~12 s to load before the core
    refused or accepted it; one longer than Unicode is refused before the loop."""
    import time

    sections = unpack(artifact)
    docs = {k: v for k, v in sections.items() if not isinstance(v, memoryview)}
    arrays = {k: array.array("i", v) for k, v in sections.items() if isinstance(v, memoryview)}
    arrays["ac_class_pairs"] = array.array("i", [0x41, 0]) * (0x110000 + 1)
    data = pack(arrays, docs)
    start = time.perf_counter()
    with pytest.raises(ArtifactError, match="ac_class_pairs: .*more pairs than"):
        loads(data)
    assert time.perf_counter() - start < 0.5


def test_whole_sections_dropped_emptied_swapped_or_replaced(artifact: bytes) -> None:
    """Section by section, re-packed with a valid checksum so that only validation can
    refuse it: a section dropped, emptied, reversed, doubled or halved, stored with the
    other integer width, two sections of a kind swapped, a JSON section replaced by
    null, [], {}, a string, or with each meta key deleted or set to null, [], {}, -1,
    2**64, "x" or true. Each is refused with ArtifactError, or it loads, validates and
    matches without error. (Round 10 ran this on the shipped library: 254 cases, 188
    refused, none a stray exception.)"""
    sections = unpack(artifact)
    arrays = {k: array.array("i" if v.itemsize == 4 else "q", v.tolist())
              for k, v in sections.items() if isinstance(v, memoryview)}
    docs = {k: v for k, v in sections.items() if not isinstance(v, memoryview)}
    cases: list[tuple[dict, dict]] = []
    for name, table in arrays.items():
        other = "q" if table.typecode == "i" else "i"
        for new in (None, array.array(table.typecode), array.array(table.typecode, table[::-1]),
                    table + table, table[: len(table) // 2], array.array(other, table)):
            changed = {k: v for k, v in arrays.items() if k != name or new is not None}
            if new is not None:
                changed[name] = new
            cases.append((changed, docs))
        for second in arrays:
            if second > name:
                cases.append(({**arrays, name: arrays[second], second: table}, docs))
    for name, doc in docs.items():
        values: list[object] = [None, [], {}, "x", -1]
        if isinstance(doc, dict):
            for key in doc:
                values += [{k: v for k, v in doc.items() if k != key}]
                values += [{**doc, key: v} for v in (None, [], {}, -1, 2**64, "x", True)]
        for value in values:
            cases.append((arrays, {**docs, name: value}))
        cases.append((arrays, {k: v for k, v in docs.items() if k != name}))
    assert len(cases) > 100
    for changed_arrays, changed_docs in cases:
        data = pack(changed_arrays, changed_docs)
        try:
            loads(data).validate()
        except ArtifactError as exc:
            assert str(exc)
            continue
        refused_or_safe(data)
