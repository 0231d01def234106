"""Progress of long steps (files read, pages listed, claims evaluated), drawn by rich on a terminal.

Code doing a long step asks the current :class:`Reporter` for a :class:`Step` and advances it per file,
page or batch, never per record. The CLI installs a reporter drawing on its stderr console (transient: the
bars vanish when done) when that console is a terminal and ``--quiet`` is not given; otherwise, and outside
the CLI, steps are silent no-ops.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, ProgressColumn, SpinnerColumn, Task, TaskID, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress
from rich.text import Text


class Step:
    """One long step. Use as a context manager, or call :meth:`close` when the step is done."""

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more units done (files, pages, records of a batch)."""

    def update(self, *, total: int | None = None, detail: str | None = None) -> None:
        """Set the number of units expected, or a detail shown after the description (e.g. ``3 files``)."""

    def close(self) -> None:
        """The step is done: remove it from the display."""

    def __enter__(self) -> Step:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CountColumn(ProgressColumn):
    """``12/40 files`` when the total is known, ``1,234 records`` otherwise."""

    def render(self, task: Task) -> Text:
        unit = task.fields.get("unit", "")
        if task.total is None and not unit:
            return Text("")  # a step that only shows it is running
        done = f"{int(task.completed):,}" + (f"/{int(task.total):,}" if task.total is not None else "")
        return Text(f"{done} {unit}".rstrip(), style="progress.download")


class RateColumn(ProgressColumn):
    """Units per second, once rich has measured a speed."""

    def render(self, task: Task) -> Text:
        if not task.speed:
            return Text("")
        unit = task.fields.get("unit", "")
        rate = f"{task.speed:,.0f}" if task.speed >= 100 else f"{task.speed:.1f}"
        return Text(f"{rate} {unit}/s", style="progress.data.speed")


class Reporter:
    """Makes steps; draws them on ``console`` when ``enabled`` (default: when it is a terminal)."""

    def __init__(self, console: Console | None = None, enabled: bool | None = None):
        self.console = console or Console(stderr=True)
        self.enabled = self.console.is_terminal if enabled is None else enabled
        self._progress: RichProgress | None = None

    def step(self, description: str, total: int | None = None, unit: str = "") -> Step:
        if not self.enabled:
            return Step()
        if self._progress is None:
            self._progress = RichProgress(
                SpinnerColumn(),
                TextColumn("{task.description} [dim]{task.fields[detail]}"),
                BarColumn(bar_width=24),
                CountColumn(),
                RateColumn(),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            self._progress.start()
        return _RichStep(
            self, self._progress, self._progress.add_task(escape(description), total=total, unit=unit, detail="")
        )

    def refresh(self) -> None:
        """Draw now (rich also draws ten times a second)."""
        if self._progress is not None:
            self._progress.refresh()

    def close(self) -> None:
        """Stop drawing (the next step starts a new display)."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __enter__(self) -> Reporter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _RichStep(Step):
    def __init__(self, reporter: Reporter, progress: RichProgress, task_id: TaskID):
        self.reporter, self.progress, self.task_id = reporter, progress, task_id
        self.closed = False

    def advance(self, n: int = 1) -> None:
        if not self.closed:
            self.progress.advance(self.task_id, n)

    def update(self, *, total: int | None = None, detail: str | None = None) -> None:
        if not self.closed:
            fields = {} if detail is None else {"detail": escape(detail)}
            self.progress.update(self.task_id, total=total, **fields)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.progress.remove_task(self.task_id)
        if not self.progress.tasks:  # nothing left to draw: let the next step start afresh
            self.reporter.close()


SILENT = Reporter(enabled=False)
_current: ContextVar[Reporter | None] = ContextVar("defensible_progress", default=None)


def current() -> Reporter:
    """The reporter of the running command (a silent one outside the CLI)."""
    return _current.get() or SILENT


def step(description: str, total: int | None = None, unit: str = "") -> Step:
    """A step on the current reporter."""
    return current().step(description, total, unit)


@contextmanager
def reporting(reporter: Reporter) -> Iterator[Reporter]:
    """Make ``reporter`` current for the block; stop its display at the end."""
    token = _current.set(reporter)
    try:
        with reporter:
            yield reporter
    finally:
        _current.reset(token)
