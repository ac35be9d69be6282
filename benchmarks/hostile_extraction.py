"""Hostile extraction (issue 13): HTML time against depth, and the cost of the bounded child process.

1. Nested HTML at depth 1k, 2k, 4k and 100k through `extract_html` (caps raised so the whole tree is
   read), against a fair baseline measured in the same run: flat HTML (sibling <p>s) of the same
   byte size through the same extractor. A ratio near 1 at every depth shows the time is linear in
   the file's size, whatever its depth (before issue 13: 0.7 s, 2.4 s, 9.4 s, and > 6 min at 100k).
2. The child process: small documents of every type through `extract_isolated` against `extract`
   in this process (median of many runs); the difference is the overhead per document.
3. Hostile files with the default limits through the child: time to the refusal, and this
   process's peak RSS before and after: its own growth (before issue 13 a 340 KB DOCX bomb took a
   worker to about 1 GB).

No database or broker needed.

    python benchmarks/hostile_extraction.py [--runs 30]
"""

import argparse
import os
import resource
import statistics
import sys
import time

from _setup import ROOT


def best_of(function, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def median_of(function, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    from apps.documents.extraction import ExtractionError, Limits, extract, extract_html
    from apps.documents.sandbox import extract_isolated
    from apps.documents.tests import hostile, samples

    unbounded = Limits(html_max_depth=10**7, html_max_elements=10**8)
    print("1. HTML extraction time against nesting depth (same extractor, caps raised)")
    print(f"{'depth':>8} {'bytes':>10} {'nested s':>9} {'flat s':>9} {'ratio':>6}")
    for depth in (1_000, 2_000, 4_000, 100_000):
        nested = hostile.nested_html(depth)
        flat = hostile.flat_html(len(nested))
        runs = 5 if depth < 100_000 else 2
        nested_s = best_of(lambda data=nested: extract_html(data, unbounded), runs)
        flat_s = best_of(lambda data=flat: extract_html(data, unbounded), runs)
        print(f"{depth:>8,} {len(nested):>10,} {nested_s:>9.3f} {flat_s:>9.3f} {nested_s / flat_s:>6.2f}")

    print(f"\n2. Child process overhead per small document (median of {args.runs})")
    print(f"{'file':>12} {'in-process ms':>14} {'child ms':>9} {'overhead ms':>12}")
    extract_isolated("warm.txt", samples.txt(), limits=Limits(), cpu_seconds=30, memory_mb=1024)  # starts the server
    for name, build in samples.ALL.items():
        data = build()
        local = median_of(lambda n=name, d=data: extract(n, d), args.runs)
        child = median_of(
            lambda n=name, d=data: extract_isolated(n, d, limits=Limits(), cpu_seconds=30, memory_mb=1024), args.runs
        )
        print(f"{name:>12} {local * 1000:>14.1f} {child * 1000:>9.1f} {(child - local) * 1000:>12.1f}")

    print("\n3. Hostile files, default limits, through the child process")
    cases = [
        ("deep.html", hostile.nested_html(100_000)),
        ("wide.html", hostile.wide_html(300_000)),
        ("bomb.docx", hostile.docx_bomb(300)),
        ("lying.docx", hostile.docx_lying_header()),
    ]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    for name, data in cases:
        started = time.perf_counter()
        try:
            extract_isolated(name, data, limits=Limits(), cpu_seconds=120, memory_mb=1024)
            outcome = "read"
        except ExtractionError as exc:
            outcome = str(exc)
        print(f"{name:>12} {len(data):>10,} B {time.perf_counter() - started:>6.2f} s  {outcome}")
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"\npeak RSS of this process before part 3: {before} MB, after it: {after} MB (the parsing ran in children)")


if __name__ == "__main__":
    main()
