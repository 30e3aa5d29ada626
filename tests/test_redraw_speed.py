"""What makes an explorer's redraw slow, pinned (issue 19): artists per run instead of per group."""
from __future__ import annotations

import itertools

import numpy as np

from samlab.plots import plot_sharpness_robustness


def test_sharpness_scatter_draws_one_collection_per_group_not_per_run():
    """75 runs drew 300 collections (an errorbar and a scatter each): 0.4 s of notebook 06's redraw. Now one
    errorbar per configuration and one scatter per (configuration, method); every run is still drawn."""
    rng = np.random.default_rng(0)
    rows = [dict(sharpness=float(rng.uniform(0.01, 0.3)), gap=float(rng.uniform(0, 20)), gap_std=1.0, training=t,
                 method=m) for t, m, _ in itertools.product(("plain", "noise", "clipping"), ("SGD", "SAM"), range(5))]
    fig = plot_sharpness_robustness({"x": rows}, ncols=1)
    ax = fig.axes[0]
    scatters = [c for c in ax.collections if c.get_offsets().shape[1:] == (2,) and len(c.get_paths()) == 1]
    assert len(ax.collections) <= 3 + 6                      # 3 errorbar line collections + 6 scatters
    points = np.concatenate([c.get_offsets() for c in scatters])
    assert sorted(map(tuple, points)) == sorted((r["sharpness"], r["gap"]) for r in rows)   # nothing lost


def test_rho_sweep_explorer_renders_every_pair_once_when_built(monkeypatch):
    """Notebook 04b (250 ms per move): every (model, method) pair is drawn when the explorer is built, so a move
    shows a stored frame; a pair without rows still says so in one line."""
    from samlab.widgets import rho_sweep

    calls = []
    real = rho_sweep.plot_rho_sweep
    monkeypatch.setattr(rho_sweep, "plot_rho_sweep", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    row = dict(test_acc=80.0, test_acc_ci=1.0, train_acc=95.0, gap=15.0, gap_ci=0.8, calib_acc=79.5, n=3,
               train_time_s=2.0)
    summary = [dict(row, model=m, method=k, rho=r) for m in ("mlp", "cnn") for k, r in
               (("SGD", 0.0), ("Adam", 0.0), ("SAM", 0.05))] + [dict(row, model="mlp", method="ASAM", rho=0.5)]
    ui, out = rho_sweep.rho_sweep_explorer(summary)
    built = len(calls)
    assert built == 7                                   # 2 models x 3 methods + mlp's ASAM
    ui.controls["model"].value = "cnn"
    ui.controls["method"].value = "SGD"
    assert len(calls) == built and any("image/png" in o.get("data", {}) for o in out.outputs)
    ui.controls["method"].value = "ASAM"                # cnn has no ASAM rows: one line, nothing drawn
    assert len(calls) == built and "ASAM" in str(out.outputs)
