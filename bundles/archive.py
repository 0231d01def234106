"""Deterministic ``.tar.gz`` archives of a bundle directory, and their safe extraction for ``verify``.

Layout: every file of the bundle under one top-level folder, ``bundle/``, whatever the archive is called, so
the archive's bytes depend only on the bundle's files. Only regular-file entries are written (no directory
entries), sorted by name, PAX format, mtime 0, uid/gid 0, empty owner names, mode 0644; the gzip header has
mtime 0 and no file name. Two archives of identical bundle directories are byte-identical (same zlib).
"""

from __future__ import annotations

import gzip
import os
import reprlib
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from bundles.build import BundleError
from bundles.files import CHUNK, UnreadableFile, open_regular
from bundles.statement import safe_name

TOP = "bundle"
MAX_EXPANDED_BYTES = 4 * 1024**3  # decompressed tar stream read, headers included
MAX_WRITTEN_BYTES = 4 * 1024**3  # content of the files written
MAX_ENTRIES = 200_000
MAX_HEADER_BYTES = 1024**2  # one entry's tar and pax headers: a few hundred bytes in a bundle archive
MAX_NAME = 1024  # characters in an entry's name (255 in one component); a bundle's longest is under 200

_short = reprlib.Repr()
_short.maxstring = 160  # entry names quoted in messages


class ArchiveError(BundleError):
    """The archive cannot be written, or is unsafe or unreadable."""


def write_archive(bundle_dir: Path, archive: Path) -> None:
    """Write ``archive`` (replacing it atomically) from the regular files of ``bundle_dir``."""
    if not bundle_dir.is_dir():
        raise ArchiveError(f"{bundle_dir}: not a bundle directory")
    if archive.resolve().is_relative_to(bundle_dir.resolve()):
        raise ArchiveError(f"{archive}: the archive must not be inside the bundle directory {bundle_dir}")
    if archive.is_dir():
        raise ArchiveError(f"{archive}: is a directory")
    files = _bundle_files(bundle_dir)
    archive.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{archive.name}-", dir=archive.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as raw:
            with (
                gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz,
                tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
            ):
                for name, path in files:
                    with path.open("rb") as content:
                        tar.addfile(_member(f"{TOP}/{name}", path.stat().st_size), content)
            raw.flush()
            os.fsync(raw.fileno())
        tmp.chmod(0o644)
        tmp.replace(archive)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _bundle_files(bundle_dir: Path) -> list[tuple[str, Path]]:
    files = []
    for path in bundle_dir.rglob("*"):
        name = path.relative_to(bundle_dir).as_posix()
        if path.is_symlink():
            raise ArchiveError(f"{bundle_dir}: {name} is a symbolic link; a bundle holds regular files only")
        if path.is_file():
            files.append((name, path))
        elif not path.is_dir():
            raise ArchiveError(f"{bundle_dir}: {name} is not a regular file")
    return sorted(files)


def _member(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    return info


def extract_archive(
    archive: Path,
    dest: Path,
    limit: int = MAX_EXPANDED_BYTES,
    max_written: int = MAX_WRITTEN_BYTES,
    max_entries: int = MAX_ENTRIES,
) -> Path:
    """Extract the archive's ``bundle/`` folder into the existing directory ``dest``; return ``dest/bundle``.

    ``archive`` may be a symbolic link to a regular file. Refuses, naming the entry: absolute paths, ``..``
    components, names a bundle file cannot have, entries outside ``bundle/``, links, devices, FIFOs, sparse files
    and duplicate names (``./a`` and ``a`` are the same name); refuses non-gzip or corrupt input, more than
    ``max_entries`` entries, headers of one entry larger than MAX_HEADER_BYTES, archives that expand to more than
    ``limit`` bytes and archives whose files hold more than ``max_written`` bytes, counted as they are written.
    Nothing is ever written outside ``dest``.
    """
    root = dest / TOP
    root.mkdir()
    seen: set[str] = set()
    written = 0
    try:
        with open_regular(os.path.realpath(archive)) as raw, gzip.GzipFile(fileobj=raw, mode="rb") as gz:
            stream = _Bounded(gz, limit, archive)
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                for count, member in enumerate(tar, start=1):
                    if count > max_entries:
                        raise ArchiveError(f"{archive}: more than {max_entries} entries; refusing to read on")
                    with stream.entry_data():
                        name = _checked_name(archive, member, seen)
                        if member.isreg():
                            written += _extract_file(archive, tar, member, dest / name, max_written - written)
    except UnreadableFile as exc:
        raise ArchiveError(f"{archive}: {exc}") from None
    except (tarfile.TarError, EOFError, zlib.error, OSError, ValueError) as exc:
        raise ArchiveError(f"{archive}: not a valid .tar.gz archive ({exc})") from exc
    return root


def _checked_name(archive: Path, member: tarfile.TarInfo, seen: set[str]) -> str:
    """The entry's normalised name, once it is known to be safe and new."""
    raw = member.name

    def refuse(reason: str) -> ArchiveError:
        return ArchiveError(f"{archive}: entry {_short.repr(raw)}: {reason}")

    if raw.startswith("/"):
        raise refuse("absolute path not allowed")
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise refuse("'..' path component not allowed")
    if member.issym():
        raise refuse(f"symbolic link not allowed (-> {_short.repr(member.linkname)})")
    if member.islnk():
        raise refuse(f"hard link not allowed (-> {_short.repr(member.linkname)})")
    if member.ischr() or member.isblk() or member.isfifo():
        raise refuse("device or FIFO not allowed")
    if member.issparse() or any(key.startswith("GNU.sparse.") for key in member.pax_headers):
        raise refuse("sparse file not allowed")
    if not (member.isreg() or member.isdir()):
        raise refuse("unsupported entry type (only regular files and directories are allowed)")
    name = "/".join(parts)
    if member.isdir() and name in ("", TOP):
        return name
    if parts[:1] != [TOP] or len(parts) < 2:
        raise refuse(f"outside the top-level {TOP}/ folder")
    if len(name) > MAX_NAME or max(map(len, parts)) > 255 or not safe_name(name):
        raise refuse("not a bundle file name (letters, digits and . _ - / only)")
    if name in seen:
        raise refuse(f"duplicate name ({name} appears more than once)")
    seen.add(name)
    return name


def _extract_file(archive: Path, tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path, budget: int) -> int:
    """Write the entry's content to the new file ``target``; return the bytes written, refusing more than ``budget``."""
    source = tar.extractfile(member)
    assert source is not None  # regular files always have content
    written = 0
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("xb") as out:  # exclusive: never follows or overwrites anything
            while chunk := source.read(CHUNK):
                written += len(chunk)
                if written > budget:
                    raise ArchiveError(
                        f"{archive}: entry {member.name!r}: writes more than the {budget} bytes left of the limit"
                    )
                out.write(chunk)
    except (FileExistsError, NotADirectoryError, IsADirectoryError) as exc:
        raise ArchiveError(f"{archive}: entry {member.name!r}: clashes with an earlier entry ({exc.strerror})") from exc
    return written


class _Bounded:
    """The decompressed tar stream, refusing to yield more than ``limit`` bytes in all, or more than
    MAX_HEADER_BYTES of headers for one entry (tarfile holds an entry's header, pax records, long name and sparse
    map in memory whole): bytes read outside :meth:`entry_data` count as headers."""

    def __init__(self, stream: BinaryIO, limit: int, archive: Path) -> None:
        self._stream, self._limit, self._archive = stream, limit, archive
        self._total = self._headers = 0
        self._in_data = False

    def read(self, size: int = -1) -> bytes:
        allowed = self._limit - self._total + 1
        data = self._stream.read(allowed if size is None or size < 0 else min(size, allowed))
        self._total += len(data)
        if self._total > self._limit:
            raise ArchiveError(f"{self._archive}: expands to more than {self._limit} bytes; refusing to read on")
        if not self._in_data:
            self._headers += len(data)
            if self._headers > MAX_HEADER_BYTES:
                raise ArchiveError(f"{self._archive}: an entry's headers exceed {MAX_HEADER_BYTES} bytes")
        return data

    @contextmanager
    def entry_data(self) -> Iterator[None]:
        """Reads within this block are an entry's content; the headers of the next entry are counted afresh."""
        self._in_data = True
        try:
            yield
        finally:
            self._in_data, self._headers = False, 0
