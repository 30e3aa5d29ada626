"""Do the ledger's verdicts survive another machine? Emulated here by another thread count.

Float arithmetic in a different order (another CPU, another BLAS, another thread count) moves single numbers:
the same MNIST-1D run trained with 1 and with 2 torch threads ends with different weights and a test accuracy
0.5 points apart. The suite's promise (README, "Reproducibility") is that such a change moves the numbers within
their stated intervals and leaves the verdicts unchanged, because every verdict rests on a paired interval over
training seeds, never on which mean is larger.

This script runs the chosen notebooks twice at quick scale, each time from its own results store:

* **A**: as ``make reproduce`` does (``WORKERS = 2`` local processes, one torch thread each);
* **B**: every run retrained in the kernel with ``--threads`` torch threads (``WORKERS = 1``),

then sets the two ledgers (``<figures>/ledger/<notebook>.json``) side by side: for each finding, both
estimates, A's 95 % interval, whether B's estimate lies inside it, both verdicts and how likely A's row said a
rerun would agree (``Finding.rerun_agrees``, :func:`samlab.evidence.rerun_probabilities`). It prints the count of
changed verdicts beside the count A's rows predict for a rerun with new seeds (the sum of ``1 - rerun_agrees``,
with its 95 % upper bound), and exits 1 if a verdict reversed (supported <-> contradicted) or more verdicts
changed than that bound. No rule can keep every verdict on another machine: a row near its threshold moves. Both runs train everything (minutes: about 10 per run of 05 and 06
on 2 cores); run it alone. ``--store-a`` reuses a filled store for A (e.g. the one ``make reproduce`` filled).

    .venv/bin/python benchmarks/verdict_stability.py --only 05,06 --store-a data/runs
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from samlab import ledger, notebooks


def _run(paths: list[Path], *, store: Path, figures: Path, threads: int | None, workers: int) -> float:
    t0 = time.perf_counter()
    for path in paths:
        print(f"  {path.name} (store {store}, threads {threads or 1}, WORKERS {workers}) ...", flush=True)
        notebooks.run_notebook(path, scale="quick", parameters={"WORKERS": workers}, threads=threads,
                               output=figures.parent / f"executed_{path.name}", progress=False,
                               env={"SAMLAB_RUNS": str(store), "SAMLAB_FIGURES": str(figures)})
    return time.perf_counter() - t0


def compare(a: dict[str, list[ledger.Finding]], b: dict[str, list[ledger.Finding]]) -> tuple[list[str], int, int]:
    """Lines setting each finding of ``a`` beside ``b``'s; the number of changed verdicts and of B estimates
    outside A's interval."""
    lines, changed, outside = [], 0, 0
    for nb, rows in a.items():
        other = {(f.key, f.subject): f for f in b.get(nb, [])}
        for f in rows:
            g = other.get((f.key, f.subject))
            if g is None:
                lines.append(f"{nb} {f.key:<16} {f.subject[:44]:<44} missing in B")
                changed += 1
                continue
            inside = ""
            if f.low is not None and g.estimate is not None:
                ok = f.low <= g.estimate <= f.high
                outside += not ok
                inside = "inside" if ok else "OUTSIDE"
            same = f.verdict == g.verdict
            changed += not same
            est = lambda x: "   -   " if x.estimate is None else f"{x.estimate:+7.2f}"  # noqa: E731
            interval = "" if f.low is None else f"[{f.low:+.2f}, {f.high:+.2f}]"
            agrees = "" if f.rerun_agrees is None else f"(rerun agrees {f.rerun_agrees:.0%})"
            lines.append(f"{nb} {f.key:<16} {f.subject[:44]:<44} A {est(f)} {interval:<17} B {est(g)} {inside:<7} "
                         f"{f.verdict:>12} -> {g.verdict:<12} {agrees:<20}{'' if same else '  CHANGED'}")
    return lines, changed, outside


def predicted_changes(a: dict[str, list[ledger.Finding]], draws: int = 20_000) -> tuple[float, int]:
    """How many of ``a``'s verdicts a rerun with new seeds is expected to change (sum of ``1 - rerun_agrees``),
    and the 95th percentile of that count (rows independent; Monte Carlo of the Poisson-binomial)."""
    p = np.array([1 - f.rerun_agrees for rows in a.values() for f in rows if f.rerun_agrees is not None])
    counts = (np.random.default_rng(0).random((draws, p.size)) < p).sum(axis=1)
    return float(p.sum()), int(np.quantile(counts, 0.95))


def reversed_rows(a: dict[str, list[ledger.Finding]], b: dict[str, list[ledger.Finding]]) -> int:
    """Rows supported in one run and contradicted in the other."""
    other = {(nb, f.key, f.subject): f.verdict for nb, rows in b.items() for f in rows}
    return sum({f.verdict, other.get((nb, f.key, f.subject))} == {"supported", "contradicted"}
               for nb, rows in a.items() for f in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="05,06", help="notebook prefixes (default 05,06: the MNIST-1D population)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of run B (default 2)")
    parser.add_argument("--store-a", default=None, help="a filled results store for run A (default: a fresh one)")
    args = parser.parse_args(argv)
    try:
        paths = notebooks.select_notebooks(args.only)
    except ValueError as err:
        parser.error(str(err))
    load = os.getloadavg()
    print(f"verdict stability: notebooks {', '.join(p.stem for p in paths)}; A: 2 processes x 1 thread, B: "
          f"{args.threads} threads in the kernel; {os.cpu_count()} CPUs, load {load[0]:.2f} at start", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        store_a = Path(args.store_a).resolve() if args.store_a else tmp / "runs_a"
        print("run A:")
        ta = _run(paths, store=store_a, figures=tmp / "a" / "figures", threads=1, workers=2)
        print("run B:")
        tb = _run(paths, store=tmp / "runs_b", figures=tmp / "b" / "figures", threads=args.threads, workers=1)
        a, b = ledger.load(tmp / "a" / "figures" / "ledger"), ledger.load(tmp / "b" / "figures" / "ledger")
    lines, changed, outside = compare(a, b)
    print("\n".join(lines))
    total = sum(len(r) for r in a.values())
    expected, bound = predicted_changes(a)
    flipped = reversed_rows(a, b)
    print(f"\n{total} findings; verdicts changed: {changed} (A's rows predict {expected:.1f} for a rerun with new "
          f"seeds, 95 % upper bound {bound}); reversed: {flipped}; B estimates outside A's 95 % interval: {outside} "
          f"(run A {ta:.0f} s, run B {tb:.0f} s; load {os.getloadavg()[0]:.2f} at the end)")
    return 1 if flipped or changed > bound else 0


if __name__ == "__main__":
    sys.exit(main())
