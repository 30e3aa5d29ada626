"""Speed of a PCM accuracy-vs-time curve: exported digital weights vs aihwkit's analog forward (ideal converters).

Both paths run :func:`samlab.analog.pcm_curve` on the same spec (same seeds, so the same programming and drift
draws) and must give the same accuracies; the exported path evaluates a digital copy holding each layer's
programmed-and-drifted weights times its drift-compensation factor, the analog path runs aihwkit's tiles. The
paths alternate for ``--rounds`` rounds; the median wall time and CPU time (process time: with one thread,
robust to other processes on a shared machine) of each are reported with the speed-up (target >= 3x). The model is freshly initialised (only time is measured; the offline digits give the images).
Run it alone: other processes on a 2-core machine distort it.

    python benchmarks/pcm_eval.py                          # resnet20, 1 thread, torch tile, AdaBS
    python benchmarks/pcm_eval.py --model small_cnn --threads 2 --tile compiled --no-adabs --rounds 3

Measured 2026-11-30 (2-core VM shared with other jobs, load ~10; torch 2.12.1, aihwkit 1.1.0, torch tile, 1 thread,
200 test + 143 calibration images, 3 times x 1 repeat, AdaBS), CPU seconds per curve, exported vs analog:
resnet20 4.3 vs 22.6 (5.2x; its analog forward alone is 9.5x slower than the digital one); small_cnn 2.0 vs 2.7
(1.4x: its analog forward is only 2.2x slower, max-pooling and AdaBS's statistics cost the same on both paths).
Both paths gave identical accuracies.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch

from samlab import analog
from samlab.data.images import load_image_dataset
from samlab.models import create_model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="resnet20")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--tile", default="torch", choices=analog.TILES)
    p.add_argument("--times", type=int, default=3, help="log-spaced read times from 1 s to 10 years")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--test-samples", type=int, default=200, help="0: all 360 digits test images")
    p.add_argument("--no-adabs", action="store_true")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    data = load_image_dataset("digits")
    torch.manual_seed(0)
    model = create_model(args.model, num_classes=data.num_classes).eval()
    spec = analog.PCMCurveSpec(times=analog.pcm_times(args.times, include=()), repeats=args.repeats,
                                adabs=not args.no_adabs, tile=args.tile, test_samples=args.test_samples)
    print(f"{args.model} on {args.test_samples or len(data.test_y)} test images, {len(spec.times)} times x {spec.repeats} repeats, "
          f"tile={args.tile}, adabs={spec.adabs}; torch {torch.__version__} with {torch.get_num_threads()} "
          f"thread(s) ({os.cpu_count()} CPUs, {platform.processor() or platform.machine()})")
    analog.pcm_curve(model, data, analog.PCMCurveSpec(times=(1.0,), repeats=1, adabs=False,
                                                       test_samples=50), progress=False)
    wall: dict[bool, list[float]] = {True: [], False: []}
    cpu: dict[bool, list[float]] = {True: [], False: []}
    results = {}
    for _ in range(args.rounds):
        for export in (True, False):
            t0, c0 = time.perf_counter(), time.process_time()
            results[export] = analog.pcm_curve(model, data, spec, export=export, progress=False)
            wall[export].append(time.perf_counter() - t0)
            cpu[export].append(time.process_time() - c0)
    med = {k: (statistics.median(wall[k]), statistics.median(cpu[k])) for k in (True, False)}
    for export in (True, False):
        print(f"{results[export]['settings']['path']:>25}: {med[export][0]:7.2f} s wall, {med[export][1]:7.2f} s CPU "
              "per curve")
    gap = max(abs(a - b) for a, b in zip(results[True]["mean_acc"], results[False]["mean_acc"]))
    print(f"speed-up with {torch.get_num_threads()} thread(s): {med[False][0] / med[True][0]:.2f}x wall, "
          f"{med[False][1] / med[True][1]:.2f}x CPU (target >= 3x); largest mean-accuracy gap between paths: "
          f"{gap:.4f}")


if __name__ == "__main__":
    main()
