"""Time of each sharpness measure on the small CNN (offline digits, quick scale), relative to one SGD epoch.

Setting: ``small_cnn`` (width 32, BatchNorm), the digits data set (3x32x32, 1294 training images), CPU.

* epoch: one epoch of plain SGD (lr 0.05, momentum 0.9), batch 128, augmented batches (``train_epoch``).
* m-sharpness: SAMSON_2 (rho 0.5), m = 128, one ascent step, the whole training set (same 10 batches).
  The epoch and the m-sharpness pass alternate ``--repeats`` times so load changes hit both alike; the
  ratio is the median of the per-repeat ratios. Target: <= 1.6 epochs.
* Keskar: eps 1e-3, 10 L-BFGS-B iterations, full space, on ``--samples`` images.
* Hessian: 20 power iterations on ``--samples`` images.
* landscape: random filter-normalised directions, a ``--resolution`` x ``--resolution`` grid on ``--samples``
  images. Target: 21 x 21 on 1000 images <= 60 s on 2 cores. With ``--resolution`` below 21 the 21 x 21 time is
  extrapolated from the time per grid point (every point costs the same: one forward pass over the samples).

Wall time depends on what else runs: the script prints the thread count, the load average before and after,
and the process CPU time next to each wall time (on an otherwise idle machine with 2 threads, wall ~ CPU / 2).

    python benchmarks/sharpness.py [--threads 2] [--repeats 3] [--samples 1000] [--resolution 21]

Measured 2026-11-30, 2 threads on a 2-core AMD EPYC (AVX2) shared with other jobs (so this process got a
fraction of the machine). Two runs:

    run 1 (load ~10-11, --resolution 5, before BatchNorm folding)
      SGD epoch (10 x 128)            wall 23.7 s   CPU  6.3 s
      m-sharpness SAMSON_2, 1 step    ratio 1.21 epochs (repeats 1.09, 1.48, 1.21)        target <= 1.6: met
      Keskar, 10 its (11 evals)       wall 126 s    CPU 36 s    (5.3 epochs)
      Hessian, 5 its (converged)      wall 178 s    CPU 52 s    (7.5 epochs)
      landscape 5x5, 1000 images      1.81 s/point -> 21x21 extrapolated wall 799 s, CPU 209 s
    run 2 (load ~6-9, --resolution 7, BatchNorm folded)
      SGD epoch (10 x 128)            wall 17.6 s   CPU  6.4 s
      m-sharpness SAMSON_2, 1 step    ratio 0.98 epochs (repeats 0.98, 1.47, 0.82)        target <= 1.6: met
      Keskar, 10 its (11 evals)       wall 92 s     CPU 37 s    (5.2 epochs), sharpness 240.9 (after 1 epoch)
      Hessian, 5 its (converged)      wall 118 s    CPU 51 s    (6.7 epochs), lambda_max 873
      landscape 7x7, 1000 images      0.87 s/point -> 21x21 extrapolated wall 383 s, CPU 231 s

Landscape target (21x21 on 1000 images <= 60 s on 2 cores): NOT met. One grid point is one forward pass over
1000 images, ~20 GFLOP for this CNN (10.3 M multiply-adds per image); 441 points are ~9 TFLOP, i.e. ~150 GFLOP/s
sustained for 60 s, while a 1024^2 float32 matmul ran at ~11 GFLOP/s per thread here under load. The idle
estimate from the CPU time is ~115 s (CPU / 2). Profile of one forward pass (channels-last, before folding):
convolutions 53 %, eval BatchNorm 21 % (now folded away), max-pool 15 %, ReLU 4 %.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from samlab.data import load_image_dataset
from samlab.models import create_model
from samlab.sharpness import hessian_max_eigenvalue, keskar_sharpness, loss_landscape, m_sharpness
from samlab.sharpness._common import select_samples
from samlab.train.loop import train_epoch


def timed(fn):
    """(result, wall seconds, process CPU seconds) of ``fn()``."""
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--resolution", type=int, default=21)
    ap.add_argument("--skip", nargs="*", default=[], choices=["keskar", "hessian", "landscape"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"threads {torch.get_num_threads()}, cpus {os.cpu_count()}, load average before "
          f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    data = load_image_dataset("digits")
    torch.manual_seed(0)
    model = create_model("small_cnn")
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    gen = torch.Generator().manual_seed(0)
    n_batches = len(data.train_y) // 128

    def epoch():
        return train_epoch(model, opt, data.batches("train", 128, train=True, generator=gen), n_batches,
                           torch.device("cpu"), None)

    def msharp():
        return m_sharpness(model, data.train_x, data.train_y, m=128, method="samson", p=2.0, mean=data.mean,
                           std=data.std)

    epoch()  # warm-up (and a first epoch of training, so the measures see a model that has learnt something)
    ratios, epochs, msh = [], [], []
    for _ in range(args.repeats):
        _, te, ce = timed(epoch)
        out, tm, cm = timed(msharp)
        ratios.append(tm / te)
        epochs.append((te, ce))
        msh.append((tm, cm))
    te = statistics.median(t for t, _ in epochs)
    ce = statistics.median(c for _, c in epochs)
    print(f"SGD epoch ({n_batches} batches of 128): median wall {te:.2f} s (CPU {ce:.2f} s)")
    print(f"m-sharpness (SAMSON_2, m=128, 1 step, {out['n_batches']} batches): median wall "
          f"{statistics.median(t for t, _ in msh):.2f} s, ratio to the epoch {statistics.median(ratios):.2f} "
          f"(per repeat {', '.join(f'{r:.2f}' for r in ratios)}; target <= 1.6); value {out['m_sharpness']:.4g}")
    x, y = select_samples(data.train_x, data.train_y, args.samples)
    if "keskar" not in args.skip:
        k, t, c = timed(lambda: keskar_sharpness(model, x, y, eps=1e-3, maxiter=10, mean=data.mean, std=data.std))
        print(f"Keskar (eps 1e-3, 10 L-BFGS-B its, {k['nfev']} evaluations, {len(y)} images): wall {t:.1f} s "
              f"(CPU {c:.1f} s) = {t / te:.1f} epochs; sharpness {k['sharpness']:.4g}")
    if "hessian" not in args.skip:
        h, t, c = timed(lambda: hessian_max_eigenvalue(model, x, y, iters=20, mean=data.mean, std=data.std))
        print(f"Hessian (power iteration, {h['iterations']} its, {len(y)} images): wall {t:.1f} s (CPU {c:.1f} s) "
              f"= {t / te:.1f} epochs; lambda_max {h['eigenvalue']:.4g} (converged {h['converged']})")
    if "landscape" not in args.skip:
        r = args.resolution
        land, t, c = timed(lambda: loss_landscape(model, x, y, resolution=r, mean=data.mean, std=data.std))
        per = t / r ** 2
        note = "" if r == 21 else f"; 21x21 extrapolated: wall {per * 441:.0f} s (CPU {c / r ** 2 * 441:.0f} s)"
        print(f"landscape {r}x{r} on {len(y)} images: wall {t:.1f} s (CPU {c:.1f} s), {per:.2f} s per point"
              f"{note}; target 21x21 <= 60 s; center loss {land['center_loss']:.4g}")
    print(f"load average after {' '.join(f'{v:.1f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
