"""Bundle archives: determinism, fixed metadata, verify on archives, and rejection of unsafe archives."""

from __future__ import annotations

import gzip
import io
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import cli

from bundles.archive import ArchiveError, extract_archive, write_archive
from bundles.verify import verify_bundle

BUNDLE_DOC = Path(__file__).parents[1] / "docs" / "bundle.md"


@pytest.fixture
def bundle(demo_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the demo bundle."""
    return Path(shutil.copytree(demo_dir / "bundle", tmp_path / "bundle"))


@pytest.fixture
def archive(bundle: Path, tmp_path: Path) -> Path:
    out = tmp_path / "out" / "bundle.tar.gz"
    write_archive(bundle, out)
    return out


@pytest.fixture
def pubkey(demo_dir: Path) -> Path:
    return demo_dir / "keys" / "signing.pub"


def entries(archive: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(archive, "r:gz") as tar:
        return [(m, tar.extractfile(m).read()) for m in tar.getmembers()]  # type: ignore[union-attr]


def craft(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    """Write a .tar.gz holding exactly these members, in this order."""
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def reg(name: str, data: bytes = b"evil\n") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def special(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info, b""


def problems(archive: Path, pubkey: Path) -> list[str]:
    return verify_bundle(archive, pubkey).problems


def test_identical_bundles_give_byte_identical_archives(bundle: Path, archive: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(bundle, tmp_path / "elsewhere" / "other-name"))
    (copy / "report.md").touch()  # a different mtime must not matter
    second = tmp_path / "second.tar.gz"
    write_archive(copy, second)
    assert second.read_bytes() == archive.read_bytes()
    raw = archive.read_bytes()
    assert raw[:2] == b"\x1f\x8b" and raw[3] == 0  # gzip, FLG: no file name
    assert raw[4:8] == b"\0\0\0\0"  # gzip mtime 0


def test_members_are_sorted_regular_files_with_fixed_metadata(bundle: Path, archive: Path) -> None:
    members = entries(archive)
    names = [m.name for m, _ in members]
    expected = sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file())
    assert names == [f"bundle/{n}" for n in expected]
    assert "bundle/META/statement.dsse.json" in names
    for member, data in members:
        assert member.isreg() and member.mtime == 0 and member.mode == 0o644, member.name
        assert (member.uid, member.gid, member.uname, member.gname) == (0, 0, "", ""), member.name
        assert data == (bundle / member.name.removeprefix("bundle/")).read_bytes()


def test_write_refuses_symlink_in_bundle(bundle: Path, tmp_path: Path) -> None:
    (bundle / "evidence" / "link").symlink_to(bundle / "report.md")
    with pytest.raises(ArchiveError, match=r"evidence/link is a symbolic link"):
        write_archive(bundle, tmp_path / "a.tar.gz")
    assert not list(tmp_path.glob("*.tar.gz")) and not list(tmp_path.glob(".a.tar.gz-*"))


def test_verify_cli_accepts_archive(archive: Path, pubkey: Path, bundle: Path) -> None:
    result = cli("verify", str(archive), "--pubkey", str(pubkey))
    files = sum(1 for p in bundle.rglob("*") if p.is_file()) - 2  # all but the statement and its envelope
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"OK: {archive}: signature by ") and f"{files} files verified" in result.output


def test_bundle_cli_writes_archive_and_refuses_to_overwrite(demo_dir: Path, tmp_path: Path, pubkey: Path) -> None:
    archive = tmp_path / "b.tar.gz"
    args = ["bundle", "--out", str(tmp_path / "b"), "--key", str(demo_dir / "keys" / "signing.key")]
    args += ["--store", str(demo_dir / "evidence.duckdb"), "--archive", str(archive)]
    result = cli(*args)
    assert result.exit_code == 0, result.output
    assert f"archive written to {archive}" in result.output
    assert verify_bundle(archive, pubkey).ok
    before = archive.read_bytes()
    result = cli(*args, "--force")
    assert result.exit_code == 0 and archive.read_bytes() == before
    archive.write_bytes(b"keep me")
    result = cli(*args, "--out", str(tmp_path / "c"))
    assert result.exit_code == 2 and f"{archive} exists" in result.output
    assert archive.read_bytes() == b"keep me" and not (tmp_path / "c").exists()


def tamper(members: list[tuple[tarfile.TarInfo, bytes]]) -> list[tuple[tarfile.TarInfo, bytes]]:
    return [(m, d.replace(b"gap", b"gaq") if m.name == "bundle/report.md" else d) for m, d in members]


def add_extra(members: list[tuple[tarfile.TarInfo, bytes]]) -> list[tuple[tarfile.TarInfo, bytes]]:
    return [*members, reg("bundle/evidence/extra.csv", b"a,b\n")]


def drop(members: list[tuple[tarfile.TarInfo, bytes]]) -> list[tuple[tarfile.TarInfo, bytes]]:
    return [(m, d) for m, d in members if m.name != "bundle/claims.json"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (tamper, "report.md: modified (sha256 differs from the signed statement)"),
        (add_extra, "evidence/extra.csv: unexpected file (not in the signed statement)"),
        (drop, "claims.json: missing (listed in the signed statement)"),
    ],
)
def test_verify_reports_archive_content_like_a_directory(
    archive: Path, pubkey: Path, tmp_path: Path, change: Callable, expected: str
) -> None:
    crafted = craft(tmp_path / "crafted.tar.gz", change(entries(archive)))
    assert problems(crafted, pubkey) == [expected]
    result = cli("verify", str(crafted), "--pubkey", str(pubkey))
    assert result.exit_code == 1 and f"FAIL: {expected}" in result.output


UNSAFE = {
    "parent": ([reg("bundle/../evil")], "entry 'bundle/../evil': '..' path component not allowed"),
    "dotdot": ([reg("../evil")], "entry '../evil': '..' path component not allowed"),
    "absolute": ([reg("/abs")], "entry '/abs': absolute path not allowed"),
    "symlink": (
        [special("bundle/link", tarfile.SYMTYPE, "/etc/passwd")],
        "entry 'bundle/link': symbolic link not allowed (-> '/etc/passwd')",
    ),
    "hardlink": (
        [special("bundle/hard", tarfile.LNKTYPE, "bundle/report.md")],
        "entry 'bundle/hard': hard link not allowed (-> 'bundle/report.md')",
    ),
    "fifo": ([special("bundle/pipe", tarfile.FIFOTYPE)], "entry 'bundle/pipe': device or FIFO not allowed"),
    "device": ([special("bundle/dev", tarfile.CHRTYPE)], "entry 'bundle/dev': device or FIFO not allowed"),
    "duplicate": (
        [reg("bundle/report.md")],
        "entry 'bundle/report.md': duplicate name (bundle/report.md appears more than once)",
    ),
    "dot-duplicate": (
        [reg("./bundle/report.md")],
        "entry './bundle/report.md': duplicate name (bundle/report.md appears more than once)",
    ),
    "outside": ([reg("notes.txt")], "entry 'notes.txt': outside the top-level bundle/ folder"),
    "terminal-escape": ([reg("bundle/a\x1b[2Jb")], "entry 'bundle/a\\x1b[2Jb': not a bundle file name"),
    "space": ([reg("bundle/a b")], "entry 'bundle/a b': not a bundle file name"),
    "file-under-file": (
        [reg("bundle/report.md/x")],
        "entry 'bundle/report.md/x': clashes with an earlier entry",
    ),
}


@pytest.mark.parametrize("case", UNSAFE)
def test_unsafe_entries_are_rejected_naming_the_entry(archive: Path, pubkey: Path, tmp_path: Path, case: str) -> None:
    extra, message = UNSAFE[case]
    crafted = craft(tmp_path / "crafted.tar.gz", [*entries(archive), *extra])
    [problem] = problems(crafted, pubkey)
    assert problem.startswith(f"{crafted}: {message}")
    dest = tmp_path / "x" / "y"
    dest.mkdir(parents=True)
    with pytest.raises(ArchiveError, match=re.escape(message)):
        extract_archive(crafted, dest)
    assert not (tmp_path / "x" / "evil").exists() and not (tmp_path / "evil").exists()


def test_bare_dot_names_normalise_to_the_same_entry(tmp_path: Path) -> None:
    crafted = craft(tmp_path / "c.tar.gz", [reg("bundle/./a"), reg("bundle//a")])
    with pytest.raises(ArchiveError, match=r"entry 'bundle//a': duplicate name \(bundle/a appears"):
        extract_archive(crafted, tmp_path)


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda raw: raw[: len(raw) // 2], "Compressed file ended before the end-of-stream marker"),
        (lambda raw: b"PK\x03\x04" + raw[4:], "Not a gzipped file"),
        (lambda raw: raw[:10] + bytes(b ^ 0xFF for b in raw[10:40]) + raw[40:], ""),
    ],
    ids=["truncated", "not-gzip", "corrupt"],
)
def test_unreadable_archives_are_rejected(
    archive: Path, pubkey: Path, tmp_path: Path, mangle: Callable[[bytes], bytes], reason: str
) -> None:
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(mangle(archive.read_bytes()))
    [problem] = problems(bad, pubkey)
    assert problem.startswith(f"{bad}: not a valid .tar.gz archive (") and reason in problem


def test_expansion_beyond_the_limit_is_refused(tmp_path: Path) -> None:
    bomb = craft(tmp_path / "bomb.tar.gz", [reg("bundle/zeros", bytes(1_000_000))])
    assert bomb.stat().st_size < 10_000
    (tmp_path / "small").mkdir()
    with pytest.raises(ArchiveError, match=r"bomb.tar.gz: expands to more than 100000 bytes"):
        extract_archive(bomb, tmp_path / "small", limit=100_000)
    (tmp_path / "large").mkdir()
    assert (extract_archive(bomb, tmp_path / "large", limit=2_000_000) / "zeros").stat().st_size == 1_000_000


REALSIZE = 6_500_000_000  # the hole a sparse entry claims: 6.5 GB from a few hundred bytes


def sparse(flavour: str) -> bytes:
    """An uncompressed tar of one GNU sparse entry, ``bundle/big``: one byte of data after a REALSIZE - 1 hole."""
    info = tarfile.TarInfo("bundle/big")
    data = b"x"
    if flavour == "old-gnu":  # type 'S', the map in the header itself
        info.type, info.size = tarfile.GNUTYPE_SPARSE, 1
        head = bytearray(info.tobuf(tarfile.GNU_FORMAT))
        for start, value in ((386, REALSIZE - 1), (398, 1), (483, REALSIZE)):
            head[start : start + 12] = tarfile.itn(value, 12, tarfile.GNU_FORMAT)
        head[148:156] = b"%06o\0 " % tarfile.calc_chksums(bytes(head))[0]
        return bytes(head) + data.ljust(tarfile.BLOCKSIZE, b"\0") + bytes(2 * tarfile.BLOCKSIZE)
    if flavour == "pax-1.0":  # the map at the start of the data
        data = f"1\n{REALSIZE - 1}\n1\n".encode().ljust(tarfile.BLOCKSIZE, b"\0") + data
        info.name = "bundle/GNUSparseFile.0/big"
        info.pax_headers = {
            "GNU.sparse.major": "1",
            "GNU.sparse.minor": "0",
            "GNU.sparse.realsize": str(REALSIZE),
            "GNU.sparse.name": "bundle/big",
        }
    elif flavour == "pax-0.1":
        info.pax_headers = {"GNU.sparse.map": f"{REALSIZE - 1},1", "GNU.sparse.size": str(REALSIZE)}
    else:  # pax-0.0
        info.pax_headers = {
            "GNU.sparse.size": str(REALSIZE),
            "GNU.sparse.numblocks": "1",
            "GNU.sparse.offset": str(REALSIZE - 1),
            "GNU.sparse.numbytes": "1",
        }
    info.size = len(data)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def bytes_under(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@pytest.mark.parametrize("flavour", ["pax-1.0", "pax-0.1", "pax-0.0", "old-gnu"])
def test_sparse_entries_are_refused_before_writing(tmp_path: Path, flavour: str) -> None:
    tar = sparse(flavour)
    with tarfile.open(fileobj=io.BytesIO(tar), mode="r|") as read:  # Python's tarfile would expand it
        [(member, size)] = [(m, m.size) for m in read]
    assert member.issparse() and size == REALSIZE
    archive = tmp_path / "sparse.tar.gz"
    archive.write_bytes(gzip.compress(tar))
    assert archive.stat().st_size < 1000
    (tmp_path / "out").mkdir()
    with pytest.raises(ArchiveError, match=r"sparse.tar.gz: entry 'bundle/big': sparse file not allowed"):
        extract_archive(archive, tmp_path / "out")
    assert bytes_under(tmp_path / "out") == 0


def test_verify_of_a_sparse_archive_stays_small_and_says_why(tmp_path: Path, pubkey: Path) -> None:
    """The CLI, in its own process: exit 1 with one line, in seconds and a small resident set (it was 6 GB)."""
    archive = tmp_path / "sparse.tar.gz"
    archive.write_bytes(gzip.compress(sparse("pax-1.0")))
    measured = (
        "import resource, sys\nfrom collector.cli import main\ntry:\n    main()\nfinally:\n"
        "    print(f'maxrss={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}', file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", measured, "verify", str(archive), "--pubkey", str(pubkey)],
        cwd=Path(__file__).parents[1],
        capture_output=True,
        text=True,
        timeout=120,
    )
    [fail, rss] = done.stderr.splitlines()
    assert done.returncode == 1 and fail == f"FAIL: {archive}: entry 'bundle/big': sparse file not allowed"
    assert int(rss.removeprefix("maxrss=")) < 400_000  # KiB: the interpreter and its imports


def test_bytes_written_are_counted_as_written(tmp_path: Path) -> None:
    archive = craft(tmp_path / "two.tar.gz", [reg("bundle/a", bytes(60_000)), reg("bundle/b", bytes(60_000))])
    (tmp_path / "out").mkdir()
    with pytest.raises(ArchiveError, match=r"entry 'bundle/b': writes more than the 40000 bytes left of the limit"):
        extract_archive(archive, tmp_path / "out", max_written=100_000)
    assert bytes_under(tmp_path / "out") <= 100_000


def test_headers_entries_and_names_are_bounded(tmp_path: Path) -> None:
    huge = tarfile.TarInfo("bundle/a")
    huge.pax_headers = {"comment": "x" * 2 * 1024**2}  # tarfile would hold the whole record in memory
    cases = {
        "headers": ([(huge, b"")], {}, r"an entry's headers exceed 1048576 bytes"),
        "entries": ([reg(f"bundle/{n}") for n in range(5)], {"max_entries": 3}, r"more than 3 entries"),
        "name": ([reg("bundle/" + "a" * 300)], {}, r"entry 'bundle/aaa.*': not a bundle file name"),
    }
    for case, (members, limits, message) in cases.items():
        archive = craft(tmp_path / f"{case}.tar.gz", members)
        (tmp_path / case).mkdir()
        with pytest.raises(ArchiveError, match=message):
            extract_archive(archive, tmp_path / case, **limits)


def test_verify_follows_a_symlink_to_the_archive(archive: Path, pubkey: Path, tmp_path: Path) -> None:
    link = tmp_path / "latest.tar.gz"
    link.symlink_to(archive)
    assert verify_bundle(link, pubkey).ok


def doc_precheck() -> str:
    section = BUNDLE_DOC.read_text().split("## Archive", 1)[1]
    return re.findall(r"^```sh\n(.*?)^```$", section, flags=re.S | re.M)[0]


@pytest.mark.skipif(not shutil.which("tar") or not shutil.which("sh"), reason="needs tar and sh")
@pytest.mark.parametrize("case", [None, "dotdot", "absolute", "symlink", "hardlink", "duplicate", "dot-duplicate"])
def test_documented_tar_precheck(archive: Path, tmp_path: Path, case: str | None) -> None:
    work = tmp_path / "work"
    work.mkdir()
    members = entries(archive) + (UNSAFE[case][0] if case else [])
    craft(work / "bundle.tar.gz", members)
    run = subprocess.run(["sh", "-e", "-c", doc_precheck()], cwd=work, capture_output=True, text=True, timeout=30)
    assert (run.returncode == 0) == (case is None), run.stderr
    assert (work / "extracted" / "bundle" / "report.md").is_file() == (case is None)


@pytest.mark.skipif(not shutil.which("tar") or not shutil.which("sh"), reason="needs tar and sh")
def test_documented_tar_precheck_bounds_sparse_sizes(tmp_path: Path) -> None:
    (tmp_path / "bundle.tar.gz").write_bytes(gzip.compress(sparse("pax-1.0")))
    run = subprocess.run(["sh", "-e", "-c", doc_precheck()], cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert run.returncode != 0 and not (tmp_path / "extracted").exists()
