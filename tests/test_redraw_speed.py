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
