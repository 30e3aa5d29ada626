"""Input-to-image times of every explorer in the real browser (issue 19's measurement), at quick scale.

Runs the browser test (tests/test_browser.py: JupyterLab 4 in headless Chromium, Run All, then every control
of every explorer moved: sliders by keyboard and by drag, dropdowns, checkboxes, multi-selects) on the notebooks
at ``--scale`` (default quick) from a COPY of a filled results store (default data/runs: run ``make reproduce``
first), with Run buttons not clicked (at quick scale a Run trains for minutes; a move that asks for Run is
exempt). The time of a move is from the input event to the first changed image in the explorer's output
(a MutationObserver in the page): kernel compute, figure, rendering, PNG, transport and browser decode.

Prints one line per notebook (moves, median, p90, max in ms, within the 150 ms median / 300 ms p90 target or
not), the thread count and the load average before and after: run it alone on a 2-core machine, twice.

    .venv/bin/python benchmarks/browser_redraw.py                  # every notebook with an explorer
    .venv/bin/python benchmarks/browser_redraw.py --only 05,06
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MEDIAN_MS, P90_MS = 150.0, 300.0
LINE = re.compile(r"input to changed image: median (\d+) ms, p90 (\d+) ms, max (\d+) ms over (\d+) moves")
HEAD = re.compile(r"^(\d\d\w?_[\w]+): opened in")


def parse(text: str) -> list[tuple[str, int, float, float, float]]:
    """(notebook, moves, median, p90, max) for each notebook whose moves the test printed."""
    rows, current = [], None
    for line in text.splitlines():
        head = HEAD.match(line.strip())
        if head:
            current = head.group(1)
        m = LINE.search(line)
        if m and current:
            med, p90, mx, n = (float(m.group(1)), float(m.group(2)), float(m.group(3)), int(m.group(4)))
            rows.append((current, n, med, p90, mx))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="01,02,03,04,04b,05,06", help="notebook prefixes, comma-separated")
    parser.add_argument("--scale", default="quick")
    parser.add_argument("--store", default=str(ROOT / "data" / "runs"), help="a filled results store (copied)")
    args = parser.parse_args(argv)
    store = Path(args.store)
    if not store.is_dir() or not any(store.iterdir()):
        parser.error(f"{store} is not a filled results store: run `make reproduce` first")
    prefixes = [p.strip() for p in args.only.split(",") if p.strip()]
    env = {**os.environ, "SAMLAB_BROWSER_SCALE": args.scale, "SAMLAB_BROWSER_RUNS": str(store),
           "SAMLAB_BROWSER_CLICK_RUN": "0", "SAMLAB_REQUIRE_BROWSER": "1"}
    # pytest's -k matches substrings of the test ids: select the notebooks' tests by their id prefix
    keyword = " or ".join(f"{p}_" for p in prefixes)
    load0 = os.getloadavg()
    print(f"browser redraw: notebooks {', '.join(prefixes)} at {args.scale} scale, store {store} (copied), "
          f"kernel threads 1 (OMP_NUM_THREADS=1), {os.cpu_count()} CPUs, load {load0[0]:.2f} at start", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
                           str(ROOT / "tests" / "test_browser.py"), "-k", keyword],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    log = ROOT / "build" / "browser_redraw.log"      # the whole output: every move's time and any problem
    log.parent.mkdir(exist_ok=True)
    log.write_text(proc.stdout + proc.stderr)
    rows = parse(proc.stdout)
    width = max([len(r[0]) for r in rows] + [8])
    print(f"{'notebook':<{width}}  moves  median ms  p90 ms  max ms  target (150 median, 300 p90)")
    ok = True
    for nb, n, med, p90, mx in rows:
        meets = med <= MEDIAN_MS and p90 <= P90_MS
        ok &= meets
        print(f"{nb:<{width}}  {n:>5}  {med:>9.0f}  {p90:>6.0f}  {mx:>6.0f}  {'met' if meets else 'NOT met'}")
    load1 = os.getloadavg()
    print(f"({wall:.0f} s; load {load1[0]:.2f} at the end; test exit code {proc.returncode}; every move in {log})")
    if proc.returncode != 0 or not rows:
        print(proc.stdout[-4000:], proc.stderr[-2000:], sep="\n")
    return 0 if ok and rows and proc.returncode == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
