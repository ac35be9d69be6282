"""`apps.core.progress_report.ProgressReport` off a terminal (issue 16): plain lines with counts, at each
`every_percent` of the total, after `every_seconds` (a fake clock, no sleeping), for stages, and once at
the end; with no total, counts without a percentage. Through the commands: `ingest_dir` and `reembed`
write their lines to stderr when it is not a terminal."""

import io

import pytest
from django.core.management import call_command

from apps.bots.tests.factories import BotFactory
from apps.core.progress_report import ProgressReport
from apps.documents.tests import samples


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_a_line_at_each_tenth_and_none_at_the_end_when_already_said():
    """40 units in steps of 1: a line every 4 (10%), the last one at 100%, no duplicate from close()."""
    out = io.StringIO()
    with ProgressReport(total=40, unit="file", label="load", stream=out, clock=Clock()) as report:
        for n in range(40):
            report.update(1, note=f"f{n}")
    assert lines(out) == [f"load: {n}/40 files ({n * 100 // 40}%) - f{n - 1}" for n in range(4, 41, 4)]


def test_a_line_after_every_seconds_between_the_percentages():
    """1,000 units: nothing until the clock passes every_seconds, then one line; the end is written."""
    out, clock = io.StringIO(), Clock()
    report = ProgressReport(total=1000, unit="chunk", label="reembed", stream=out, every_seconds=5, clock=clock)
    report.update(10)
    clock.now = 4.9
    report.update(10)
    assert lines(out) == []
    clock.now = 5.0
    report.update(5)
    assert lines(out) == ["reembed: 25/1000 chunks (2%)"]
    report.update(975)
    report.close()
    report.close()
    assert lines(out) == ["reembed: 25/1000 chunks (2%)", "reembed: 1000/1000 chunks (100%)"]


def test_stages_and_an_unknown_total():
    """A stage is written at once; without a total the line has the count only; close() ends it."""
    out = io.StringIO()
    with ProgressReport(total=None, unit="row", label="drain", stream=out, clock=Clock()) as report:
        report.stage("fitting")
        report.update(3)
    assert lines(out) == ["drain: 0 rows - fitting", "drain: 3 rows - fitting"]


def test_an_empty_run_still_says_so():
    """Nothing to do: one line at the end, so a log shows the command ran."""
    out = io.StringIO()
    ProgressReport(total=0, unit="file", label="ingest_dir", stream=out).close()
    assert lines(out) == ["ingest_dir: 0 files"]


def test_a_terminal_gets_the_bar():
    """terminal=True: tqdm draws (carriage returns), no plain lines."""
    out = io.StringIO()
    with ProgressReport(total=2, unit="file", label="load", stream=out, terminal=True) as report:
        report.update(2, note="last")
    assert "\r" in out.getvalue() and "2/2" in out.getvalue() and "load: 2/2 files" not in out.getvalue()


@pytest.mark.django_db
def test_ingest_dir_and_reembed_write_progress_lines_off_a_terminal(organization, tmp_path):
    """ingest_dir: one line per file of three (each is a third); reembed: its chunks counted to 100%."""
    bot = BotFactory(organization=organization)
    for name, data in (("a.md", samples.md()), ("b.txt", samples.txt()), ("c.html", samples.html())):
        (tmp_path / name).write_bytes(data)
    out, err = io.StringIO(), io.StringIO()

    call_command("ingest_dir", str(bot.pk), str(tmp_path), stdout=out, stderr=err)

    assert lines(err) == [
        "ingest_dir: 1/3 files (33%) - a.md", "ingest_dir: 2/3 files (67%) - b.txt",
        "ingest_dir: 3/3 files (100%) - c.html",
    ]  # fmt: skip
    assert "3 file(s): 3 ready" in out.getvalue()

    err = io.StringIO()
    call_command("reembed", "--bot", str(bot.pk), stdout=io.StringIO(), stderr=err)
    chunks = sum(document.chunk_count for document in bot.documents.all())
    assert chunks > 0
    assert lines(err)[-1] == f"reembed: {chunks}/{chunks} chunks (100%)"
