"""The 2-D variance generalisation study of notebook 03 (ASAM report section II, Figs. 5-6, Table II).

* :class:`ToyRunConfig`, :func:`toy_run_config`: one training run, a frozen config whose fields are its key in
  the results store (:mod:`samlab.runs`).
* :func:`train_toy`: the Table II network trained with Adam, SAM, ASAM or SAMSON on the 2-D variance data
  set, a pure function of its config.
* :class:`VarianceStudy`: the grid methods x training variances x seeds, each run cached in memory and in the
  store; :func:`compare_methods`, :func:`describe_gaps` and :func:`findings` compare each
  method with Adam through test errors paired by seed (:mod:`samlab.evidence`).
"""
from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from .. import ledger
from ..checks import check_choice, check_number, check_scale
from ..data.variance2d import VARIANCE2D_OFFSET, make_variance2d
from ..evidence import Comparison, paired_difference
from ..methods import method_color, method_label
from ..models import create_model
from ..optim import SAM
from ..runs import RunStore

__all__ = [
    "TEST_VARIANCES", "TRAIN_VARIANCES", "ToyRunConfig", "toy_run_config", "train_toy",
    "variance_study_preset", "VarianceStudy", "compare_methods", "describe_gaps", "findings",
]

#: The report's training variances (Fig. 5a-e) and samlab's test sweep (increasing variances, Fig. 6 range).
TRAIN_VARIANCES = (1.0, 5.0, 15.0, 25.0, 30.0)
TEST_VARIANCES = (1.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0)
_TEST_SEED = 1_000_003  # test sets never share draws with a training seed
_METHODS = ("adam", "sam", "asam", "samson")


@dataclass(frozen=True)
class ToyRunConfig:
    """One training run of notebook 03: Table II net, Adam base, cosine schedule; every field is in the key."""

    method: str = "adam"            # adam | sam | asam | samson
    train_variance: float = 1.0
    seed: int = 0                   # drives the training set, the init and the batch order
    rho: float = 0.0                # 0 for adam
    p: float = 2.0                  # SAMSON's norm (2 for the others)
    eta: float = 0.0                # ASAM's eta (0 for the others)
    epochs: int = 200
    batch_size: int = 64
    lr: float = 1e-3
    n_train: int = 2000
    n_test: int = 2000
    test_variances: tuple[float, ...] = TEST_VARIANCES
    offset: float = VARIANCE2D_OFFSET
    model: str = "table2_mlp"


def toy_run_config(method: str, train_variance: float, seed: int = 0, *, rho: float = 0.5, p: float = 2.0,
                   eta: float = 0.01, **fields: Any) -> ToyRunConfig:
    """A canonical :class:`ToyRunConfig`: options a method ignores are reset (Adam: rho 0; SAM: p 2, eta 0;
    ASAM: p 2; SAMSON: eta 0, eq. 6), floats rounded to 1e-6, so equal runs share one key."""
    check_choice("method", method, _METHODS)
    rho = check_number("rho", rho, low=0.0)
    p = check_number("p", p, low=1.0, allow_inf=True)
    eta = check_number("eta", eta, low=0.0)
    check_number("train_variance", train_variance, low=0.0)
    if method == "adam":
        rho, p, eta = 0.0, 2.0, 0.0
    elif method == "sam":
        p, eta = 2.0, 0.0
    elif method == "asam":
        p = 2.0
    else:
        eta = 0.0
    r = (lambda v: v if math.isinf(v) else round(float(v), 6))
    if "test_variances" in fields:
        fields["test_variances"] = tuple(r(float(v)) for v in fields["test_variances"])
    return ToyRunConfig(method=method, train_variance=r(train_variance), seed=int(seed), rho=r(rho), p=r(p),
                        eta=r(eta), **fields)


@functools.lru_cache(maxsize=8)
def _test_sets(test_variances: tuple[float, ...], n: int, offset: float) -> tuple[tuple[Tensor, Tensor], ...]:
    return tuple(make_variance2d(v, n, offset=offset, seed=_TEST_SEED) for v in test_variances)


def _error(model: nn.Module, x: Tensor, y: Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) != y).float().mean())


def train_toy(config: ToyRunConfig) -> dict[str, Any]:
    """Train one run and return ``{"test_error": [...per test variance], "train_error", "train_loss"}``.

    A pure function of ``config`` on CPU: data, batch order and the optimizer draw from their own
    ``torch.Generator``; the init runs inside ``torch.random.fork_rng``, so the global RNG is left as it was.
    Adam runs plain ``torch.optim.Adam``; the others :class:`samlab.optim.SAM` around Adam. CosineAnnealingLR
    over the epochs, as in the report.
    """
    check_choice("method", config.method, _METHODS)
    if config.batch_size < 1 or config.epochs < 0:
        raise ValueError(f"batch_size={config.batch_size} must be >= 1 and epochs={config.epochs} >= 0")
    with torch.random.fork_rng(devices=[]):      # the init draws from the global RNG: fork it, never move it
        torch.manual_seed(config.seed)
        model = create_model(config.model)
    x, y = make_variance2d(config.train_variance, config.n_train, offset=config.offset, seed=config.seed)
    gen = torch.Generator().manual_seed(config.seed + 7919)
    if config.method == "adam":
        opt = base = torch.optim.Adam(model.parameters(), lr=config.lr)
    else:
        opt = SAM(model.parameters(), torch.optim.Adam, method=config.method, rho=config.rho, p=config.p,
                  eta=config.eta, lr=config.lr, generator=torch.Generator().manual_seed(config.seed))
        base = opt.base_optimizer
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(base, T_max=max(1, config.epochs))
    n, bs = config.n_train, min(config.batch_size, config.n_train)
    for _ in range(config.epochs):
        perm = torch.randperm(n, generator=gen)
        for start in range(0, n - bs + 1, bs):       # drop the last partial batch (equal-size steps)
            idx = perm[start:start + bs]
            xb, yb = x[idx], y[idx]

            def closure() -> Tensor:
                opt.zero_grad()
                loss = F.cross_entropy(model(xb), yb)
                loss.backward()
                return loss

            opt.step(closure)
        sched.step()
    with torch.no_grad():
        train_loss = float(F.cross_entropy(model(x), y))
    tests = _test_sets(tuple(config.test_variances), config.n_test, config.offset)
    return {"test_error": [_error(model, tx, ty) for tx, ty in tests], "train_error": _error(model, x, y),
            "train_loss": train_loss}


def variance_study_preset(scale: str) -> dict[str, Any]:
    """Training sizes per scale (see notebook 03's parameters): smoke seconds, quick minutes on 2 cores, paper 200 epochs.

    paper: the report's 2,000 points and 200 epochs, Adam lr 1e-3 (PyTorch default; the report gives none),
    batch 64 (not given either), 5 seeds. quick: the same data, 40 epochs of batch 200 at lr 1e-2 (about
    the same number of steps x lr), 3 seeds. smoke: 200 points, 2 full-batch epochs, 1 seed.
    """
    check_scale(scale)
    return {
        "smoke": dict(epochs=2, batch_size=200, lr=1e-2, n_train=200, n_test=200, seeds=(0,)),
        "quick": dict(epochs=40, batch_size=200, lr=1e-2, n_train=2000, n_test=2000, seeds=(0, 1, 2)),
        "paper": dict(epochs=200, batch_size=64, lr=1e-3, n_train=2000, n_test=2000, seeds=(0, 1, 2, 3, 4)),
    }[scale]


def _method_name(method: str, p: float) -> str:
    return f"samson_{'inf' if math.isinf(p) else f'{p:g}'}" if method == "samson" else method


class VarianceStudy:
    """Notebook 03's grid: methods x training variances x seeds, each run cached in memory and in the store.

    ``VarianceStudy(scale)`` fixes the training sizes (:func:`variance_study_preset`, overridable by
    keywords); :meth:`curves` returns test errors per training variance and method, training what is missing
    (progress bar) and loading the rest; :meth:`missing` says what a call would train.
    """

    def __init__(self, scale: str = "quick", *, store: Any = None, retrain: bool = False, eta: float = 0.01,
                 test_variances: Sequence[float] = TEST_VARIANCES, **overrides: Any) -> None:
        preset = {**variance_study_preset(scale), **overrides}
        self.scale = scale
        self.seeds = tuple(int(s) for s in preset.pop("seeds"))
        self.fields = dict(preset, test_variances=tuple(float(v) for v in test_variances))
        self.eta = check_number("eta", eta, low=0.0)
        self.store = store if store is not None else RunStore()
        self.retrain = bool(retrain)
        self._memo: dict[ToyRunConfig, dict[str, Any]] = {}
        self._retrained: set[ToyRunConfig] = set()
        self._trained_seconds: list[float] = []

    @property
    def test_variances(self) -> tuple[float, ...]:
        return self.fields["test_variances"]

    def methods(self, p: float = 2.0) -> list[tuple[str, float]]:
        """Adam, SAM, ASAM, SAMSON_p and SAMSON_inf (once when ``p`` is inf)."""
        p = check_number("p", p, low=1.0, allow_inf=True)
        out = [("adam", 2.0), ("sam", 2.0), ("asam", 2.0), ("samson", p)]
        return out + ([] if math.isinf(p) else [("samson", math.inf)])

    def labels(self, p: float = 2.0, *, plain: bool = False) -> dict[str, str]:
        """Display label per method name of :meth:`curves` (``plain``: no mathtext, for printed tables)."""
        return {_method_name(m, pp): method_label(m, pp if m == "samson" else None, plain=plain)
                for m, pp in self.methods(p)}

    def colors(self, p: float = 2.0) -> dict[str, str]:
        """Colour per method name of :meth:`curves` (:data:`samlab.methods.METHOD_COLORS`)."""
        return {_method_name(m, pp): method_color(m, pp) for m, pp in self.methods(p)}

    def configs(self, *, rho: float, p: float, train_variances: Sequence[float],
                seeds: Sequence[int] | None = None) -> list[ToyRunConfig]:
        """Every run :meth:`curves` needs for these settings."""
        rho = check_number("rho", rho, low=0.0)
        seeds = self.seeds if seeds is None else tuple(seeds)
        return [toy_run_config(m, tv, s, rho=rho, p=pp, eta=self.eta, **self.fields)
                for tv in train_variances for m, pp in self.methods(p) for s in seeds]

    def _cached(self, cfg: ToyRunConfig) -> bool:
        if cfg in self._memo:
            return True
        if self.retrain and cfg not in self._retrained:
            return False
        return self.store.status(cfg) == "finished"

    @property
    def seconds_per_run(self) -> float:
        """Mean training time of the runs trained so far (before any: a rough 1.5 ms per SAM step estimate)."""
        if self._trained_seconds:
            return float(np.mean(self._trained_seconds))
        steps = self.fields["epochs"] * max(1, self.fields["n_train"] // self.fields["batch_size"])
        return 1.5e-3 * steps

    def missing(self, **settings: Any) -> list[ToyRunConfig]:
        """The runs of ``configs(**settings)`` not yet in memory or in the store."""
        return [c for c in self.configs(**settings) if not self._cached(c)]

    def result(self, cfg: ToyRunConfig) -> dict[str, Any]:
        """One run's result: memory, else the store, else trained (and stored)."""
        if cfg not in self._memo:
            if self.retrain and cfg not in self._retrained:
                self.store.delete(cfg)
                self._retrained.add(cfg)
            self._memo[cfg] = self.store.get_or_compute(cfg, lambda: self._train(cfg))
        return self._memo[cfg]

    def _train(self, cfg: ToyRunConfig) -> dict[str, Any]:
        start = time.perf_counter()
        result = train_toy(cfg)
        self._trained_seconds.append(time.perf_counter() - start)
        return result

    def curves(self, *, rho: float, p: float, train_variances: Sequence[float] = TRAIN_VARIANCES,
               seeds: Sequence[int] | None = None, progress: bool = True,
               verbose: bool = True) -> dict[float, dict[str, np.ndarray]]:
        """``{train_variance: {method_name: test errors (seeds, test variances)}}``, training what is missing."""
        cfgs = self.configs(rho=rho, p=p, train_variances=train_variances, seeds=seeds)
        todo = [c for c in cfgs if not self._cached(c)]
        in_memory = sum(c in self._memo for c in cfgs)
        if verbose:
            print(f"{len(cfgs)} runs: {in_memory} in memory, {len(cfgs) - in_memory - len(todo)} loaded from "
                  f"{self.store.root}, {len(todo)} to train")
        for cfg in tqdm(todo, desc="training", disable=not progress or not todo, leave=False):
            self.result(cfg)
        out: dict[float, dict[str, list]] = {}
        for cfg in cfgs:
            name = _method_name(cfg.method, cfg.p)
            out.setdefault(cfg.train_variance, {}).setdefault(name, []).append(self.result(cfg)["test_error"])
        return {tv: {name: np.asarray(v) for name, v in d.items()} for tv, d in out.items()}


def _paired(errs: np.ndarray, ref: np.ndarray, columns: Any = slice(None)) -> Comparison | None:
    """``errs - ref`` paired by seed (rows) over the chosen test-variance ``columns``; None with one seed."""
    a, b = np.atleast_2d(np.asarray(errs, dtype=float))[:, columns], np.atleast_2d(np.asarray(ref, dtype=float))[:, columns]
    if a.shape[0] < 2 or a.shape != b.shape:
        return None
    return paired_difference(a, b)


_SAY = {"supported": "more errors", "contradicted": "fewer errors", "unresolved": "not resolved"}


def compare_methods(curves: dict[str, np.ndarray], test_variances: Sequence[float], *, reference: str = "adam",
                    labels: dict[str, str] | None = None) -> str:
    """Per test variance, each method's test error minus ``reference``'s, paired by seed.

    ``curves``: method name -> errors (seeds, test variances); the runs of one seed share their training set,
    initial weights and batch order, so the difference is taken per seed and gets a t-interval over seeds
    (:func:`samlab.evidence.paired_difference`): "fewer errors"/"more errors" only when that interval excludes 0.
    """
    if reference not in curves:
        raise ValueError(f"reference={reference!r} is not one of the methods {list(curves)}")
    name = (lambda m: (labels or {}).get(m, m))
    others = [m for m in curves if m != reference]
    lines = [f"test error minus {name(reference)}'s, points, paired by seed (95 % interval over seeds):",
             f"{'test var':>8}  " + "".join(f"{name(m):<30}" for m in others)]
    for j, v in enumerate(test_variances):
        cells = []
        for m in others:
            c = _paired(curves[m], curves[reference], [j])
            cells.append("one seed: no interval" if c is None else
                         f"{100 * c.difference:+.2f} [{100 * c.low:+.2f}, {100 * c.high:+.2f}] {_SAY[c.verdict]}")
        lines.append(f"{v:8g}  " + "".join(f"{cell:<30}" for cell in cells))
    return "\n".join(lines)


def describe_gaps(curves: dict[float, dict[str, np.ndarray]], test_variances: Sequence[float], *,
                  reference: str = "adam", labels: dict[str, str] | None = None,
                  bayes: Sequence[float] | None = None) -> str:
    """Notebook 03's takeaways, computed: per training variance, each method against ``reference`` past it.

    For the test variances above the training variance: the test error minus ``reference``'s averaged over them,
    paired by seed (negative = fewer errors), with its 95 % t-interval over seeds and the verdict of
    :func:`samlab.evidence.verdict`. With ``bayes`` (one Bayes error per test variance), also how far the means
    lie from it at worst.
    """
    tvs = np.asarray(test_variances, dtype=float)
    name = (lambda m: (labels or {}).get(m, m))
    lines = []
    for train_var, per_method in curves.items():
        past = tvs > train_var
        if not past.any():
            continue
        n = int(past.sum())
        lines.append(f"trained on sigma^2 = {train_var:g}, tested on the {n} larger variances "
                     f"({tvs[past].min():g}-{tvs[past].max():g}), against {name(reference)}, paired by seed:")
        for m, errs in per_method.items():
            if m == reference:
                continue
            c = _paired(errs, per_method[reference], past)
            if c is None:
                lines.append(f"  {name(m):<11} one seed: no interval over seeds, so no difference can be claimed")
                continue
            lines.append(f"  {name(m):<11} {100 * c.difference:+6.2f} points [{100 * c.low:+.2f}, "
                         f"{100 * c.high:+.2f}], n = {c.n} seeds: {_SAY[c.verdict]}")
        if bayes is not None:
            means = np.array([np.atleast_2d(e).mean(axis=0) for e in per_method.values()])
            worst = 100 * float(np.max(np.abs(means - np.asarray(bayes, dtype=float)[None, :])[:, past]))
            lines.append(f"  every method's mean lies within {worst:.2f} points of the Bayes error there")
    return "\n".join(lines)


def findings(curves: dict[float, dict[str, np.ndarray]], test_variances: Sequence[float], *, scale: str,
             methods: Sequence[str] = ("sam", "asam"), reference: str = "adam",
             labels: dict[str, str] | None = None) -> list[Any]:
    """Notebook 03's ledger rows: the report's "SAM and ASAM generalize better than ADAM", tested per training
    variance as the test error past it minus Adam's, paired by seed (fewer errors support the claim), Holm-adjusted
    together. A training variance with one seed gives an unresolved row that says so."""
    tvs = np.asarray(test_variances, dtype=float)
    name = (lambda m: (labels or {}).get(m, m))
    rows = []
    for train_var, per_method in curves.items():
        past = tvs > train_var
        for m in methods:
            if not past.any() or m not in per_method or reference not in per_method:
                continue
            subject = f"trained on sigma^2 = {train_var:g}: {name(m)} - {name(reference)}, test error"
            c = _paired(per_method[m], per_method[reference], past)
            if c is None:
                rows.append(ledger.exact_finding("variance_sam_asam_adam", subject=subject, scale=scale,
                                                 verdict="unresolved", method="one seed: no interval",
                                                 note="n = 1 seed: no verdict"))
                continue
            rows.append(ledger.finding("variance_sam_asam_adam", c, subject=subject, scale=scale, direction=-1,
                                       note=f"averaged over the {int(past.sum())} test variances above {train_var:g}"))
    return ledger.adjust(rows)
