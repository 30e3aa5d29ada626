"""Cost of one conductance-noise draw relative to one clean evaluation (issue "Robustness to noisy analog hardware").

``small_cnn`` (10 classes, BatchNorm) on the offline digits data at quick scale: ``--images`` evaluated images
(digits has only 360 test images, so the first ``--images`` training images stand in; only time is measured)
and the digits calibration split (143 images) for AdaBS. Measured, interleaved round robin ``--repeats`` times
so that a change of machine load hits every quantity alike:

* ``clean``: one :func:`evaluate` of the clean model;
* ``calib``: one AdaBS calibration pass (:func:`samlab.batchnorm.reestimate_statistics`, statistics restored);
* ``draws off``: :func:`samlab.noise.noise_curve` with one sigma_c > 0, ``--draws`` draws, AdaBS off;
* ``draws on``: the same with AdaBS on.

Printed: time(n draws) / (n x clean) without AdaBS and time(n draws) / (n x (clean + calib)) with it, median and
range over the repeats; target <= 1.15. ``--vmap`` also times the draws batched with ``torch.func.vmap`` over
stacked noisy weights (``functional_call``, eval-mode BN, no AdaBS) against the same number of clean evaluations,
to show whether batching the draws would pay. Run it alone.

    python benchmarks/noise_eval.py [--threads 2] [--images 1000] [--draws 5] [--repeats 5] [--vmap]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from samlab.batchnorm import frozen_statistics, reestimate_statistics
from samlab.data import iterate_batches, load_image_dataset
from samlab.models import create_model
from samlab.noise import NoiseCurveSpec, noise_curve, noise_fields

try:
    from samlab.evaluate import evaluate
except ImportError:
    from samlab.train.loop import evaluate


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def vmap_eval(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, mean, std, draws: int, batch: int) -> None:
    """Accuracy of ``draws`` noisy copies of ``model`` at once: vmap over stacked weights (eval mode, no AdaBS)."""
    from torch.func import functional_call, vmap

    from samlab.weights import conv_linear_weights

    model.eval()
    names = {id(p): n for n, p in model.named_parameters()}
    weights = conv_linear_weights(model)
    params = {n: p.detach() for n, p in model.named_parameters()}
    buffers = {n: b for n, b in model.named_buffers()}
    fields = [noise_fields(weights, seed=0, draw=k) for k in range(draws)]
    stacked = {n: v.expand(draws, *v.shape) for n, v in params.items()}
    for i, w in enumerate(weights):
        stacked[names[id(w)]] = torch.stack([w.detach() * (1 + 0.2 * f[i]) for f in fields])

    def one(p: dict, xb: torch.Tensor) -> torch.Tensor:
        return functional_call(model, {**p, **buffers}, (xb,))

    correct = torch.zeros(draws, dtype=torch.int64)
    with torch.no_grad():
        for xb, yb in iterate_batches(x, y, batch, train=False, mean=mean, std=std):
            out = vmap(one, in_dims=(0, None))(stacked, xb)
            correct += (out.argmax(-1) == yb).sum(-1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--draws", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument("--vmap", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = load_image_dataset("digits")
    x, y = data.train_x[:args.images], data.train_y[:args.images]
    bench = {"test_x": x, "test_y": y, "calib_x": data.calib_x, "mean": data.mean, "std": data.std}
    torch.manual_seed(0)
    model = create_model("small_cnn", num_classes=10)
    n, bs = args.draws, args.batch_size

    def clean() -> None:
        evaluate(model, x, y, mean=data.mean, std=data.std, batch_size=bs)

    def calib() -> None:
        with frozen_statistics(model):
            reestimate_statistics(model, iterate_batches(data.calib_x, data.calib_y, bs, train=False,
                                                         mean=data.mean, std=data.std))

    def curve(adabs: bool) -> None:
        spec = NoiseCurveSpec(sigmas=(0.2,), draws=n, adabs=adabs, batch_size=bs)
        noise_curve(model, bench, spec, progress=False)

    tasks = {"clean": clean, "calib": calib, "draws off": lambda: curve(False), "draws on": lambda: curve(True)}
    if args.vmap:
        tasks["draws vmap"] = lambda: vmap_eval(model, x, y, data.mean, data.std, n, bs)
    for fn in tasks.values():   # warm-up
        fn()
    times: dict[str, list[float]] = {k: [] for k in tasks}
    for r in range(args.repeats):
        order = list(tasks)[r % len(tasks):] + list(tasks)[:r % len(tasks)]   # rotate: no fixed position
        for k in order:
            times[k].append(timed(tasks[k]))
    ratios = {
        "no AdaBS:  time(n draws) / (n x clean)": [d / (n * c) for d, c in zip(times["draws off"], times["clean"])],
        "AdaBS:     time(n draws) / (n x (clean + calib))":
            [d / (n * (c + b)) for d, c, b in zip(times["draws on"], times["clean"], times["calib"])],
    }
    if args.vmap:
        ratios["vmap:      time(n draws batched) / (n x clean)"] = [
            d / (n * c) for d, c in zip(times["draws vmap"], times["clean"])]
    print(f"small_cnn, {len(y)} digits images, calibration {len(data.calib_y)} images, batch {bs}, "
          f"{n} draws, {args.repeats} repeats, torch threads {torch.get_num_threads()}, torch {torch.__version__}")
    for k, v in times.items():
        print(f"  {k:<11} median {statistics.median(v):7.3f} s  (min {min(v):.3f}, max {max(v):.3f})")
    for k, v in ratios.items():
        print(f"  {k:<50} median {statistics.median(v):.3f}  range [{min(v):.3f}, {max(v):.3f}]  target <= 1.15")


if __name__ == "__main__":
    main()
