"""Benchmark: eval + comparison report for 300 items x 3 variants, executed and exported.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_report.py [--items 300] [--variants 3] [--keep DIR]

Builds a synthetic golden set and three scored runs with the report test
fixture's generator (tests/fixtures/make_report_fixture.py), then renders
the eval report (every run) and the comparison report (first run as the
baseline, two candidates) with :func:`evaltools.report._render.render_report`, as
``evaltools report`` does. It prints wall times (papermill execution and
nbconvert export) and file sizes, and the ratio of each render to a baseline
measured in the same run: a notebook with only a parameters cell, which
costs the kernel start, papermill and the export and nothing else.

Targets (issue 7): eval + comparison under 60 s on this machine, each HTML
file under 10 MB. Exit code 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))

from make_report_fixture import build_fixture  # noqa: E402

from evaltools.report._render import render_report  # noqa: E402

TIME_LIMIT_S = 60.0
SIZE_LIMIT_B = 10_000_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--variants", type=int, default=3, choices=(2, 3))
    parser.add_argument("--keep", help="write the data and reports here instead of a temporary folder")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.keep) if args.keep else Path(tmp)
        t0 = time.perf_counter()
        made = build_fixture(work / "data", n_items=args.items, n_variants=args.variants, name="bench")
        print(f"data: {args.items} items x {args.variants} runs built in {time.perf_counter() - t0:.1f} s "
              "(not counted)")  # fmt: skip
        golden, runs = str(made["golden"]), [str(r) for r in made["runs"]]

        empty = new_notebook(cells=[new_code_cell("x = 1")])
        empty.cells[0].metadata["tags"] = ["parameters"]
        empty.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        empty_path = work / "empty.ipynb"
        nbformat.write(empty, empty_path)
        base = render_report(empty_path, {"x": 2}, work / "reports" / "empty.html", index=False)
        print(f"baseline (parameters cell only): {base.seconds:.1f} s")

        results = []
        for name in ("eval", "comparison"):
            rep = render_report(name, {"golden": golden, "runs": runs}, work / "reports" / f"{name}.html")
            results.append(rep)
            print(f"{name:>10}: {rep.seconds:5.1f} s (execute {rep.seconds_execute:.1f} s, export "
                  f"{rep.seconds_export:.1f} s; {rep.seconds / base.seconds:.1f}x baseline), "
                  f"{rep.size_bytes / 1e6:.2f} MB, {rep.n_figures} figures")  # fmt: skip
        total = sum(r.seconds for r in results)
        biggest = max(r.size_bytes for r in results)
        ok = total < TIME_LIMIT_S and biggest < SIZE_LIMIT_B
        print(f"total eval + comparison: {total:.1f} s (limit {TIME_LIMIT_S:.0f} s); largest file "
              f"{biggest / 1e6:.2f} MB (limit {SIZE_LIMIT_B / 1e6:.0f} MB): {'OK' if ok else 'MISSED'}")  # fmt: skip
        if args.keep:
            print(f"reports kept in {work / 'reports'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
