"""Benchmark: time to first text and to the last figure of an exported report, in headless Chromium.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_report_paint.py reports/comparison.html [reports/eval.html ...] [--repeat 3]

Each report is opened as exported (plotly.js at the end of the page, figures
drawn after it) and, as the baseline measured in the same run, as the same
page with plotly.js moved into ``<head>`` (the layout before issue 16, where
nothing could paint until the 4.8 MB bundle had been parsed and run). For
each it prints the first contentful paint (the headline card and text are
on screen), the time when every figure is drawn, and the ratio
baseline / exported of the first paint. The Chromium driver is the tests'
(tests/browser.py), networking off.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from browser import Chromium  # noqa: E402

PAINT = ("performance.getEntriesByType('paint').filter(e => e.name === 'first-contentful-paint')"
         ".map(e => e.startTime)[0] || null")  # fmt: skip
PLOTS = "document.querySelectorAll('.plotly-graph-div').length"
DRAWN = "Array.from(document.querySelectorAll('.plotly-graph-div')).filter(d => d.querySelector('svg.main-svg')).length"
DONE = "performance.now()"
SCRIPT = re.compile(r"<script type=\"text/javascript\">.*?</script>", re.S)


def head_variant(page: str) -> str:
    """The same page with plotly.js in ``<head>`` (the old layout): the baseline."""
    tags = [m.group(0) for m in SCRIPT.finditer(page) if len(m.group(0)) > 1_000_000]
    if not tags:
        raise SystemExit("plotly.js not found in the page (a report without figures?)")
    tag = tags[0]
    page = page.replace(tag, "", 1)
    return page.replace("</head>", tag + "</head>", 1)


def measure(browser: Chromium, path: Path) -> tuple[float, float]:
    page = browser.open(path, expressions={"paint": PAINT, "done": DONE}, wait_for=f"{PLOTS} === {DRAWN}",
                        settle=0.0, timeout=120)  # fmt: skip
    return float(page.values["paint"] or float("nan")), float(page.values["done"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"{'report':<22} {'layout':<16} {'first text ms':>14} {'all plots ms':>13} {'size MB':>8}")
    with tempfile.TemporaryDirectory() as tmp, Chromium(Path(tmp) / "profile") as browser:
        for report in args.reports:
            text = report.read_text(encoding="utf-8")
            old = Path(tmp) / f"head-{report.name}"
            old.write_text(head_variant(text), encoding="utf-8")
            results = {}
            for label, path in (("plotly in head", old), ("text first", report)):
                runs = [measure(browser, path) for _ in range(args.repeat)]
                paint = statistics.median(r[0] for r in runs)
                done = statistics.median(r[1] for r in runs)
                results[label] = paint
                print(f"{report.name:<22} {label:<16} {paint:>14.0f} {done:>13.0f} {len(text) / 1e6:>8.2f}")
            ratio = results["plotly in head"] / results["text first"]
            print(f"{report.name:<22} first text {ratio:.1f}x sooner than the baseline")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
