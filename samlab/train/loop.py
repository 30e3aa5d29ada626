"""Image-classifier training for every method (SGD, SAM, ASAM, SAMSON, ESAM), resumable, through the results store.

``train(config)`` is the one entry point the notebooks, the command line and the tests call. A run is
stored under its config's key (:mod:`samlab.runs`): a finished run is returned without training, an
interrupted one resumes from its last finished epoch and ends with the same numbers (bit for bit on
CPU with the same thread count) as an uninterrupted run.

Choices (written down because the papers leave them open):

* ``method="base"`` is plain training with the base optimizer (``base``: SGD or Adam; no SAM wrapper, rho 0);
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
* ``dataset`` is what is trained on: a config never falls back silently.
  :func:`samlab.data.available_dataset` picks ``"digits"`` when the CIFAR files are missing, so the key
  says which data produced a result.
* Training for robustness (SAMSON sec. 6.1) works with every method: ``clip`` (aggressive clipping to
  ``[-c, c]``) and ``clip_std_alpha`` (clipping to ``+-alpha std(W)``) are step hooks on the optimizer that
  updates the weights (SAM's base optimizer), run after every update; ``noise_sigma_g`` adds eq. 9's noise to
  the conv/linear weights in every training forward, one draw per step shared by both passes of a
  sharpness-aware step, gradients at the noisy weights applied to the clean ones
  (:mod:`samlab.train.weight_noise`; the noise generator's state is in every checkpoint).
* Randomness follows the library's rule (see :mod:`samlab.train`): every draw takes a ``torch.Generator``
  seeded from ``config.seed``; the model's initialisation (and any draw a module makes from torch's
  global RNG) runs inside ``torch.random.fork_rng()`` seeded from ``config.seed``, so :func:`train`
  leaves the caller's global RNG state as it found it.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any, Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..data import MNIST1D_DATASETS, ImageData, batch_iterator, load_mnist1d_training_data, load_training_data
from ..evaluate import evaluate
from ..models import create_model
from ..optim import SAM
from ..runs import RunResult, RunStore
from ..weights import clip_weights, clip_weights_std, conv_linear_weights
from . import distributed
from .config import TrainConfig
from .device import resolve_device
from .weight_noise import AdditiveWeightNoise

# ------------------------------------------------------------------------------------------------ data
def _derived_seed(seed: int, purpose: str) -> int:
    """A seed for one purpose (data order, ESAM draws) derived from the run's seed, independent streams."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{purpose}".encode()).digest()[:8], "little") >> 1


def run_data(config: TrainConfig) -> ImageData:
    """The exact data a run trains and tests on (:func:`samlab.data.load_training_data`, cached per process)."""
    if config.dataset in MNIST1D_DATASETS:
        data = load_mnist1d_training_data(max_train_samples=config.max_train_samples,
                                          max_test_samples=config.max_test_samples)
    else:
        data = load_training_data(config.dataset, max_train_samples=config.max_train_samples,
                                  max_test_samples=config.max_test_samples)
    if config.batch_size > len(data.train_y):
        raise ValueError(f"batch_size={config.batch_size} is larger than the {len(data.train_y)} training images of "
                         f"{config.dataset} (max_train_samples={config.max_train_samples})")
    return data


# ------------------------------------------------------------------------------------------------ pieces
def make_optimizer(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    """The run's optimizer: the plain base optimizer for ``base``, else :class:`samlab.optim.SAM` around it.

    ``clip`` is one rule for every method: a :func:`samlab.weights.clip_weights` step hook clamping ``model``'s
    conv/linear weights (:func:`samlab.weights.conv_linear_weights`) after each update, on the plain base optimizer
    for ``base`` and through SAM's own ``clip`` (the same hook) otherwise. SAM gets ``model=model``, so BatchNorm
    running statistics come from the pass at ``w`` only, and ``seed`` derived from ``config.seed`` for ESAM's draws.
    """
    if config.base == "sgd":
        base, kw = torch.optim.SGD, dict(lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    else:
        base, kw = torch.optim.Adam, dict(lr=config.lr, betas=(config.momentum, 0.999),
                                          weight_decay=config.weight_decay)
    if config.method == "base":
        opt = base(model.parameters(), **kw)
        if config.clip is not None:
            opt.samlab_clip_handle = clip_weights(opt, conv_linear_weights(model), config.clip)
    else:
        method = "sam" if config.method == "esam" else config.method
        opt = SAM(model.parameters(), base, method=method, rho=config.rho, p=config.p, eta=config.eta,
                  adaptive_params=config.adaptive_params, beta=config.beta, gamma=config.gamma,
                  swp_normalization=config.swp_normalization, clip=config.clip, model=model,
                  seed=_derived_seed(config.seed, "esam"), **kw)
    if getattr(config, "clip_std_alpha", None) is not None:
        # On the optimizer that updates the weights (SAM's base), like clip: runs after every update.
        inner = getattr(opt, "base_optimizer", opt)
        opt.samlab_clip_std_handle = clip_weights_std(inner, conv_linear_weights(model), config.clip_std_alpha)
    return opt


def make_weight_noise(config: TrainConfig, model: nn.Module, device: torch.device) -> AdditiveWeightNoise | None:
    """The run's additive-noise training (eq. 9) or None: a generator on ``device`` seeded from ``config.seed``."""
    if getattr(config, "noise_sigma_g", None) is None:
        return None
    gen = torch.Generator(device=device).manual_seed(_derived_seed(config.seed, "weight_noise"))
    return AdditiveWeightNoise(model, config.noise_sigma_g, config.noise_g_max, generator=gen)


def make_scheduler(config: TrainConfig, opt: torch.optim.Optimizer) -> Any:
    inner = getattr(opt, "base_optimizer", opt)
    if config.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(inner, step_size=config.lr_step_every, gamma=config.lr_decay)
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(inner, T_max=config.epochs)
    return None


def train_epoch(model: nn.Module, opt: torch.optim.Optimizer, batches: Iterable, n_batches: int,
                 device: torch.device, bar: Any, *,
                 weight_noise: AdditiveWeightNoise | None = None) -> tuple[float, float, int, float]:
    """One pass over the training batches; returns (mean loss, accuracy, images, seconds of the loop).

    ``weight_noise``: additive-noise training (eq. 9): one noise draw per step, shared by every pass of the step,
    added in the forward only (:mod:`samlab.train.weight_noise`); the update acts on the clean weights.
    """
    model.train()
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    seen = 0
    t0 = time.perf_counter()
    for x, y in batches:
        forward = model if weight_noise is None else weight_noise.step_forward()
        if isinstance(opt, SAM):
            stash: list[torch.Tensor] = []

            def sample_loss(indices: torch.Tensor | None = None) -> torch.Tensor:
                xb, yb = (x, y) if indices is None else (x[indices], y[indices])
                out = forward(xb)
                if not stash:
                    stash.append(out.detach())  # the first call is the forward pass at w
                return F.cross_entropy(out, yb, reduction="none")

            loss = opt.step(sample_loss=sample_loss)
            logits = stash[0]
        else:
            opt.zero_grad(set_to_none=True)
            out = forward(x)
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


def _global_rng(device: torch.device) -> Any:
    """``torch.random.fork_rng`` over the CPU generator and, on CUDA, the training device's: the caller's state
    comes back on exit whatever happens inside."""
    devices = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    return torch.random.fork_rng(devices=devices)


def _seed_global(seed: int, device: torch.device) -> None:
    """Seed the (forked) global generators the run uses: the CPU's and the CUDA training device's."""
    torch.default_generator.manual_seed(seed)
    if device.type == "cuda":
        with torch.cuda.device(device):
            torch.cuda.manual_seed(seed)


def _rng_state(device: torch.device, gen: torch.Generator,
               noise: AdditiveWeightNoise | None = None) -> dict[str, Any]:
    """The run's random state (the forked global generators, the data generator and, with additive-noise
    training, the noise generator), for the checkpoint."""
    state = {"torch": torch.get_rng_state(), "data": gen.get_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    if noise is not None:
        state["weight_noise"] = noise.state_dict()
    return state


def _set_rng_state(state: dict[str, Any], device: torch.device, gen: torch.Generator,
                   noise: AdditiveWeightNoise | None = None) -> None:
    torch.set_rng_state(state["torch"])
    gen.set_state(state["data"])
    if noise is not None:
        if "weight_noise" not in state:
            raise ValueError("the checkpoint has no weight-noise generator state: it was not written by a run with "
                             "additive-noise training; delete the run (retrain=True)")
        noise.load_state_dict(state["weight_noise"])
    if device.type == "cuda" and "cuda" in state:
        cuda = state["cuda"]
        if isinstance(cuda, (list, tuple)):  # older checkpoints held every device's state
            cuda = cuda[device.index or 0]
        torch.cuda.set_rng_state(cuda, device)


def _summary(config: TrainConfig, rows: list[dict], data: Any, model: nn.Module, device: torch.device) -> dict:
    last = rows[-1]
    best = max(rows, key=lambda r: r["test_acc"])
    ips = sorted(r["images_per_s"] for r in rows)
    return {
        "label": config.label, "epochs": len(rows),
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
    store, progress, rank_dev = distributed.prepare(store, progress, device if device is not None else config.device)
    if retrain:
        store.delete(config)
    if store.status(config) == "finished":
        result = store.load(config)
        assert result is not None
        return result
    dev = rank_dev or resolve_device(device if device is not None else config.device)
    data = run_data(config)
    with _global_rng(dev):  # the caller's global RNG state is restored on the way out
        _seed_global(config.seed, dev)
        return _train(config, store, data, dev, progress, callback)


def _train(config: TrainConfig, store: RunStore, data: ImageData, dev: torch.device, progress: bool,
           callback: Callable[[int, dict], None] | None) -> RunResult:
    """The body of :func:`train`, run inside a forked, seeded global RNG."""
    model = create_model(config.model, num_classes=data.num_classes).to(dev)
    opt = make_optimizer(config, model)
    sched = make_scheduler(config, opt)
    noise = make_weight_noise(config, model, dev)
    runner = distributed.make_runner(config, model, opt, dev)  # None: the plain loop (train_epoch)
    if noise is not None and runner is not None:
        raise ValueError("additive-noise training (noise_sigma_g) runs in the plain training loop only: not with "
                         "amp, accumulate > 1, ascent_splits > 1 or several processes (torchrun)")
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
        _set_rng_state(ckpt["rng"], dev, gen, noise)
        if runner is not None and ckpt.get("runner") is not None:
            runner.load_state_dict(ckpt["runner"])
        rows = list(ckpt["metrics"])
    store.write_metrics(config, rows)  # drop rows of an epoch whose checkpoint never landed

    n_batches = len(train_y) // config.batch_size
    label = config.label
    outer = inner = None
    if progress:
        from tqdm.auto import tqdm

        outer = tqdm(total=config.epochs, initial=len(rows), desc=f"{label} {config.model}", unit="epoch")
    try:
        for epoch in range(len(rows) + 1, config.epochs + 1):
            lr = getattr(opt, "base_optimizer", opt).param_groups[0]["lr"]
            if progress:
                inner = tqdm(total=n_batches, desc=f"epoch {epoch}/{config.epochs}", unit="batch", leave=False)
            batches = batch_iterator(train_x)(
                train_x, train_y, config.batch_size, train=True, mean=data.mean, std=data.std, device=dev,
                generator=gen, augment=config.augment)
            if runner is None:
                tr_loss, tr_acc, seen, seconds = train_epoch(model, opt, batches, n_batches, dev, inner,
                                                             weight_noise=noise)
            else:
                tr_loss, tr_acc, seen, seconds = runner.train_epoch(model, opt, batches, n_batches, dev, inner)
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
                "rng": _rng_state(dev, gen, noise), "metrics": rows,
                **({"runner": runner.state_dict()} if runner is not None else {})})
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
