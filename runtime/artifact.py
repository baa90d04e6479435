"""The artifact container: a header, a section table, and typed arrays or JSON.

Layout (all integers little-endian):

    magic      8 bytes   b"SCENEC\\x00\\x1a"
    version    u32       FORMAT_VERSION
    flags      u32       0 (no flags are defined; any other value is refused)
    length     u64       bytes of the payload that follows the header
    sha256     32 bytes  of the payload
    payload:   u32 section count, then per section: u16 name length, name (ASCII),
               u8 type ('i' int32 array, 'q' int64 array, 'j' UTF-8 JSON), 3 zero bytes,
               u64 offset (from payload start, 8-aligned), u64 byte length;
               then the section bodies.

Nothing in a file is executed on load: arrays are viewed in place and JSON is parsed
with the standard parser. The checksum catches corruption; the core's own validation of
every index catches anything a checksum cannot (a file crafted with a valid checksum).
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
from typing import Any

MAGIC = b"SCENEC\x00\x1a"
FORMAT_VERSION = 1
_HEADER = struct.Struct("<8sIIQ32s")
HEADER_SIZE = _HEADER.size  # 56
_ENTRY = struct.Struct("<B3xQQ")
MAX_SECTIONS = 64


class ArtifactError(Exception):
    """The file is not a usable scenec artifact; the message says why."""


Sections = dict[str, Any]  # name -> memoryview (arrays), parsed JSON, or RawJSON


class RawJSON:
    """A JSON section left unparsed (`unpack(..., raw=...)`): its UTF-8 bytes in place."""

    __slots__ = ("body",)

    def __init__(self, body: memoryview) -> None:
        self.body = body


def encode_json(doc: Any) -> bytes:
    """A JSON section's bytes: compact, UTF-8, non-ASCII kept as is."""
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def pack(arrays: dict[str, Any], docs: dict[str, Any]) -> bytes:
    """Serialise named `array.array`s (typecode i or q) and JSON documents; a document
    given as `bytes` is taken as already encoded (`encode_json`)."""
    bodies: list[tuple[str, str, bytes]] = []
    for name, arr in arrays.items():
        if arr.typecode not in ("i", "q") or arr.itemsize not in (4, 8):
            raise ValueError(f"section {name}: unsupported array type {arr.typecode}")
        data = arr.tobytes() if sys.byteorder == "little" else _swapped(arr)
        bodies.append((name, arr.typecode, data))
    for name, doc in docs.items():
        bodies.append((name, "j", doc if isinstance(doc, bytes) else encode_json(doc)))
    table_size = 4 + sum(2 + len(n) + _ENTRY.size for n, _, _ in bodies)
    offset = _align(table_size)
    table = [struct.pack("<I", len(bodies))]
    for name, typ, data in bodies:
        table.append(struct.pack("<H", len(name)) + name.encode("ascii"))
        table.append(_ENTRY.pack(ord(typ), offset, len(data)))
        offset = _align(offset + len(data))
    payload = bytearray(b"".join(table))
    for _, _, data in bodies:
        payload.extend(b"\0" * (_align(len(payload)) - len(payload)))
        payload.extend(data)
    header = _HEADER.pack(MAGIC, FORMAT_VERSION, 0, len(payload), hashlib.sha256(payload).digest())
    return header + bytes(payload)


def _swapped(arr: Any) -> bytes:
    copy = type(arr)(arr.typecode, arr)
    copy.byteswap()
    return copy.tobytes()


def _align(n: int) -> int:
    return (n + 7) & ~7


def unpack(data: bytes | bytearray | memoryview, raw: frozenset[str] = frozenset()) -> Sections:
    """Check header, length and checksum, then view every section; raises ArtifactError.

    JSON sections named in `raw` are returned as `RawJSON` for the caller to parse."""
    buf = memoryview(data)
    length = payload_length(buf)
    payload = buf[HEADER_SIZE:]
    if len(payload) != length:
        raise ArtifactError(wrong_length(length, len(payload)))
    if hashlib.sha256(payload).digest() != bytes(buf[HEADER_SIZE - 32 : HEADER_SIZE]):
        raise ArtifactError("checksum mismatch: the artifact is corrupt")
    return _sections(payload, raw)


def payload_length(head: bytes | bytearray | memoryview) -> int:
    """The payload length the header at the start of `head` states, once its magic number,
    version and flags are checked; raises ArtifactError. A file's first HEADER_SIZE bytes
    are enough, so a reader refuses a file that is no artifact, or states another length
    than it has, before reading (and allocating) the rest of it."""
    head = memoryview(head)
    if len(head) < HEADER_SIZE:
        if bytes(head[:8]) != MAGIC[: min(8, len(head))] or len(head) == 0:
            raise ArtifactError("not a scenec artifact (file is empty or too short)")
        raise ArtifactError(f"truncated artifact: {len(head)} bytes, shorter than the header")
    magic, version, flags, length, _ = _HEADER.unpack_from(head)
    if magic != MAGIC:
        raise ArtifactError("not a scenec artifact (bad magic number)")
    if version != FORMAT_VERSION:
        raise ArtifactError(f"artifact format version {version}; this runtime reads version "
                            f"{FORMAT_VERSION}: rebuild it with this scenec's `scenec build`")
    if flags != 0:
        raise ArtifactError(f"artifact uses unknown header flags {flags:#x}: rebuild it with "
                            "this scenec's `scenec build`")
    return int(length)


def wrong_length(stated: int, found: int | str) -> str:
    return f"truncated or padded artifact: header says {stated} payload bytes, file has {found}"


def _sections(payload: memoryview, raw: frozenset[str]) -> Sections:
    try:
        (count,) = struct.unpack_from("<I", payload, 0)
        if count > MAX_SECTIONS:
            raise ArtifactError(f"bad section table: {count} sections")
        pos, out = 4, {}
        for _ in range(count):
            (nlen,) = struct.unpack_from("<H", payload, pos)
            name = bytes(payload[pos + 2 : pos + 2 + nlen]).decode("ascii")
            typ, offset, size = _ENTRY.unpack_from(payload, pos + 2 + nlen)
            pos += 2 + nlen + _ENTRY.size
            if offset % 8 or offset + size > len(payload) or name in out:
                raise ArtifactError(f"bad section table entry for {name!r}")
            body = payload[offset : offset + size]
            out[name] = RawJSON(body) if name in raw and typ == ord("j") else \
                _section(name, chr(typ), body)
        return out
    except (struct.error, UnicodeDecodeError) as exc:
        raise ArtifactError(f"bad section table: {exc}") from None


def _not_json(constant: str) -> Any:
    """`NaN` and `Infinity` are not JSON (Python accepts them): a count of infinity would
    surface later as an OverflowError instead of a refused artifact."""
    raise ValueError(f"{constant} is not a JSON value")


def parse_json(body: bytes | memoryview) -> Any:
    """A JSON document of the artifact: strict JSON (no `NaN` or `Infinity`, which a
    result carrying them would print as invalid `--json`). Raises ValueError, or
    RecursionError for very deep nesting. Used for the sections at load and for each
    scene record when it is first read (`ruleset.Records`)."""
    return json.loads(bytes(body).decode("utf-8"), parse_constant=_not_json)


def _section(name: str, typ: str, body: memoryview) -> Any:
    if typ == "j":
        try:
            return parse_json(body)
        except (ValueError, RecursionError) as exc:  # also a 5,000-digit number
            raise ArtifactError(f"section {name}: bad JSON ({exc})") from None
    if typ not in ("i", "q"):
        raise ArtifactError(f"section {name}: unknown type {typ!r}")
    size = 4 if typ == "i" else 8
    if len(body) % size:
        raise ArtifactError(f"section {name}: length {len(body)} is not a multiple of {size}")
    if sys.byteorder != "little":
        from array import array

        arr = array(typ, bytes(body))
        arr.byteswap()
        return memoryview(arr)
    return body.cast(typ)
