"""Files that must be regular files: opened without following a symbolic link, blocking on a FIFO or opening a
device, and read, hashed or copied in bounded chunks."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import BinaryIO

CHUNK = 1024 * 1024
_KINDS = {
    stat.S_IFDIR: "directory",
    stat.S_IFLNK: "symbolic link",
    stat.S_IFIFO: "FIFO",
    stat.S_IFSOCK: "socket",
    stat.S_IFCHR: "character device",
    stat.S_IFBLK: "block device",
}


class UnreadableFile(Exception):
    """Not a regular file, or unreadable; the message says why, without the path."""


class MissingFile(UnreadableFile):
    """The path does not exist."""


def kind(mode: int) -> str:
    """What an ``st_mode`` is: ``regular file``, ``directory``, ``symbolic link``, ``FIFO``, ``socket``…"""
    return "regular file" if stat.S_ISREG(mode) else _KINDS.get(stat.S_IFMT(mode), "special file")


def shown(name: str) -> str:
    """A file name as printed in a message: as is when printable, else quoted with escapes (no terminal controls)."""
    return name if name.isprintable() else ascii(name)


def open_regular(path: Path | str) -> BinaryIO:
    """``path`` opened for reading if it is a regular file; a symbolic link (last component), FIFO, device, socket or
    directory is refused before it is opened, and checked again on the open descriptor (O_NOFOLLOW, O_NONBLOCK)."""
    try:
        mode = os.lstat(path).st_mode
        if not stat.S_ISREG(mode):
            raise UnreadableFile(f"{kind(mode)}, not a regular file")
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise MissingFile("missing") from None
    except OSError as exc:
        raise UnreadableFile(f"cannot open ({exc.strerror})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):  # replaced between lstat and open
        os.close(fd)
        raise UnreadableFile(f"{kind(mode)}, not a regular file")
    return os.fdopen(fd, "rb")


def read_regular(path: Path | str, limit: int) -> bytes:
    """The content of the regular file ``path``, refused if it holds more than ``limit`` bytes."""
    chunks, total = [], 0
    with open_regular(path) as fh:
        try:
            while chunk := fh.read(min(CHUNK, limit + 1 - total)):
                total += len(chunk)
                if total > limit:
                    raise UnreadableFile(f"larger than {limit} bytes")
                chunks.append(chunk)
        except OSError as exc:
            raise UnreadableFile(f"cannot read ({exc.strerror})") from None
    return b"".join(chunks)


def hash_regular(path: Path | str) -> str:
    """The sha256 (hex) of the regular file ``path``."""
    with open_regular(path) as fh:
        try:
            return copy_hashed(fh)
        except OSError as exc:
            raise UnreadableFile(f"cannot read ({exc.strerror})") from None


def copy_hashed(source: BinaryIO, target: BinaryIO | None = None) -> str:
    """Read ``source`` to its end in chunks, writing each to ``target`` if given; return its sha256 (hex)."""
    digest = hashlib.sha256()
    while chunk := source.read(CHUNK):
        digest.update(chunk)
        if target is not None:
            target.write(chunk)
    return digest.hexdigest()
