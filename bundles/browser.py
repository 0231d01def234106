"""Render the HTML report with a headless Chromium: a PDF for the bundle, a PNG screenshot for checks.

The report has no external resources, so Chromium runs offline: background services are off and every
host name resolves to nothing. Each run gets a fresh temporary profile.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ENV_VAR = "DEFENSIBLE_CHROMIUM"
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TIMEOUT = 60.0
STDERR_LINES = 15

_OFFLINE_FLAGS = (
    "--headless",
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--disable-quic",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--hide-scrollbars",
    "--mute-audio",
)
_XREF_ENTRY = re.compile(rb"(?m)^(\d{10})( \d{5} n)")
_STARTXREF = re.compile(rb"startxref\s+(\d+)")
# Skia writes both dates in the PDF's Info dictionary as D:YYYYMMDDHHmmSS followed by the UTC offset.
_PDF_DATE = re.compile(rb"/(CreationDate|ModDate) \(D:\d{14}[+-]\d{2}'\d{2}'\)")
# Chromium names the tagged PDF's structure elements after DOM node ids (``(node00000031)``, in /ID entries and
# the /IDTree), which shift when the renderer numbers a node more or fewer before printing.
_STRUCTURE_ID = re.compile(rb"\(node(\d{8})\)")


class BrowserError(Exception):
    """Chromium could not render the report."""


def find_chromium() -> str | None:
    """The Chromium to use: $DEFENSIBLE_CHROMIUM if set, else the first known browser on PATH, else None."""
    explicit = os.environ.get(ENV_VAR)
    if explicit:
        found = shutil.which(explicit)
        if found is None:
            raise BrowserError(f"{ENV_VAR}={explicit!r} is not an executable file or a command on PATH")
        return found
    return next((found for name in CANDIDATES if (found := shutil.which(name))), None)


def print_pdf(html: Path, pdf: Path, chromium: str, created: datetime | None = None, timeout: float = TIMEOUT) -> None:
    """Print `html` to `pdf` (no header or footer), its links to files beside it kept relative (see
    relative_links) and its structure elements numbered from 1 (see normalise_structure_ids). With `created`, the
    PDF's dates are set to it (see normalise_pdf_dates), so the same page printed by the same Chromium from any
    folder gives the same bytes."""
    _render(html, pdf, chromium, ["--no-pdf-header-footer", f"--print-to-pdf={pdf}"], timeout)
    data = normalise_structure_ids(relative_links(pdf.read_bytes(), html.resolve().parent.as_uri() + "/"))
    pdf.write_bytes(normalise_pdf_dates(data, created) if created is not None else data)


def screenshot(
    html: Path, png: Path, chromium: str, width: int = 1280, height: int = 2000, timeout: float = TIMEOUT
) -> None:
    """Save a `width` x `height` PNG of the top of `html`."""
    _render(html, png, chromium, [f"--window-size={width},{height}", f"--screenshot={png}"], timeout)


def relative_links(data: bytes, base: str) -> bytes:
    """Make the PDF's links under `base` (Chromium writes them absolute: ``/URI (file:///tmp/x/a.csv)``) relative
    to it (``/URI (a.csv)``), so they open beside the PDF wherever it is, and the PDF does not depend on the
    folder it was printed from. The cross-reference offsets (``xref`` table, ``startxref``) are moved to match."""
    prefix, cut = b"/URI (" + base.encode(), len(base.encode())
    starts = [m.start() for m in re.finditer(re.escape(prefix), data)]
    if not starts:
        return data
    out = data.replace(prefix, b"/URI (")

    def moved(offset: int) -> int:
        return offset - cut * bisect.bisect_left(starts, offset)

    def entry(m: re.Match[bytes]) -> bytes:
        return b"%010d" % moved(int(m.group(1))) + m.group(2)

    table = out.rfind(b"\nxref\n")
    trailer = out.find(b"trailer", table)
    if table == -1 or trailer == -1:
        raise BrowserError("Chromium's PDF has no cross-reference table to move")
    entries = _XREF_ENTRY.sub(entry, out[table:trailer])
    tail = _STARTXREF.sub(lambda m: b"startxref\n%d" % moved(int(m.group(1))), out[trailer:])
    return out[:table] + entries + tail


def normalise_structure_ids(data: bytes) -> bytes:
    """Renumber the tagged PDF's structure element ids 1, 2, … in the order of Chromium's numbers. The order,
    and so the sorted /IDTree, is kept, and every id keeps its length, so the cross-reference offsets stay valid."""
    numbers = sorted({int(m.group(1)) for m in _STRUCTURE_ID.finditer(data)})
    rank = {number: index for index, number in enumerate(numbers, start=1)}
    return _STRUCTURE_ID.sub(lambda m: b"(node%08d)" % rank[int(m.group(1))], data)


def normalise_pdf_dates(data: bytes, created: datetime) -> bytes:
    """Set /CreationDate and /ModDate to `created` (naive means UTC). The replacement has the same length,
    so the cross-reference offsets stay valid."""
    moment = created if created.tzinfo else created.replace(tzinfo=UTC)
    stamp = moment.astimezone(UTC).strftime("D:%Y%m%d%H%M%S+00'00'").encode()
    return _PDF_DATE.sub(lambda m: b"/" + m.group(1) + b" (" + stamp + b")", data)


def _render(html: Path, output: Path, chromium: str, flags: list[str], timeout: float) -> None:
    if not html.is_file():
        raise BrowserError(f"{html}: no such HTML file to render")
    output.unlink(missing_ok=True)
    sandbox = ["--no-sandbox"] if os.geteuid() == 0 else []
    with tempfile.TemporaryDirectory(prefix="defensible-chromium-") as profile:
        command = [chromium, *_OFFLINE_FLAGS, *sandbox, f"--user-data-dir={profile}", *flags, html.resolve().as_uri()]
        returncode, stderr = _run(command, timeout, f"{chromium} did not render {html} within {timeout:g} s")
    if returncode != 0:
        raise BrowserError(f"{chromium} failed (exit {returncode}) rendering {html}{_tail(stderr)}")
    if not output.is_file() or output.stat().st_size == 0:
        raise BrowserError(f"{chromium} wrote no {output.name} for {html}{_tail(stderr)}")


def _run(command: list[str], timeout: float, timeout_message: str) -> tuple[int, str]:
    """Run `command` in its own process group, so a timeout also ends Chromium's helper processes."""
    try:
        proc = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
        )
    except OSError as exc:
        raise BrowserError(f"cannot start {command[0]}: {exc}") from exc
    try:
        _, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, stderr = proc.communicate()
        raise BrowserError(f"{timeout_message}{_tail(stderr.decode(errors='replace'))}") from None
    finally:
        _kill_group(proc.pid)
    return proc.returncode, stderr.decode(errors="replace")


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def _tail(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()][-STDERR_LINES:]
    return ":\n" + "\n".join(lines) if lines else " (no output on stderr)"
