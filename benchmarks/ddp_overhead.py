"""DDP overhead of a SAM step: 2 CPU processes (gloo) against one, and on a GPU, images/s with and without AMP.

CPU part: ``small_cnn`` on random CIFAR-shaped data, SAM (m-sharpness: ``ascent_splits`` = processes, so the first
pass is not all-reduced), global batch ``--batch``. One process runs the global batch with ``--threads`` threads per
process; two gloo processes each run half of it with the same threads each. Reported: median step time of each,
the speed-up (1-process time / 2-process time) and the parallel efficiency (speed-up / 2): on a machine with
``2 x threads`` free cores the gap to 1.0 is DDP's overhead (all-reduce of the descent gradients, two backward
passes through the DDP hooks). Every step is :class:`samlab.train.precision.StepRunner.step`, the trainer's own.

GPU part (only where CUDA is present): ResNet-18 (CIFAR variant), batch ``--gpu-batch``, SAM, one process:
images/s in fp32, bf16 autocast and fp16 autocast with the two-pass GradScaler.

    python benchmarks/ddp_overhead.py [--threads 1] [--steps 20] [--batch 64]
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import tempfile
import time

import torch
import torch.multiprocessing as mp

from samlab.models import create_model
from samlab.optim import SAM
from samlab.train.precision import StepRunner


def _setup(device: str, model_name: str, batch: int, world: int = 1, rank: int = 0, amp: str = "off"):
    torch.manual_seed(0)
    model = create_model(model_name, num_classes=10).to(device)
    opt = SAM(model.parameters(), torch.optim.SGD, method="sam", rho=0.05, lr=0.05, momentum=0.9, model=model)
    ddp = None
    if world > 1:
        ddp = torch.nn.parallel.DistributedDataParallel(model, broadcast_buffers=False)
    runner = StepRunner(model, opt, batch_size=batch, ascent_splits=world, ddp=ddp, rank=rank, world=world,
                        amp=amp, device=device)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, 32, 32, generator=g).to(device)
    y = torch.randint(0, 10, (batch,), generator=g).to(device)
    return runner, x, y


def _times(runner, x, y, steps: int, warmup: int, sync=lambda: None) -> list[float]:
    out = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        runner.step(x, y)
        sync()
        if i >= warmup:
            out.append(time.perf_counter() - t0)
    return out


def _worker(rank: int, world: int, port: int, args: argparse.Namespace, out: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(args.threads)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    runner, x, y = _setup("cpu", "small_cnn", args.batch, world, rank)
    times = _times(runner, x, y, args.steps, args.warmup, sync=dist.barrier)
    if rank == 0:
        torch.save(times, out)
    dist.destroy_process_group()


def cpu_overhead(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    runner, x, y = _setup("cpu", "small_cnn", args.batch)
    one = statistics.median(_times(runner, x, y, args.steps, args.warmup))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "times.pt")
        mp.spawn(_worker, args=(2, port, args, out), nprocs=2, join=True)
        two = statistics.median(torch.load(out))
    speedup = one / two
    print(f"CPU, small_cnn, SAM, global batch {args.batch}, {args.threads} thread(s) per process, "
          f"{os.cpu_count()} cores on this machine")
    print(f"  1 process : {1000 * one:8.1f} ms/step  {args.batch / one:8.0f} images/s")
    print(f"  2 gloo DDP: {1000 * two:8.1f} ms/step  {args.batch / two:8.0f} images/s")
    print(f"  speed-up {speedup:.2f}x, parallel efficiency {speedup / 2:.2f} "
          f"(DDP overhead {100 * (2 / speedup - 1):.0f}% of the ideal step time)")


def gpu_throughput(args: argparse.Namespace) -> None:
    if not torch.cuda.is_available():
        print("GPU: CUDA is not available here; ResNet-18 AMP throughput skipped")
        return
    torch.backends.cudnn.benchmark = True
    print(f"GPU {torch.cuda.get_device_name()}, ResNet-18, SAM, batch {args.gpu_batch}, one process")
    for amp in ("off", "bf16", "fp16"):
        runner, x, y = _setup("cuda", "resnet18", args.gpu_batch, amp=amp)
        t = statistics.median(_times(runner, x, y, args.steps, args.warmup, sync=torch.cuda.synchronize))
        print(f"  amp={amp:4s}: {args.gpu_batch / t:8.0f} images/s  ({1000 * t:.1f} ms/step)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1, help="torch threads per process")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--batch", type=int, default=64, help="global batch (CPU part)")
    p.add_argument("--gpu-batch", type=int, default=256)
    p.add_argument("--no-cpu", action="store_true", help="only the GPU part")
    args = p.parse_args()
    if not args.no_cpu:
        cpu_overhead(args)
    gpu_throughput(args)


if __name__ == "__main__":
    main()
