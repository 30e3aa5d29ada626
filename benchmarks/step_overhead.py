"""Step time of each sharpness-aware method relative to its base optimizer (issue 2's speed targets).

Two settings, both on random data of the right shape (only time is measured):

* the ASAM report's Table II MLP, batch 64, Adam;
* ``small_cnn`` (CIFAR-shaped 3x32x32, BatchNorm), batch 128, SGD with momentum.

For each method: median wall time of one full training step (zero_grad, forward, backward, optimizer
step; SAM-type steps do both passes) over ``--steps`` steps after ``--warmup`` steps, divided by the base
optimizer's median. The methods take their steps in turn (one step each, round robin), so a change in
machine load or clock hits every method alike. Targets: <= 2.4 (MLP) and <= 2.10 (CNN) for sam/asam/samson; ESAM (beta 0.6,
gamma 0.5) <= 0.80 of SAM's step on the CNN. Run it alone: other processes on a 2-core machine distort it.

    python benchmarks/step_overhead.py [--threads 2] [--steps 100] [--warmup 10]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from samlab.models import create_model
from samlab.optim import SAM, sample_loss_fn

METHODS = [
    ("base", {}),
    ("sam", dict(method="sam")),
    ("asam", dict(method="asam")),
    ("samson_2", dict(method="samson", p=2.0)),
    ("samson_inf", dict(method="samson", p=float("inf"))),
    ("esam (sam, beta .6, gamma .5)", dict(method="sam", beta=0.6, gamma=0.5)),
]


def make_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, base: type, base_kw: dict, opts: dict | None):
    """A function doing one training step with the given optimizer configuration."""
    if opts is None:
        opt = base(model.parameters(), **base_kw)

        def step() -> None:
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        return step
    opt = SAM(model.parameters(), base, generator=torch.Generator().manual_seed(0), **opts, **base_kw)
    if opts.get("gamma", 1.0) < 1.0:
        fn = sample_loss_fn(model, x, y)
        return lambda: opt.step(sample_loss=fn)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        return loss
    return lambda: opt.step(closure)


def time_interleaved(steps: dict, warmup: int, n: int) -> dict[str, list[float]]:
    """Seconds per step of every method, the methods taking one step each in turn (drift hits all alike)."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    times: dict[str, list[float]] = {label: [] for label in steps}
    for _ in range(n):
        for label, step in steps.items():
            t0 = time.perf_counter()
            step()
            times[label].append(time.perf_counter() - t0)
    return times


def bench(name: str, model_name: str, shape: tuple, classes: int, batch: int, base: type, base_kw: dict,
          args) -> dict[str, float]:
    """Median step time of every method over ``args.steps`` interleaved steps."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, *shape, generator=g)
    y = torch.randint(0, classes, (batch,), generator=g)
    steps = {}
    for label, opts in METHODS:
        torch.manual_seed(0)
        model = create_model(model_name, num_classes=classes)
        model.train()
        steps[label] = make_step(model, x, y, base, base_kw, None if label == "base" else opts)
    times = time_interleaved(steps, args.warmup, args.steps)
    med = {label: statistics.median(v) for label, v in times.items()}
    print(f"\n{name}: {model_name}, batch {batch}, {base.__name__}, torch threads {torch.get_num_threads()}")
    print(f"  {'method':32s} {'ms/step':>9s} {'x base':>7s} {'x sam':>7s}")
    for label, t in med.items():
        print(f"  {label:32s} {t * 1e3:9.2f} {t / med['base']:7.2f} {t / med['sam']:7.2f}")
    return med


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=100, help="timed steps per method (>= 20)")
    ap.add_argument("--warmup", type=int, default=10)
    args = ap.parse_args()
    if args.steps < 20:
        ap.error(f"--steps={args.steps}: at least 20 timed steps are needed for a stable median")
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), median of {args.steps} interleaved steps per method")
    mlp = bench("Table II MLP", "table2_mlp", (2,), 2, 64, torch.optim.Adam, dict(lr=0.01), args)
    cnn = bench("small CNN", "small_cnn", (3, 32, 32), 10, 128, torch.optim.SGD,
                dict(lr=0.1, momentum=0.9, weight_decay=5e-4), args)
    print("\ntargets:")
    for label in ("sam", "asam", "samson_2", "samson_inf"):
        print(f"  {label:11s} MLP {mlp[label] / mlp['base']:.2f} (<= 2.40)   CNN {cnn[label] / cnn['base']:.2f} (<= 2.10)")
    esam = [k for k in cnn if k.startswith("esam")][0]
    print(f"  ESAM / SAM on the CNN: {cnn[esam] / cnn['sam']:.2f} (<= 0.80)")


if __name__ == "__main__":
    main()
