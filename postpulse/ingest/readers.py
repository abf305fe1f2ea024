"""Container readers: JSON array, single JSON object with item lists, JSONL, CSV; gzip by magic
bytes. Everything streams: a top-level JSON array of objects element by element with orjson
(``iter_json_array``'s fast path), other JSON with ijson (yajl2_c backend when available), line
by line with orjson for JSONL, the csv module for CSV.

File-level problems (missing, empty, binary, wrong encoding, truncated or invalid JSON document)
raise :class:`FileReadError`. Per-record problems in line-based containers (one bad JSONL line,
one CSV row with the wrong number of fields) are reported per record, so the rest of the file
still loads.
"""

from __future__ import annotations

import codecs
import csv
import errno
import gzip
import io
import json
import os
import re
import stat
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import ijson
import orjson

from postpulse.errors import PostpulseError

from .parsers.flatten import needs_unflatten, unflatten

try:
    _IJSON = ijson.get_backend("yajl2_c")
except Exception:  # pragma: no cover - depends on the wheel
    _IJSON = ijson
_IJSON_PY = ijson.get_backend("python")

MAX_RECORD_BYTES = 16 * 1024 * 1024
"""A JSONL line or CSV row longer than this is rejected (and skipped without being held in
memory as a whole)."""

MAX_DEPTH = 512
"""JSON nested deeper than this is refused (a record never needs it; unbounded nesting is how a
200 KB file exhausts memory)."""

DETECT_BYTES = 64 * 1024 * 1024
"""At most this much of a file is read while looking for its format."""

SNIFF_BYTES = 64 * 1024
_READ_BUFFER = 1024 * 1024

JSON_ARRAY, JSON_OBJECT, JSONL, CSV = "json_array", "json_object", "jsonl", "csv"


class FileReadError(PostpulseError):
    """The file cannot be read at all; nothing from it may be stored."""

    def __init__(self, path: object, problem: str, *, fix: str | None = None):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}", fix=fix)


@dataclass(slots=True)
class RawItem:
    """One raw record from a container: either ``obj`` or an ``error`` (with an excerpt)."""

    obj: Any
    error: str | None = None
    excerpt: str = ""
    line: int | None = None
    sanitized: bool = False


# ----------------------------------------------------------------------------- opening


def _not_regular(path, mode: int) -> FileReadError:
    if stat.S_ISDIR(mode):
        return FileReadError(path, "is a directory, not a file", fix="pass the files inside it")
    kind = (
        "a named pipe (FIFO)"
        if stat.S_ISFIFO(mode)
        else "a device"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "not a regular file"
    )
    return FileReadError(
        path, f"is {kind}, not a regular file", fix="export the data to a file and import that"
    )


def _open_error(path, exc: OSError) -> FileReadError:
    if exc.errno == errno.ENOENT:
        return FileReadError(path, "file not found", fix="check the path")
    if exc.errno == errno.ELOOP:
        return FileReadError(path, "symbolic link loop (the link points back at itself)", fix="fix the link")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return FileReadError(path, "permission denied", fix="make the file readable")
    if exc.errno == errno.EISDIR:
        return FileReadError(path, "is a directory, not a file", fix="pass the files inside it")
    if exc.errno == errno.ENOTDIR:
        return FileReadError(path, "a part of the path is not a folder", fix="check the path")
    if exc.errno == errno.ENAMETOOLONG:
        return FileReadError(path, "file name too long", fix="check the path")
    return FileReadError(path, f"cannot open: {exc.strerror or exc}")


def ensure_regular_file(path: str | os.PathLike) -> int:
    """The size of ``path`` if it is a regular file (links followed); else :class:`FileReadError`
    naming what it is (missing, a link loop, a folder, a FIFO, a device, unreadable). Nothing
    but a regular file is ever opened: a FIFO would block and a device never ends."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise _open_error(path, exc) from None
    except ValueError:  # an embedded NUL in the path
        raise FileReadError(path, "invalid file name", fix="check the path") from None
    if not stat.S_ISREG(st.st_mode):
        raise _not_regular(path, st.st_mode)
    if not os.access(path, os.R_OK):
        raise FileReadError(path, "permission denied", fix="make the file readable")
    return st.st_size


def _open_raw(path: str | os.PathLike) -> BinaryIO:
    # O_NONBLOCK: a FIFO swapped in after a check must not block the open; fstat decides
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise _open_error(path, exc) from None
    except ValueError:
        raise FileReadError(path, "invalid file name", fix="check the path") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _not_regular(path, mode)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return open(fd, "rb", buffering=_READ_BUFFER, closefd=True)
    except BaseException:
        os.close(fd)
        raise


class _GzipGuard(io.RawIOBase):
    """Turns gzip errors (truncated/corrupt stream) into FileReadError."""

    def __init__(self, path, gz: gzip.GzipFile):
        self._path, self._gz = path, gz

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        try:
            return self._gz.readinto(b)
        except (EOFError, OSError, zlib.error) as exc:
            raise FileReadError(
                self._path,
                f"corrupt or truncated gzip data: {exc}",
                fix="re-download or re-compress the file",
            ) from None

    def close(self) -> None:
        try:
            self._gz.close()
        finally:
            super().close()


def open_binary(path: str | os.PathLike | bytes) -> BinaryIO:
    """Open ``path`` for reading bytes; gzip is decompressed transparently (by magic bytes).
    ``bytes`` (an in-memory sample) are read as they are."""
    if isinstance(path, (bytes, bytearray)):
        return io.BytesIO(_sample_from_bytes(bytes(path)))
    f = _open_raw(path)
    magic = f.read(2)
    f.seek(0)
    if magic == b"\x1f\x8b":
        f = io.BufferedReader(_GzipGuard(path, gzip.GzipFile(fileobj=f, mode="rb")), _READ_BUFFER)
    if f.peek(3)[:3] == codecs.BOM_UTF8:
        f.read(3)  # a UTF-8 byte order mark (Windows tools write one) is not content
    return f


def _sample_from_bytes(sample: bytes) -> bytes:
    if sample[:2] == b"\x1f\x8b":
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            sample = d.decompress(sample, SNIFF_BYTES * 4)
        except zlib.error:
            return b""
    return sample[3:] if sample.startswith(codecs.BOM_UTF8) else sample


def read_sample(path, sample: bytes | None = None) -> bytes:
    if sample is not None:
        return _sample_from_bytes(sample)
    with open_binary(path) as f:
        return f.read(SNIFF_BYTES)


# ----------------------------------------------------------------------------- sniffing

_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


def sniff_container(path, sample: bytes) -> str:
    """Decide the container kind from the first bytes (already decompressed)."""
    if not sample.strip():
        raise FileReadError(path, "file is empty (no records)", fix="check that the export finished")
    for bom, name in _BOMS:
        if sample.startswith(bom):
            raise FileReadError(
                path, f"file is {name} encoded; postpulse reads UTF-8", fix="re-save the file as UTF-8"
            )
    if sample.startswith(codecs.BOM_UTF8):
        sample = sample[3:]
    if b"\x00" in sample:
        pos = sample.index(b"\x00")
        raise FileReadError(
            path,
            f"binary data (NUL byte at byte {pos}); not a JSON, JSONL or CSV file",
            fix="pass the exported .json/.jsonl/.csv (optionally .gz) file",
        )
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 4:  # not just a multi-byte character cut by the sample
            raise FileReadError(
                path, f"not UTF-8 text (invalid byte at byte {exc.start})", fix="re-save the file as UTF-8"
            ) from None
    stripped = sample.lstrip()
    first = stripped[:1]
    if first == b"[":
        return JSON_ARRAY
    if first == b"{":
        nl = stripped.find(b"\n")
        if nl == -1:
            if len(sample) < SNIFF_BYTES:
                # whole file is one line: a single object; JSONL with one record is the same thing
                return JSONL if _is_json_object(stripped) else JSON_OBJECT
            return _long_first_line(path)
        if _is_json_object(stripped[:nl]):
            return JSONL
        return JSON_OBJECT
    if first in (b'"',) or first.isdigit() or first in (b"-", b"t", b"f", b"n"):
        # "t"/"f"/"n" could start a CSV header too
        try:
            value = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            value = _NOT_JSON
        if value is not _NOT_JSON:
            raise FileReadError(
                path, f"JSON document is a {type(value).__name__}, not a list or object of records"
            )
    text = stripped.decode("utf-8", "replace")
    header = text.split("\n", 1)[0].removesuffix("\r")  # Windows/Excel exports end lines in CRLF
    if any(d in header for d in (",", ";", "\t")) and header.replace("\t", " ").isprintable():
        return CSV
    raise FileReadError(
        path,
        "unrecognised content: not JSON, JSONL or CSV",
        fix="pass an exported .json/.jsonl/.csv file (optionally gzipped)",
    )


_NOT_JSON = object()


def _is_json_object(line: bytes) -> bool:
    try:
        return isinstance(orjson.loads(line), dict)
    except orjson.JSONDecodeError:
        try:
            return isinstance(json.loads(line), dict)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return False


def _long_first_line(path) -> str:
    """The container of a file whose first line is longer than the sniff sample: JSONL when the
    first line is one object (read whole only up to the record limit) or when another line of
    the file starts an object; one JSON document (streamed) when the first line is all there is."""
    with open_binary(path) as f:
        line = f.readline(MAX_RECORD_BYTES + 1)
        if line.endswith(b"\n") or len(line) <= MAX_RECORD_BYTES:
            return JSONL if _is_json_object(line) else JSON_OBJECT
        while line and not line.endswith(b"\n"):  # skip the rest of the over-long line, chunk by chunk
            line = f.readline(_READ_BUFFER)
        read = 0
        while read < DETECT_BYTES:
            line = f.readline(_READ_BUFFER)
            if not line:
                return JSON_OBJECT  # one huge line: a single document
            read += len(line)
            head = line.lstrip()
            if head:
                return JSONL if head.startswith(b"{") else JSON_OBJECT
        return JSON_OBJECT


# ----------------------------------------------------------------------------- sanitizing


def strip_nul(value: Any) -> Any:
    """Remove NUL characters (PostgreSQL text/jsonb cannot store them) and replace lone UTF-16
    surrogates with U+FFFD, recursively. Returns a new structure only where needed."""
    t = type(value)
    if t is str:
        if "\x00" in value:
            value = value.replace("\x00", "")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        return value
    if t is dict:
        return {strip_nul(k): strip_nul(v) for k, v in value.items()}
    if t is list:
        return [strip_nul(v) for v in value]
    return value


class JsonLimitError(FileReadError):
    """A JSON document beyond the reader's limits (nesting depth, record size, bytes read)."""


_STRUCT = re.compile(rb'[\[\]{}"]')
_STRING_REST = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*')


class _JsonGuard:
    """File wrapper for the streaming JSON parser (ijson): it scans the bytes as they are read
    for brackets outside strings and refuses nesting deeper than :data:`MAX_DEPTH` and records
    (the values at ``record_depth``) larger than :data:`MAX_RECORD_BYTES` before the parser
    builds them; with ``max_bytes`` it stops reading there (detection). It also notices JSON
    ``\\u0000`` escapes so records get sanitized."""

    __slots__ = (
        "_f",
        "_path",
        "_tail",
        "seen",
        "_depth",
        "_record_depth",
        "_record_start",
        "_pos",
        "_in_str",
        "_escape",
        "_max_bytes",
    )

    def __init__(self, f, path, record_depth: int = 1, max_bytes: int | None = None):
        self._f, self._path, self._tail, self.seen = f, path, b"", False
        self._depth, self._record_depth, self._record_start = 0, record_depth, -1
        self._pos, self._in_str, self._escape = 0, False, False
        self._max_bytes = max_bytes

    def read(self, n: int = -1) -> bytes:
        if self._max_bytes is not None:
            left = self._max_bytes - self._pos
            if left <= 0:
                raise JsonLimitError(self._path, f"read limit of {self._max_bytes:,} bytes reached")
            n = left if n is None or n < 0 else min(n, left)
        chunk = self._f.read(n)
        if chunk:
            if not self.seen:
                probe = self._tail + chunk
                if b"\\u0000" in probe:
                    self.seen = True
                self._tail = chunk[-6:]
            self._scan(chunk)
        return chunk

    def _scan(self, chunk: bytes) -> None:
        i, n, base = 0, len(chunk), self._pos
        depth, rdepth = self._depth, self._record_depth
        if self._escape:
            i, self._escape = 1, False
        search = _STRUCT.search
        while i < n:
            if self._in_str:
                i = _STRING_REST.match(chunk, i).end()
                if i >= n:
                    break
                if chunk[i] == 0x5C:  # a backslash at the end of the chunk: escapes the next byte
                    self._escape = True
                    break
                self._in_str = False  # the closing quote
                i += 1
                continue
            m = search(chunk, i)
            if m is None:
                break
            c = chunk[m.start()]
            i = m.end()
            if c == 0x22:
                self._in_str = True
            elif c == 0x5B or c == 0x7B:
                depth += 1
                if depth > MAX_DEPTH:
                    raise JsonLimitError(
                        self._path,
                        f"JSON nested deeper than {MAX_DEPTH} levels (near byte {base + i:,}); refused",
                        fix="this is not a scraper export; check the file",
                    )
                if depth == rdepth:
                    self._record_start = base + i
            else:
                depth -= 1
        self._depth = depth
        self._pos = base + n
        if depth >= rdepth and self._record_start >= 0 and self._pos - self._record_start > MAX_RECORD_BYTES:
            raise JsonLimitError(
                self._path,
                f"a record larger than {MAX_RECORD_BYTES:,} bytes "
                f"(from byte {self._record_start:,}); refused",
                fix="split the export, or check that it is a list of records",
            )

    def tell(self) -> int:
        return self._f.tell()


def _record_depth(prefix: str) -> int:
    """Nesting depth at which ijson's ``prefix`` values open (``item`` -> 2, ``a.item`` -> 3)."""
    return len(prefix.split(".")) + 1 if prefix else 1


# ----------------------------------------------------------------------------- iteration


def _excerpt(data: bytes | str, limit: int = 200) -> str:
    if isinstance(data, bytes):
        data = data[: limit * 4].decode("utf-8", "replace")
    data = data.replace("\x00", "\\u0000")
    return data[:limit]


def _prepare(obj: Any, sanitize: bool) -> Any:
    if sanitize:
        obj = strip_nul(obj)
    if type(obj) is dict and needs_unflatten(obj):
        obj = unflatten(obj)
    return obj


def iter_json_array(path, prefix: str = "item") -> Iterator[RawItem]:
    """Stream the elements of a top-level JSON array (or another ijson ``prefix``).

    A top-level array of objects takes a fast path (:func:`_iter_array_fast`: each element cut
    out of the byte stream and parsed by orjson, several times faster than building it from
    ijson events); anything it is not sure about (not an array of objects, invalid or truncated
    JSON, NaN, lone surrogates, ...) hands over to ijson from the first record it has not
    yielded, so errors and edge cases behave exactly as with ijson alone."""
    skip = 0
    if prefix == "item":
        fast = _iter_array_fast(path)
        try:
            for item in fast:
                skip += 1
                yield item
            return
        except _NotFast:
            pass
    yield from _iter_ijson(path, prefix, _IJSON, skip=skip)


class _NotFast(Exception):
    """The fast JSON-array path gives up; ijson takes over."""


# an element of a top-level array of objects ends at a "}" followed by "," and the next "{", or
# by the closing "]" at the end of the file; nested objects inside a list ("},{" in a record)
# match too, and are told apart by orjson refusing the cut (at most _MAX_CUTS tries per element)
_ELEMENT_END = re.compile(rb"\}[ \t\r\n]*(?:,[ \t\r\n]*(?=\{)|(\])[ \t\r\n]*\Z)")
_MAX_CUTS = 64
_BIG_NUMBER = re.compile(rb"[:,\[][ \t\r\n]*-?[0-9]{19}")
_WS = b" \t\r\n"


def _iter_array_fast(path) -> Iterator[RawItem]:
    loads = orjson.loads
    JSONDecodeError = orjson.JSONDecodeError
    find_end = _ELEMENT_END.search
    find_big = _BIG_NUMBER.search
    with open_binary(path) as f:
        buf = f.read(_READ_BUFFER)
        eof = not buf
        head = buf[:SNIFF_BYTES].lstrip(_WS)
        if not head.startswith(b"[") or not head[1:].lstrip(_WS).startswith(b"{"):
            raise _NotFast  # not an array of objects (or [] / a BOM / ...): ijson's case
        pos = buf.index(b"{")
        big = find_big(buf, pos)
        nul = buf.find(b"\\u0000", pos)
        while True:  # pos: the "{" of the next element
            search = pos
            cuts = 0
            while True:
                m = find_end(buf, search)
                if m is None or (not eof and m.group(1)):
                    # no end in the buffer yet, or "}]" at the buffer's end: more bytes decide
                    if eof or len(buf) - pos > MAX_RECORD_BYTES:
                        raise _NotFast  # the streaming parser's guard names the problem
                    more = f.read(max(_READ_BUFFER, len(buf) - pos))
                    eof = not more
                    rescan = max(search, len(buf) - 4096) - pos
                    buf = buf[pos:] + more
                    pos, search = 0, max(0, rescan)
                    big = find_big(buf)
                    nul = buf.find(b"\\u0000")
                    continue
                end = m.start() + 1
                try:
                    obj = loads(buf[pos:end])
                except JSONDecodeError:
                    cuts += 1  # a "}," inside the element (or invalid JSON: ijson will say so)
                    if cuts > _MAX_CUTS:
                        raise _NotFast from None
                    search = end
                    continue
                if type(obj) is not dict:
                    raise _NotFast
                if big is not None and big.start() < end:
                    raise _NotFast  # orjson reads integers beyond 64 bits as floats; ijson exactly
                if nul != -1 and nul < end:
                    yield RawItem(_prepare(obj, True), sanitized=True)
                    nul = buf.find(b"\\u0000", end)
                elif type(obj) is dict and needs_unflatten(obj):
                    yield RawItem(unflatten(obj))
                else:
                    yield RawItem(obj)
                if m.group(1):
                    return  # "]" then only whitespace to the end of the file
                pos = m.end()
                break


def _iter_ijson(path, prefix: str, backend, skip: int) -> Iterator[RawItem]:
    n = 0
    with open_binary(path) as raw:
        f = _JsonGuard(raw, path, _record_depth(prefix))
        try:
            for obj in backend.items(f, prefix, use_float=True):
                n += 1
                if n <= skip:
                    continue
                yield RawItem(_prepare(obj, f.seen), sanitized=f.seen)
        except ijson.JSONError as exc:
            msg = str(exc).split("\n", 1)[0]
            if "integer overflow" in msg and backend is not _IJSON_PY:
                # a number beyond 64 bits: the pure-Python backend reads it exactly
                yield from _iter_ijson(path, prefix, _IJSON_PY, skip=n)
                return
            where = f"after record {n}" if n else "before the first record"
            if "premature EOF" in msg or "Incomplete" in type(exc).__name__ and "EOF" in msg:
                problem = f"truncated JSON: the file ends {where} (near byte {f.tell()})"
                fix = "the export or download was cut off; download the file again"
            else:
                problem = f"invalid JSON {where} (near byte {f.tell()}): {msg}"
                fix = "repair the file or re-export it"
            raise FileReadError(path, problem, fix=fix) from None


def iter_jsonl(path) -> Iterator[RawItem]:
    """One record per non-blank line. A bad line gives a RawItem with ``error``."""
    loads = orjson.loads
    JSONDecodeError = orjson.JSONDecodeError
    with open_binary(path) as f:
        lineno = 0
        first = True
        while True:
            line = f.readline(MAX_RECORD_BYTES + 1)
            if not line:
                break
            lineno += 1
            if first:
                if line.startswith(codecs.BOM_UTF8):
                    line = line[3:]
                first = False
            if len(line) > MAX_RECORD_BYTES and not line.endswith(b"\n"):
                head = line[:200]
                size = len(line)
                while line and not line.endswith(b"\n"):
                    line = f.readline(MAX_RECORD_BYTES)
                    size += len(line)
                yield RawItem(
                    None,
                    f"line {lineno}: record is {size:,} bytes; the limit is {MAX_RECORD_BYTES:,} bytes",
                    _excerpt(head),
                    lineno,
                )
                continue
            if line.isspace():
                continue
            try:
                obj = loads(line)
                sanitize = b"\\u0000" in line
            except JSONDecodeError as exc:
                try:  # the stdlib accepts lone surrogates and NaN; values get checked later
                    obj = json.loads(line)
                    sanitize = True
                except (ValueError, UnicodeDecodeError, RecursionError):
                    problem = (
                        "invalid JSON" if line.endswith(b"\n") else "truncated or invalid JSON (last line)"
                    )
                    yield RawItem(None, f"line {lineno}: {problem}: {exc}", _excerpt(line.rstrip()), lineno)
                    continue
            if type(obj) is not dict:
                yield RawItem(
                    None,
                    f"line {lineno}: expected a JSON object, got {json_kind(obj)}",
                    _excerpt(line.rstrip()),
                    lineno,
                )
                continue
            item = RawItem(_prepare(obj, sanitize), line=lineno, sanitized=sanitize)
            obj = line = None  # hold no record while the next one is parsed
            yield item
            item = None


def json_kind(obj: Any) -> str:
    if isinstance(obj, list):
        return "an array"
    if isinstance(obj, str):
        return "a string"
    if obj is None:
        return "null"
    if isinstance(obj, bool):
        return "a boolean"
    return "a number"


def _csv_dialect(header: str) -> str:
    counts = {d: header.count(d) for d in (",", ";", "\t")}
    return max(counts, key=counts.get)


_CR_STANDIN = "\ufdd0"
"""Stands in for a bare carriage return while the csv module reads a row (it refuses one in an
unquoted field); a noncharacter, so never part of real text."""


class _LineTooLong(Exception):
    def __init__(self, size: int, head: str):
        self.size, self.head = size, head


class _CsvLines:
    """The CSV text as lines that end only at ``\\n`` (CRLF kept: the csv module reads it), each at
    most :data:`MAX_RECORD_BYTES` long (a longer one raises :class:`_LineTooLong` and is skipped
    without being held whole), with bare ``\\r`` inside a line replaced by :data:`_CR_STANDIN`."""

    def __init__(self, text: io.TextIOWrapper):
        self.text = text
        self.replaced = False

    def __iter__(self) -> _CsvLines:
        return self

    def __next__(self) -> str:
        line = self.text.readline(MAX_RECORD_BYTES + 1)
        if not line:
            raise StopIteration
        if len(line) > MAX_RECORD_BYTES and not line.endswith("\n"):
            size, head = len(line), line[:200]
            while line and not line.endswith("\n"):
                line = self.text.readline(MAX_RECORD_BYTES)
                size += len(line)
            raise _LineTooLong(size, head)
        if "\r" in line:
            end = "\r\n" if line.endswith("\r\n") else ""
            body = line[: -len(end)] if end else line
            if "\r" in body:
                self.replaced = True
                line = body.replace("\r", _CR_STANDIN) + end
        return line


def iter_csv(path) -> Iterator[RawItem]:
    """CSV with a header row; flattened column names (``author/name``, ``comments/0/text``,
    ``authorMeta.name``) are un-flattened into nested dicts/lists. Empty cells are absent.
    Lines end in LF or CRLF; a bare CR inside a field is kept as part of the value."""
    limit = csv.field_size_limit()
    if limit < MAX_RECORD_BYTES:
        csv.field_size_limit(MAX_RECORD_BYTES)
    with open_binary(path) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="\n", errors="strict")
        lines = _CsvLines(text)
        try:
            try:
                header_line = next(lines)
            except StopIteration:
                raise FileReadError(path, "file is empty (no records)") from None
            except _LineTooLong as exc:
                raise FileReadError(
                    path, f"CSV header row is {exc.size:,} characters long; the limit is {MAX_RECORD_BYTES:,}"
                ) from None
            delimiter = _csv_dialect(header_line)
            header = next(csv.reader([header_line], delimiter=delimiter))
            header = [h.replace(_CR_STANDIN, "").strip() for h in header]
            if not any(header):
                raise FileReadError(path, "CSV header row is empty")
            reader = csv.reader(lines, delimiter=delimiter)
            rowno = 1
            ncols = len(header)
            while True:
                lines.replaced = False
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except _LineTooLong as exc:
                    rowno += 1
                    yield RawItem(
                        None,
                        f"row {rowno}: row is {exc.size:,} characters long; "
                        f"the limit is {MAX_RECORD_BYTES:,}",
                        _excerpt(exc.head),
                        rowno,
                    )
                    continue
                except csv.Error as exc:
                    rowno += 1
                    yield RawItem(None, f"row {rowno}: {exc}", "", rowno)
                    continue
                rowno += 1
                if lines.replaced:
                    row = [v.replace(_CR_STANDIN, "\r") for v in row]
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                if len(row) != ncols:
                    yield RawItem(
                        None,
                        f"row {rowno}: has {len(row)} fields, the header has {ncols}",
                        _excerpt(delimiter.join(row)),
                        rowno,
                    )
                    continue
                sanitized = False
                obj = {}
                for k, v in zip(header, row, strict=True):  # the lengths were checked above
                    if v == "" or not k:
                        continue
                    if "\x00" in v:
                        v = v.replace("\x00", "")
                        sanitized = True
                    obj[k] = v
                yield RawItem(unflatten(obj), line=rowno, sanitized=sanitized)
        except UnicodeDecodeError as exc:
            raise FileReadError(
                path,
                f"not UTF-8 text (invalid byte near row {locals().get('rowno', 1)}): {exc.reason}",
                fix="re-save the CSV as UTF-8",
            ) from None


def iter_container(path, kind: str) -> Iterator[RawItem]:
    if kind == JSON_ARRAY:
        return iter_json_array(path)
    if kind == JSONL:
        return iter_jsonl(path)
    if kind == CSV:
        return iter_csv(path)
    if kind == JSON_OBJECT:
        return iter_json_array(path, prefix="")
    raise ValueError(f"unknown container kind {kind!r}")


def ijson_prefix(path_str: str) -> str:
    """``itemList`` -> ``itemList.item`` (the ijson prefix of the list's elements)."""
    return (path_str + ".item") if path_str else "item"


def iter_record_lists(path, max_depth: int = 2) -> Iterator[tuple[str, dict]]:
    """``(key path, first object)`` for each list of objects under the keys of a top-level JSON
    object (``videos`` in ``{"videos": [...]}``, ``data.items`` one level deeper), in file order;
    one streaming pass that stops after :data:`DETECT_BYTES` (the caller may stop earlier)."""
    seen: set[str] = set()
    with open_binary(path) as raw:
        f = _JsonGuard(raw, path, 1, DETECT_BYTES)
        events = _IJSON.parse(f, use_float=True)
        try:
            for prefix, event, value in events:
                if event != "start_map" or not prefix.endswith(".item"):
                    continue
                key = prefix[: -len(".item")]
                parts = key.split(".")
                if key in seen or len(parts) > max_depth or "item" in parts:
                    continue
                seen.add(key)
                builder = ijson.common.ObjectBuilder()
                builder.event(event, value)
                depth = 1
                for _, ev, val in events:
                    builder.event(ev, val)
                    if ev == "start_map" or ev == "start_array":
                        depth += 1
                    elif ev == "end_map" or ev == "end_array":
                        depth -= 1
                        if depth == 0:
                            break
                if depth == 0:
                    yield key, strip_nul(builder.value)
        except JsonLimitError as exc:
            if "read limit" not in exc.problem:
                raise
        except ijson.JSONError:
            return


def read_first_value(path, path_str: str) -> Any:
    """First value at dotted ``path_str`` in a top-level JSON object (streams; stops early, and
    after :data:`DETECT_BYTES` at the latest)."""
    with open_binary(path) as raw:
        f = _JsonGuard(raw, path, _record_depth(path_str), DETECT_BYTES)
        try:
            for value in _IJSON.items(f, path_str, use_float=True):
                return strip_nul(value)
        except JsonLimitError as exc:
            if "read limit" in exc.problem:
                return None
            raise
        except ijson.JSONError:
            return None
    return None
