"""Streaming a dump to disk: zstd on the way, sha256 of what is stored, atomic appearance.

A backup file must never be mistaken for a complete one: it is written under a hidden temporary
name beside the target, fsynced, then linked into place (never overwriting) and the directory
fsynced. Anything that goes wrong before that removes the temporary file.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO

import zstandard

from release.db.base import DumpFailed

CHUNK = 1 << 20
ZSTD_LEVEL = 1  # measured on a 1 GB PostgreSQL dump: smaller *and* 2x cheaper than level 3 (bench/)
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
PARTIAL = ".partial"
CHECK_SLICE = 64 * 1024


class AtomicFile:
    """A 0600 file that appears at `target` only after `commit()`; sha256 and size of what was written."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.size = 0
        self._digest = hashlib.sha256()
        self._file: IO[bytes] | None = None
        self._tmp: Path | None = None

    def __enter__(self) -> AtomicFile:
        if self.target.exists() or self.target.is_symlink():
            raise DumpFailed(f"{self.target} already exists: refusing to overwrite a backup")
        try:
            fd, name = tempfile.mkstemp(dir=self.target.parent, prefix=f".{self.target.name}.", suffix=PARTIAL)
        except OSError as exc:
            raise DumpFailed(f"cannot create a file in {self.target.parent}: {exc.strerror}") from None
        self._tmp = Path(name)  # mkstemp creates it 0600
        self._file = os.fdopen(fd, "wb")
        return self

    def write(self, data: bytes) -> None:
        """Append `data`, hashing it as stored."""
        if data:
            assert self._file is not None
            self._file.write(data)
            self._digest.update(data)
            self.size += len(data)

    @property
    def sha256(self) -> str:
        """Hex sha256 of everything written so far."""
        return self._digest.hexdigest()

    def commit(self) -> None:
        """Make the file durable and visible under its final name."""
        try:
            self._commit()
        except OSError as exc:
            raise DumpFailed(f"storing {self.target} failed: {exc.strerror or exc}") from None

    def _commit(self) -> None:
        assert self._file is not None and self._tmp is not None
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        try:
            os.link(self._tmp, self.target)  # unlike rename, refuses to replace an existing file
        except OSError as exc:
            if exc.errno == errno.EEXIST:
                raise DumpFailed(f"{self.target} appeared while dumping: refusing to overwrite it") from None
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                raise
            os.rename(self._tmp, self.target)  # file systems without hard links
        else:
            self._tmp.unlink()
        self._tmp = None
        fsync_dir(self.target.parent)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._file is not None and not self._file.closed:
            self._file.close()
        if self._tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                self._tmp.unlink()
            self._tmp = None


def fsync_dir(path: Path) -> None:
    """Persist a directory entry change (a rename or link) across a crash."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def compressor() -> zstandard.ZstdCompressor:
    """zstd level 1 in the calling thread, with a frame checksum so a damaged file fails to decompress.

    One thread compresses ~300 MB/s here, faster than pg_dump writes, and the dump tool keeps producing
    into the pipe meanwhile, so worker threads would gain nothing here but cost ~25 MB each (the
    budget is 150 MB for the whole process) and a slightly worse ratio.
    """
    return zstandard.ZstdCompressor(level=ZSTD_LEVEL, threads=0, write_checksum=True)


def copy_stream(
    source: IO[bytes],
    out: AtomicFile,
    compress: bool,
    on_bytes: Callable[[int], None] | None = None,
    watch: Callable[[bytes], None] | None = None,
) -> int:
    """Copy `source` to `out` in 1 MiB chunks, zstd-compressing when asked; return the bytes read.

    `on_bytes` gets the size of each chunk read (progress); `watch` sees each raw chunk (checks).
    Memory stays bounded: one chunk plus the compressor's window.
    """
    zstd = compressor().compressobj() if compress else None
    total = 0
    try:
        while chunk := source.read(CHUNK):
            total += len(chunk)
            if watch is not None:
                watch(chunk)
            out.write(zstd.compress(chunk) if zstd is not None else chunk)
            if on_bytes is not None:
                on_bytes(len(chunk))
        if zstd is not None:
            out.write(zstd.flush())
    except OSError as exc:
        raise DumpFailed(f"writing {out.target} failed: {exc.strerror or exc}") from None
    return total


@contextmanager
def open_dump(path: Path) -> Iterator[IO[bytes]]:
    """The dump's contents as a stream, decompressed if it is zstd (and checked whole first)."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise DumpFailed(f"cannot read {path}: {exc.strerror}") from None
    with handle:
        if handle.read(4) != ZSTD_MAGIC:
            handle.seek(0)
            yield handle
            return
        handle.seek(0)
        check_zstd(handle, path.name)
        handle.seek(0)
        with zstandard.ZstdDecompressor().stream_reader(handle) as reader:
            yield reader


def check_zstd(handle: IO[bytes], name: str) -> None:
    """Decompress the whole frame, keeping nothing: a damaged or truncated file fails here, before a
    restore has changed anything (a MySQL restore is not one transaction). The streaming reader
    alone would end quietly at a truncated frame."""
    frame = zstandard.ZstdDecompressor().decompressobj()
    try:
        while data := handle.read(CHECK_SLICE):
            if frame.eof:
                raise DumpFailed(f"{name} is damaged: data after the end of the zstd frame")
            frame.decompress(data)  # output bounded by the slice size times the ratio, then dropped
    except zstandard.ZstdError as exc:
        raise DumpFailed(f"{name} is damaged (zstd: {exc})") from None
    if not frame.eof:
        raise DumpFailed(f"{name} is truncated: its zstd frame does not end")
    if frame.unused_data:
        raise DumpFailed(f"{name} is damaged: data after the end of the zstd frame")


def read_chunks(stream: IO[bytes]) -> Iterator[bytes]:
    """1 MiB chunks of `stream`, turning a damaged zstd frame into a DumpFailed."""
    while True:
        try:
            chunk = stream.read(CHUNK)
        except zstandard.ZstdError as exc:
            raise DumpFailed(f"the dump file is damaged (zstd: {exc})") from None
        if not chunk:
            return
        yield chunk


def private_temp(directory: Path, name: str) -> Path:
    """An empty 0600 file in `directory` (for a copy that must not be readable by others)."""
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=PARTIAL)
    except OSError as exc:
        raise DumpFailed(f"cannot create a file in {directory}: {exc.strerror}") from None
    os.close(fd)
    return Path(tmp)
