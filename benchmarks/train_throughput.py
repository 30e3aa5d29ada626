"""Training throughput (images/s) of SGD, SAM and ESAM with the trainer's own step code (ESAM Table 1's measure).

Each method gets its model, optimizer and a fixed random CIFAR-shaped batch; after ``--warmup`` steps each, the
methods take one step in turn for ``--steps`` rounds (interleaved, so load from other processes hits all alike)
and the median images/s over those steps is reported, with the ratio to SAM (ESAM Table 1 prints it in
parentheses). Random data: only time is measured.

    python benchmarks/train_throughput.py                        # small_cnn, batch 128, 2 CPU threads
    python benchmarks/train_throughput.py --all --threads 1      # + ASAM, SAMSON_2, SAMSON_inf
    python benchmarks/train_throughput.py --device cuda --model resnet18 --steps 50
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import statistics

import torch

from samlab.train import throughput_of
from samlab.train import IMAGE_MODELS, TrainConfig

METHODS = {
    "SGD": dict(method="base"),
    "SAM": dict(method="sam"),
    "ESAM (beta .6, gamma .5)": dict(method="esam", beta=0.6, gamma=0.5),
    "ESAM-SWP (beta .6)": dict(method="esam", beta=0.6, gamma=1.0),
    "ESAM-SDS (gamma .5)": dict(method="esam", beta=1.0, gamma=0.5),
}
MORE = {"ASAM": dict(method="asam"), "SAMSON_2": dict(method="samson", p=2.0),
        "SAMSON_inf": dict(method="samson", p=math.inf)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="small_cnn", choices=IMAGE_MODELS)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=30, help="timed steps per method (median over them)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps per method first")
    parser.add_argument("--all", action="store_true", help="also ASAM, SAMSON_2 and SAMSON_inf")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device here")
    torch.set_num_threads(args.threads)
    if args.device == "cuda":
        torch.backends.cudnn.benchmark = True
    methods = {**METHODS, **(MORE if args.all else {})}
    configs = [TrainConfig(model=args.model, dataset="cifar10", batch_size=args.batch_size, device=args.device, **kw)
               for kw in methods.values()]
    out = throughput_of(configs, steps=1, warmup=args.warmup, rounds=args.steps, device=args.device)
    where = torch.cuda.get_device_name() if args.device == "cuda" else f"{platform.processor() or 'cpu'}"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{args.model}, batch {args.batch_size}, {args.device} ({where}), {torch.get_num_threads()} torch "
          f"thread(s), torch {torch.__version__}; median of {args.steps} interleaved steps after {args.warmup} "
          f"warm-up steps; load average at the end {load:.2f} on {os.cpu_count()} cores")
    sam = out["images_per_s"][list(methods).index("SAM")]
    print(f"{'method':26s} {'images/s':>9s} {'IQR':>15s} {'% of SAM':>9s} {'ms/step':>8s}")
    for name, ips, per_step in zip(methods, out["images_per_s"], out["rounds"]):
        q = statistics.quantiles(per_step, n=4) if len(per_step) > 1 else [ips, ips, ips]
        print(f"{name:26s} {ips:9.0f} {q[0]:7.0f}-{q[2]:<7.0f} {100 * ips / sam:8.1f}% "
              f"{1000 * args.batch_size / ips:8.1f}")


if __name__ == "__main__":
    main()
