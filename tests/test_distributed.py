"""DDP with 2 gloo processes on CPU: m-sharpness (local ascent), the all-reduced ascent, accumulation, and the real
``train(config)`` under a process group (rank 0 writes the store), each against one process splitting the same way."""
from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from samlab.optim import SAM
from samlab.runs import RunStore
from samlab.train import TrainConfig, train
from samlab.train.distributed import check_world_config
from samlab.train.precision import StepRunner

B = 16
CASES = {  # name -> (optimizer kind, StepRunner options)
    "local": ("sam", dict(ascent_splits=2)),              # original SAM in DDP: eps per replica, no_sync
    "local_acc": ("sam", dict(ascent_splits=2, accumulate=2)),
    "global": ("sam", dict(ascent_splits=1)),             # first pass all-reduced: plain SAM on the global batch
    "sgd_acc": ("sgd", dict(accumulate=2)),
    "bf16_local": ("sam", dict(ascent_splits=2, amp="bf16")),
    "fp16_local": ("sam", dict(ascent_splits=2, amp="fp16", accumulate=2)),
}


def net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(48, 16), nn.ReLU(), nn.Linear(16, 4))


def batches(n: int = 3):
    g = torch.Generator().manual_seed(1)
    return [(torch.randn(B, 3, 4, 4, generator=g), torch.randint(0, 4, (B,), generator=g)) for _ in range(n)]


def run_case(kind, opts, *, world=1, rank=0):
    model = net()
    if kind == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    else:
        opt = SAM(model.parameters(), torch.optim.SGD, method="sam", rho=0.05, lr=0.1, momentum=0.9, model=model)
    ddp = nn.parallel.DistributedDataParallel(model) if world > 1 else None
    runner = StepRunner(model, opt, batch_size=B, ddp=ddp, rank=rank, world=world, **opts)
    for x, y in batches():
        runner.step(x, y)
    return [p.detach().clone() for p in model.parameters()]


def overflow_on_rank0(world, rank):
    """fp16, local ascent: only rank 0's first pass overflows; every rank must skip the step alike."""
    model = net()
    armed = {"on": rank == 0}
    model.register_forward_hook(lambda m, i, out: out * float("inf") if armed["on"] else out)
    opt = SAM(model.parameters(), torch.optim.SGD, method="sam", rho=0.05, lr=0.1, momentum=0.9, model=model)
    ddp = nn.parallel.DistributedDataParallel(model) if world > 1 else None
    runner = StepRunner(model, opt, batch_size=B, ddp=ddp, rank=rank, world=world, ascent_splits=world, amp="fp16")
    before = [p.detach().clone() for p in model.parameters()]
    x, y = batches(1)[0]
    runner.step(x, y)
    armed["on"] = False
    unchanged = all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    return {"skipped": runner.skipped, "unchanged": unchanged, "scale": runner.scaler.get_scale()}


def tiny_config(**kw) -> TrainConfig:
    base = dict(model="small_cnn", dataset="digits", method="sam", epochs=2, batch_size=32, max_train_samples=64,
                max_test_samples=32, lr=0.05, ascent_splits=2)
    base.update(kw)
    return TrainConfig(**base)


def _worker(rank: int, world: int, port: int, out: str, runs: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        results = {name: run_case(kind, opts, world=world, rank=rank) for name, (kind, opts) in CASES.items()}
        results["overflow"] = overflow_on_rank0(world, rank)
        result = train(tiny_config(), store=RunStore(runs), progress=False, device="cpu")
        results["train_status"] = result.status
        torch.save(results, os.path.join(out, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    runs = out / "runs"
    mp.spawn(_worker, args=(2, _free_port(), str(out), str(runs)), nprocs=2, join=True)
    return [torch.load(out / f"rank{r}.pt") for r in range(2)], runs


@pytest.mark.parametrize("name", list(CASES))
def test_two_processes_equal_one_process_split_alike(two_ranks, name):
    """2 gloo replicas = 1 process with the same split (ascent_splits / accumulate), to 1e-6, on both ranks."""
    ranks, _ = two_ranks
    kind, opts = CASES[name]
    single = run_case(kind, opts)
    for r in ranks:
        for a, b in zip(r[name], single):
            assert torch.allclose(a, b, atol=1e-6, rtol=0), (a - b).abs().max().item()


def test_fp16_overflow_on_one_rank_skips_on_all(two_ranks):
    ranks, _ = two_ranks
    assert [r["overflow"] for r in ranks] == [{"skipped": 1, "unchanged": True, "scale": 65536.0 * 0.5}] * 2


def test_local_ascent_differs_from_global_ascent(two_ranks):
    """The option matters: eps per replica (m-sharpness) is not eps of the global batch."""
    ranks, _ = two_ranks
    assert any(not torch.allclose(a, b, atol=1e-6) for a, b in zip(ranks[0]["local"], ranks[0]["global"]))


def test_train_under_ddp_rank0_writes_the_store(two_ranks, tmp_path):
    """train(config) under 2 processes: finished on both ranks, one run folder under the config's key, and the
    weights equal one process with ascent_splits=2 (BatchNorm batch statistics per group either way)."""
    ranks, runs = two_ranks
    assert [r["train_status"] for r in ranks] == ["finished", "finished"]
    cfg = tiny_config()
    store = RunStore(runs)
    assert store.status(cfg) == "finished" and len(store.list_runs()) == 1
    ddp_state = store.load(cfg).state_dict()
    single = train(cfg, store=RunStore(tmp_path), progress=False, device="cpu").state_dict()
    for k, v in single.items():
        if "running" in k or "num_batches" in k:
            continue  # running statistics: rank 0's half batch vs both groups in one process
        assert torch.allclose(ddp_state[k], v, atol=1e-5, rtol=0), k


@pytest.mark.parametrize("kw, world, match", [
    (dict(batch_size=30, ascent_splits=1), 4, r"batch_size=30 does not split evenly into 4 process"),
    (dict(ascent_splits=3, batch_size=48), 2, r"ascent_splits=3 must be 1 .* or a multiple of the 2 processes"),
    (dict(method="esam", ascent_splits=1), 2, r"'esam' is not supported on several processes"),
])
def test_bad_world_config(kw, world, match):
    with pytest.raises(ValueError, match=match):
        check_world_config(tiny_config(**kw), world)


@pytest.mark.slow
def test_torchrun_cli_trains_one_run(tmp_path):
    """``torchrun --nproc-per-node 2 -m samlab train`` on CPU (gloo): one finished run, stored under the key of the
    one-process config with ascent_splits=2 (the m-sharpness default under torchrun)."""
    import subprocess
    import sys

    flags = ["--model", "small_cnn", "--dataset", "digits", "--method", "sam", "--epochs", "1", "--batch-size", "32",
             "--max-train-samples", "64", "--max-test-samples", "32", "--no-progress", "--device", "cpu"]
    env = dict(os.environ, SAMLAB_RUNS=str(tmp_path), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                           "--master-port", str(_free_port()), "-m", "samlab", "train", *flags],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("test acc") == 1  # rank 0 reports, rank 1 is quiet
    cfg = TrainConfig(model="small_cnn", dataset="digits", method="sam", epochs=1, batch_size=32,
                      max_train_samples=64, max_test_samples=32, ascent_splits=2)
    assert RunStore(tmp_path).status(cfg) == "finished" and len(RunStore(tmp_path).list_runs()) == 1
