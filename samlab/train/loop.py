"""Image-classifier training for every method (SGD, SAM, ASAM, SAMSON, ESAM), resumable, through the results store.

``train(config)`` is the one entry point the notebooks, the command line and the tests call. A run is
stored under its config's key (:mod:`samlab.runs`): a finished run is returned without training, an
interrupted one resumes from its last finished epoch and ends with the same numbers (bit for bit on
CPU with the same thread count) as an uninterrupted run.

Choices (written down because the papers leave them open):

* ``method="sgd"`` is plain training with the base optimizer (no SAM wrapper, rho must be 0);
  ``"esam"`` is the ESAM paper's algorithm: SAM's geometry plus SWP (``beta``) and SDS (``gamma``),
  defaults beta 0.6, gamma 0.5 (ESAM Sec. 3.1, ResNet-18). beta/gamma < 1 are refused for the other
  methods so that one algorithm has one name (and one key in the store).
* ``rho``/``eta``/``beta``/``gamma`` left as ``None`` take the method's paper default when the config is
  built, so ``TrainConfig(method="sam")`` and ``TrainConfig(method="sam", rho=0.05)`` are the same run.
* ``base="adam"`` uses ``momentum`` as Adam's beta1.
* The learning rate schedule steps once per epoch: ``"step"`` divides by ``1/lr_decay`` every
  ``lr_step_every`` epochs (SAMSON Sec. 5: /10 every 50), ``"cosine"`` anneals to 0 over ``epochs``
  (ESAM), ``"constant"`` keeps it.
* Train loss/accuracy per epoch are running averages over the epoch at ``w`` (on augmented batches, as
  the optimizer sees them); test metrics are computed after the epoch in eval mode. The summary adds
  ``train_eval_acc``: the final weights on the (un-augmented) training set in eval mode, the number to
  compare with the test accuracy. Images per second count the training loop only (no evaluation).
* The data split (calibration images cut from train, ``max_*_samples`` subsets) is fixed (seed 0) for
  every run; ``seed`` sets the initial weights, the batch order, the augmentation and ESAM's draws.
* ``dataset`` is what is trained on: a config never falls back silently. :func:`available_dataset`
  picks ``"digits"`` when the CIFAR files are missing, so the key says which data produced a result.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from typing import Any, Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_choice
from ..methods import run_label
from ..runs import RunResult, RunStore
from .config import TrainConfig, _image_datasets

# ------------------------------------------------------------------------------------------------ data
def available_dataset(name: str = "cifar10") -> str:
    """``name`` when its files are on disk (``data/<name>``), else ``"digits"``: what quick-scale runs train on."""
    check_choice("name", name, _image_datasets())
    if name in ("digits", "mnist1d"):  # generated offline
        return name
    from torchvision.datasets import CIFAR10, CIFAR100

    from ..paths import data_dir

    cls = CIFAR10 if name == "cifar10" else CIFAR100
    folder = data_dir() / name / cls.base_folder
    files = [f for f, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]
    return name if all((folder / f).is_file() for f in files) else "digits"


def _derived_seed(seed: int, purpose: str) -> int:
    """A seed for one purpose (data order, ESAM draws) derived from the run's seed, independent streams."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{purpose}".encode()).digest()[:8], "little") >> 1


def _iterate_batches(x: torch.Tensor, y: torch.Tensor, batch_size: int, **kwargs: Any) -> Iterable:
    """``iterate_batches`` for uint8 images, ``iterate_signal_batches`` for float signals (MNIST-1D)."""
    from ..data import iterate_batches, iterate_signal_batches

    batches = iterate_signal_batches if x.is_floating_point() else iterate_batches
    return batches(x, y, batch_size, **kwargs)


def _subset(x: torch.Tensor, y: torch.Tensor, n: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed (seed 0) random subset of ``n`` samples, kept in the original order; everything when n is None."""
    if n is None or n >= len(y):
        return x, y
    idx = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))[:n].sort().values
    return x[idx], y[idx]


def _load_data(config: TrainConfig) -> Any:
    from ..data import MNIST1D_DATASETS, load_image_dataset, load_mnist1d

    try:
        data = (load_mnist1d(seed=0, verbose=False) if config.dataset in MNIST1D_DATASETS else
                load_image_dataset(config.dataset, allow_fallback=False, seed=0))
    except RuntimeError as err:
        raise RuntimeError(f"{err} (A TrainConfig never falls back silently: for an offline run use "
                           "dataset='digits', which samlab.train.available_dataset() picks.)") from err
    train_x, train_y = _subset(data.train_x, data.train_y, config.max_train_samples)
    test_x, test_y = _subset(data.test_x, data.test_y, config.max_test_samples)
    if config.batch_size > len(train_y):
        raise ValueError(f"batch_size={config.batch_size} is larger than the {len(train_y)} training images of "
                         f"{config.dataset} (max_train_samples={config.max_train_samples})")
    return dataclasses.replace(data, train_x=train_x, train_y=train_y, test_x=test_x, test_y=test_y)


# ------------------------------------------------------------------------------------------------ pieces
def resolve_device(device: str | torch.device | None) -> torch.device:
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(device)!r} is not available on this machine; use 'cpu' or 'auto'")
    return dev


def make_optimizer(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    if config.base == "sgd":
        base, kw = torch.optim.SGD, dict(lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    else:
        base, kw = torch.optim.Adam, dict(lr=config.lr, betas=(config.momentum, 0.999),
                                          weight_decay=config.weight_decay)
    if config.method == "sgd" and config.clip is None:
        return base(model.parameters(), **kw)
    from ..optim import SAM

    gen = torch.Generator().manual_seed(_derived_seed(config.seed, "esam"))
    method = {"sgd": "sam", "esam": "sam"}.get(config.method, config.method)  # sgd + clip: SAM with rho = 0
    return SAM(model.parameters(), base, method=method, rho=config.rho, p=config.p, eta=config.eta,
               adaptive_params=config.adaptive_params, beta=config.beta, gamma=config.gamma, clip=config.clip,
               generator=gen, **kw)


def _make_scheduler(config: TrainConfig, opt: torch.optim.Optimizer) -> Any:
    inner = getattr(opt, "base_optimizer", opt)
    if config.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(inner, step_size=config.lr_step_every, gamma=config.lr_decay)
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(inner, T_max=config.epochs)
    return None


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, mean: Sequence[float], std: Sequence[float],
             batch_size: int = 500, device: str | torch.device | None = None) -> tuple[float, float]:
    """Mean cross-entropy and accuracy (fraction) of ``model`` in eval mode on uint8 images ``x``."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    loss = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    try:
        for xb, yb in _iterate_batches(x, y, batch_size, train=False, mean=mean, std=std, device=device):
            out = model(xb)
            loss += F.cross_entropy(out, yb, reduction="sum").double()
            correct += (out.argmax(1) == yb).sum()
    finally:
        model.train(was_training)
    n = max(1, len(y))
    return loss.item() / n, correct.item() / n


def train_epoch(model: nn.Module, opt: torch.optim.Optimizer, batches: Iterable, n_batches: int,
                 device: torch.device, bar: Any) -> tuple[float, float, int, float]:
    """One pass over the training batches; returns (mean loss, accuracy, images, seconds of the loop)."""
    from ..optim import SAM

    model.train()
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    seen = 0
    t0 = time.perf_counter()
    for x, y in batches:
        if isinstance(opt, SAM):
            stash: list[torch.Tensor] = []

            def sample_loss(indices: torch.Tensor | None = None) -> torch.Tensor:
                xb, yb = (x, y) if indices is None else (x[indices], y[indices])
                out = model(xb)
                if not stash:
                    stash.append(out.detach())  # the first call is the forward pass at w
                return F.cross_entropy(out, yb, reduction="none")

            loss = opt.step(sample_loss=sample_loss)
            logits = stash[0]
        else:
            opt.zero_grad(set_to_none=True)
            out = model(x)
            loss = F.cross_entropy(out, y)
            loss.backward()
            opt.step()
            logits, loss = out.detach(), loss.detach()
        loss_sum += loss.double() * len(y)
        correct += (logits.argmax(1) == y).sum()
        seen += len(y)
        if bar is not None:
            bar.update(1)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - t0
    return loss_sum.item() / max(1, seen), correct.item() / max(1, seen), seen, seconds


def _rng_state(device: torch.device, gen: torch.Generator) -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "data": gen.get_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any], device: torch.device, gen: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    gen.set_state(state["data"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state_all(state["cuda"])


def _summary(config: TrainConfig, rows: list[dict], data: Any, model: nn.Module, device: torch.device) -> dict:
    last = rows[-1]
    best = max(rows, key=lambda r: r["test_acc"])
    ips = sorted(r["images_per_s"] for r in rows)
    return {
        "label": run_label(config, tex=False), "epochs": len(rows),
        "train_loss": last["train_loss"], "train_acc": last["train_acc"],
        "test_loss": last["test_loss"], "test_acc": last["test_acc"],
        "best_test_acc": best["test_acc"], "best_epoch": best["epoch"],
        "images_per_s": ips[len(ips) // 2],  # median over epochs: robust to the first epoch's warm-up
        "train_time_s": sum(r["train_time_s"] for r in rows),
        "data": {"name": data.name, "is_fallback": bool(data.is_fallback), "n_train": len(data.train_y),
                 "n_test": len(data.test_y), "num_classes": data.num_classes},
        "params": sum(p.numel() for p in model.parameters()),
        "device": str(device), "threads": torch.get_num_threads(), "torch": torch.__version__,
    }


# ------------------------------------------------------------------------------------------------ train
def train(config: TrainConfig, *, store: RunStore | None = None, progress: bool = True,
          device: str | torch.device | None = None, retrain: bool = False,
          callback: Callable[[int, dict], None] | None = None) -> RunResult:
    """Train ``config`` (or resume it, or return it finished from the store); return the stored result.

    ``device`` overrides ``config.device`` (neither is part of the key). ``retrain=True`` deletes the
    stored run first. ``callback(epoch, row)`` runs after each epoch is safely stored (tests interrupt
    there). Progress: one bar per run over epochs and one per epoch over batches (``tqdm.auto``).
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    store = store if store is not None else RunStore()
    if retrain:
        store.delete(config)
    if store.status(config) == "finished":
        result = store.load(config)
        assert result is not None
        return result
    from ..models import create_model

    dev = resolve_device(device if device is not None else config.device)
    data = _load_data(config)
    torch.manual_seed(config.seed)
    model = create_model(config.model, num_classes=data.num_classes).to(dev)
    opt = make_optimizer(config, model)
    sched = _make_scheduler(config, opt)
    gen = torch.Generator().manual_seed(_derived_seed(config.seed, "data"))
    train_x, train_y = data.train_x.to(dev), data.train_y.to(dev)
    test_x, test_y = data.test_x.to(dev), data.test_y.to(dev)

    store.begin(config)
    rows: list[dict] = []
    ckpt = store.load_checkpoint(config)
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        if sched is not None:
            sched.load_state_dict(ckpt["scheduler"])
        _set_rng_state(ckpt["rng"], dev, gen)
        rows = list(ckpt["metrics"])
    store.write_metrics(config, rows)  # drop rows of an epoch whose checkpoint never landed

    n_batches = len(train_y) // config.batch_size
    label = run_label(config, tex=False)
    outer = inner = None
    if progress:
        from tqdm.auto import tqdm

        outer = tqdm(total=config.epochs, initial=len(rows), desc=f"{label} {config.model}", unit="epoch")
    try:
        for epoch in range(len(rows) + 1, config.epochs + 1):
            lr = getattr(opt, "base_optimizer", opt).param_groups[0]["lr"]
            if progress:
                inner = tqdm(total=n_batches, desc=f"epoch {epoch}/{config.epochs}", unit="batch", leave=False)
            batches = _iterate_batches(train_x, train_y, config.batch_size, train=True, mean=data.mean,
                                       std=data.std, device=dev, generator=gen, augment=config.augment)
            tr_loss, tr_acc, seen, seconds = train_epoch(model, opt, batches, n_batches, dev, inner)
            if inner is not None:
                inner.close()
            t_eval = time.perf_counter()
            te_loss, te_acc = evaluate(model, test_x, test_y, mean=data.mean, std=data.std, device=dev)
            if sched is not None:
                sched.step()
            row = {"epoch": epoch, "lr": lr, "train_loss": tr_loss, "train_acc": tr_acc, "test_loss": te_loss,
                   "test_acc": te_acc, "images": seen, "train_time_s": seconds,
                   "eval_time_s": time.perf_counter() - t_eval, "images_per_s": seen / max(seconds, 1e-9)}
            rows.append(row)
            store.save_checkpoint(config, {
                "epoch": epoch, "model": model.state_dict(), "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict() if sched is not None else None,
                "rng": _rng_state(dev, gen), "metrics": rows})
            store.write_metrics(config, rows)
            if outer is not None:
                outer.update(1)
                outer.set_postfix(train_acc=f"{tr_acc:.3f}", test_acc=f"{te_acc:.3f}", img_s=f"{row['images_per_s']:.0f}")
            if callback is not None:
                callback(epoch, row)
    finally:
        if inner is not None:
            inner.close()
        if outer is not None:
            outer.close()
    summary = _summary(config, rows, data, model, dev)
    # The running train accuracy lags the final weights; the train-test gap wants both measured alike.
    summary["train_eval_loss"], summary["train_eval_acc"] = evaluate(model, train_x, train_y, mean=data.mean,
                                                                     std=data.std, device=dev)
    return store.finish(config, summary, model.state_dict())


def train_all(configs: Sequence[TrainConfig], *, store: RunStore | None = None, retrain: bool = False,
              progress: bool = True, device: str | None = None) -> list[RunResult]:
    """Load the finished runs of ``configs`` and train the rest, saying which ("loaded 4 runs from ...")."""
    store = store if store is not None else RunStore()
    configs = list(configs)
    todo = [c for c in dict.fromkeys(configs) if retrain or store.status(c) != "finished"]
    done = len(set(configs)) - len(todo)
    if done:
        print(f"loaded {done} run{'s' * (done != 1)} from {store.root}")
    if todo:
        print(f"training {len(todo)} run{'s' * (len(todo) != 1)} (stored in {store.root})")
    results: dict[TrainConfig, RunResult] = {}
    for c in dict.fromkeys(configs):
        results[c] = train(c, store=store, progress=progress, device=device, retrain=retrain)
    return [results[c] for c in configs]
