"""Progress of a long command (issue 16): a tqdm bar on a terminal, plain lines otherwise.

A bar is invisible in logs and CI (tqdm disables itself when its stream is not a terminal), so a long
`ingest_dir` looked hung. `ProgressReport` keeps the bar for a terminal and otherwise writes a line such as
`ingest_dir: 120/400 files (30%) - docs/guide.md` at most every `every_seconds`, or when another
`every_percent` of the total is done, and always at the end. Used by `ingest_dir`, `reembed`,
`graph_rebuild`, `evaluate_recommendations` and benchmarks/realistic_import.py. Django-free (the
benchmark imports it before settings are configured).

    with ProgressReport(total=len(paths), unit="file", label="ingest_dir", stream=sys.stderr) as report:
        for path in paths:
            ...
            report.update(1, note=path.name)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from tqdm import tqdm


class ProgressReport:
    def __init__(
        self,
        *,
        total: int | None,
        unit: str,
        label: str,
        stream: TextIO,
        every_seconds: float = 10.0,
        every_percent: float = 10.0,
        terminal: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.total, self.unit, self.label, self.stream = total, unit, label, stream
        self.every_seconds, self.every_percent, self.clock = every_seconds, every_percent, clock
        self.done, self.note = 0, ""
        if terminal is None:
            terminal = bool(getattr(stream, "isatty", lambda: False)())
        self.bar = tqdm(total=total, unit=unit, desc=label, file=stream, dynamic_ncols=True) if terminal else None
        self._last_time = clock()
        self._last_percent = 0.0
        self._written: tuple[int, str] | None = None
        self._closed = False

    def __enter__(self) -> ProgressReport:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def update(self, n: int = 1, *, note: str | None = None) -> None:
        """`n` more units done; `note` (e.g. the current file or stage) is shown with the count."""
        self.done += n
        if note is not None:
            self.note = note
        if self.bar is not None:
            if note is not None:
                self.bar.set_postfix_str(note, refresh=False)
            self.bar.update(n)
            return
        now = self.clock()
        percent = self._percent()
        if now - self._last_time >= self.every_seconds or (
            percent is not None and percent - self._last_percent >= self.every_percent
        ):
            self._line()

    def stage(self, note: str) -> None:
        """A new stage without new units (e.g. "fitting the model"): shown on the bar, or as a line now."""
        self.note = note
        if self.bar is not None:
            self.bar.set_postfix_str(note)
        else:
            self._line()

    def close(self) -> None:
        """The bar's last state, or the final line (unless the last line already said it)."""
        if self._closed:
            return
        self._closed = True
        if self.bar is not None:
            self.bar.close()
        elif self._written != (self.done, self.note):
            self._line()

    def _percent(self) -> float | None:
        return 100.0 * self.done / self.total if self.total else None

    def _line(self) -> None:
        percent = self._percent()
        units = self.unit if (self.total or self.done) == 1 else f"{self.unit}s"
        count = f"{self.done}/{self.total} {units} ({percent:.0f}%)" if self.total else f"{self.done} {units}"
        self.stream.write(f"{self.label}: {count}{f' - {self.note}' if self.note else ''}\n")
        self.stream.flush()
        self._written = (self.done, self.note)
        self._last_time = self.clock()
        if percent is not None:
            self._last_percent = percent
