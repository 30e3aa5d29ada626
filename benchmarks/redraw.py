"""How fast does each notebook's explorer answer a control move, in the kernel (issue 19's kernel-side benchmark)?

Each notebook is executed headless at ``--scale`` (from the filled results store: run ``make reproduce`` first,
or the first execution trains what is missing), then one extra cell moves every control of its explorer (``ui``)
through its values: each slider to ``--moves`` evenly spaced positions and back, each dropdown through every
option and back, each checkbox off and on, each multi-select or checkbox group with one option dropped at a time and then all
restored. A move's time is the wall time of ``control.value = new`` in the kernel, which redraws synchronously
(computation, figure, Agg rendering, PNG encoding; not the transport to the browser nor its decoding: the
browser test prints those). Moves that end in "not computed yet, click Run" (exempt: Run trains or computes)
are counted apart.

Prints, per notebook and control, the number of moves and the median, p90 and max in ms, then one line per
notebook over all its moves; states the thread count and the load average (run it alone on a 2-core machine).

    .venv/bin/python benchmarks/redraw.py                 # every notebook with an explorer, quick scale
    .venv/bin/python benchmarks/redraw.py --only 05,06 --moves 4
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from samlab import notebooks

MARK = "REDRAW_BENCH "

#: The cell appended to each notebook: it moves every control of ``ui`` and prints one JSON line.
BENCH_CELL = r'''
import json as _json, time as _time
import ipywidgets as _W

def _positions(w, k):
    if isinstance(w, _W.SelectMultiple) or hasattr(w, "boxes"):   # a multi-select or a checkbox group
        full = tuple(w.value)
        return [tuple(x for x in full if x != o) for o in full if len(full) > 1] + [full]
    if hasattr(w, "options"):
        vals = [o[1] if isinstance(o, tuple) else o for o in w.options]
        i = vals.index(w.value) if w.value in vals else 0
        return vals[i + 1:] + vals[:i + 1]
    if isinstance(w, _W.Checkbox):
        return [not w.value, w.value]
    if isinstance(w.value, tuple):                       # a range slider: move each end in turn, then back
        lo, hi = w.value
        step = (hi - lo) / (k + 1)
        return [(lo, hi - j * step) for j in range(1, k)] + [(lo + j * step, hi) for j in range(1, k)] + [(lo, hi)]
    if hasattr(w, "min") and hasattr(w, "max"):
        span = w.max - w.min
        pos = [w.min + span * j / (k - 1) for j in range(k)]
        if isinstance(w.value, int):
            pos = [int(round(p)) for p in pos]
        return [p for p in pos if p != w.value] + [w.value]
    return []

_result = {}
for _name, _w in ui.controls.items():
    if getattr(_w, "disabled", False):
        continue
    _drawn, _run = [], 0
    for _v in _positions(_w, MOVES):
        _t0 = _time.perf_counter()
        _w.value = _v
        _ms = (_time.perf_counter() - _t0) * 1e3
        if ui.button is not None and not ui.button.disabled:
            _run += 1        # "click Run": exempt
        else:
            _drawn.append(_ms)
    _result[_name] = {"drawn_ms": _drawn, "needs_run": _run}
print("MARK" + _json.dumps(_result))
'''


def _percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    pos = (len(s) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def bench_notebook(path: Path, scale: str, moves: int, threads: int | None) -> dict[str, dict]:
    """Execute ``path`` with the bench cell appended; return ``{control: {"drawn_ms": [...], "needs_run": n}}``."""
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(BENCH_CELL.replace("MOVES", str(moves)).replace('"MARK"', repr(MARK))))
    with tempfile.TemporaryDirectory() as tmp:
        src = path.parent / f".bench_{path.name}"      # in the notebooks folder: relative paths keep working
        try:
            nbformat.write(nb, src)
            # figures (and ledger rows) go to a temporary folder: the committed figures are not touched
            out = notebooks.run_notebook(src, scale=scale, output=Path(tmp) / path.name, threads=threads,
                                         progress=False, env={"SAMLAB_FIGURES": str(Path(tmp) / "figures")})
        finally:
            src.unlink(missing_ok=True)
        done = nbformat.read(out, as_version=4)
    for o in done.cells[-1].get("outputs", []):
        text = o.get("text", "")
        for line in text.splitlines():
            if line.startswith(MARK):
                return json.loads(line[len(MARK):])
    raise RuntimeError(f"{path.name}: the bench cell printed nothing")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="01,02,03,04,04b,05,06", help="notebook prefixes, comma-separated")
    parser.add_argument("--scale", default="quick", choices=("smoke", "quick", "paper"))
    parser.add_argument("--moves", type=int, default=6, help="positions per slider (default 6)")
    parser.add_argument("--threads", type=int, default=None, help="kernel threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.moves < 2:
        parser.error("--moves must be at least 2")
    try:
        paths = notebooks.select_notebooks(args.only)
    except ValueError as err:
        parser.error(str(err))
    load = os.getloadavg()
    print(f"redraw benchmark: scale {args.scale}, {args.moves} positions per slider, kernel threads "
          f"{args.threads or 'default'}, {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} at start")
    print(f"{'notebook':<30} {'control':<14} {'moves':>5} {'median ms':>10} {'p90 ms':>8} {'max ms':>8} {'Run':>4}")
    summary = []
    for path in paths:
        t0 = time.perf_counter()
        result = bench_notebook(path, args.scale, args.moves, args.threads)
        every = []
        for name, r in result.items():
            ms = r["drawn_ms"]
            every += ms
            print(f"{path.stem:<30} {name:<14} {len(ms):>5} {statistics.median(ms) if ms else float('nan'):>10.0f} "
                  f"{_percentile(ms, 0.9):>8.0f} {max(ms, default=float('nan')):>8.0f} {r['needs_run']:>4}")
        summary.append((path.stem, every, time.perf_counter() - t0))
    print()
    for stem, every, wall in summary:
        print(f"{stem:<30} all controls: {len(every)} moves, median {statistics.median(every) if every else float('nan'):.0f} ms, "
              f"p90 {_percentile(every, 0.9):.0f} ms, max {max(every, default=float('nan')):.0f} ms "
              f"(notebook + bench {wall:.0f} s)")
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.2f} {load[1]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
