"""Training throughput of the registered networks: ms per image for one forward+backward pass, plus batch augmentation.

    python benchmarks/train_throughput_models.py --models small_cnn resnet20 --threads 1 --batch-size 128
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from samlab.data.images import CIFAR_STATS, augment_batch, normalize
from samlab.models import create_model, model_names


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_step(name: str, batch_size: int, device: torch.device, repeats: int, warmup: int = 2) -> list[float]:
    """Seconds per training step (augment, normalise, forward, backward) of ``name`` at ``batch_size``."""
    torch.manual_seed(0)
    model = create_model(name).to(device).train()
    gen = torch.Generator(device=device).manual_seed(0)
    x = torch.randint(0, 256, (batch_size, 3, 32, 32), dtype=torch.uint8, device=device)
    y = torch.randint(0, 10, (batch_size,), device=device)
    mean, std = CIFAR_STATS["cifar10"]
    times = []
    for i in range(warmup + repeats):
        _sync(device)
        start = time.perf_counter()
        loss = F.cross_entropy(model(normalize(augment_batch(x, gen), mean, std)), y)
        loss.backward()
        model.zero_grad(set_to_none=True)
        _sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return times


def main() -> None:
    """Print the median and best ms/image of each requested model."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["small_cnn"], choices=[n for n in model_names()
                                                                               if n != "table2_mlp"])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"device={device} threads={args.threads} batch={args.batch_size} (augment + forward + backward)")
    for name in args.models:
        times = time_step(name, args.batch_size, device, args.repeats)
        per_image = [1000 * t / args.batch_size for t in times]
        print(f"{name:12s} median {statistics.median(per_image):7.3f} ms/image   best {min(per_image):7.3f}")


if __name__ == "__main__":
    main()
