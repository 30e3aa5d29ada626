"""Notebook 04b's study: SGD, Adam, SAM, ASAM, SAMSON_2 and SAMSON_inf on MNIST-1D over a rho sweep and several seeds.

MNIST-1D (:func:`samlab.data.load_mnist1d`) is small enough for seconds per run on a CPU and, unlike the digits
stand-in for CIFAR, does not saturate: the paper's MLP fits its 3600 training signals and stays near 65 % test
accuracy, the CNN near 90 %. The study asks whether sharpness-aware training closes part of that gap.

Choices (ours, the MNIST-1D paper has no sharpness-aware protocol):

* Base optimizer SGD (lr 0.1, momentum 0.9, weight decay 5e-4, cosine, batch 100), as in the CIFAR papers; the
  Adam baseline uses the MNIST-1D authors' lr 1e-2 (their ``notebooks/train.py``), no weight decay, cosine
  (:data:`samlab.papers.MNIST1D_PROTOCOL`; epochs per scale below, 200 at paper scale).
* rho is chosen per (model, method) on the 400 calibration signals (cut from train, never trained on), never on
  test: :func:`select_rho`. Test accuracy is then reported at that rho, mean and a t-based 95 % interval over seeds.
* Methods are compared through their test accuracy paired by seed (every method is trained with the same seeds:
  same initial weights, same batch order), with :func:`samlab.evidence.paired_difference` (:func:`compare`);
  the per-setting intervals of :func:`summarize` only draw the figures' error bars, never a verdict.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable, Sequence

import numpy as np
import torch

from ..checks import check_scale
from .. import ledger
from ..data import load_mnist1d
from ..evidence import Comparison, paired_difference
from ..evaluate import evaluate
from ..methods import method_name, variant_fields
from ..models import create_model
from ..papers import MNIST1D_PROTOCOL
from ..sweep import train_local
from ..train import TrainConfig

__all__ = ["StudyScale", "study_scale", "study_configs", "run_study", "run_rows", "summarize", "select_rho",
           "selected_table", "takeaways", "paired_rows", "compare", "findings", "CLAIM_TESTS", "timing", "mean_ci", "DATASET_NAME", "METHOD_ORDER"]

#: What every figure and table of this study says it used.
DATASET_NAME = "MNIST-1D"
#: The study's methods, in table order (plain names as :func:`samlab.methods.method_name` gives them).
METHOD_ORDER = ("SGD", "Adam", "SAM", "ASAM", "SAMSON_2", "SAMSON_inf")
_OPTIMIZER_FIELDS = ("base", "lr", "momentum", "weight_decay", "schedule", "dataset", "augment")
_SGD = {k: MNIST1D_PROTOCOL["sgd"][k] for k in _OPTIMIZER_FIELDS}
_ADAM = {k: MNIST1D_PROTOCOL["adam"][k] for k in _OPTIMIZER_FIELDS}


@dataclass(frozen=True)
class StudyScale:
    """One scale of the study: per model its epochs and each method's rho grid, the seeds, the data subset."""

    models: tuple[tuple[str, int, dict[str, tuple[float, ...]]], ...]  # (model, epochs, {method: rhos})
    seeds: tuple[int, ...]
    batch_size: int = 100
    max_train_samples: int | None = None
    max_test_samples: int | None = None


_SAM_GRID = {"SAM": (0.05, 0.1, 0.2), "ASAM": (0.5, 1.0, 2.0), "SAMSON_2": (0.5, 1.0, 2.0),
             "SAMSON_inf": (0.5, 1.0, 2.0)}
_DEFAULT_RHO = {"SAM": (0.05,), "ASAM": (0.5,), "SAMSON_2": (0.5,), "SAMSON_inf": (0.5,)}
_CNN_GRID = {"SAM": (0.05,), "ASAM": (0.2, 0.5), "SAMSON_2": (0.5,), "SAMSON_inf": (0.2, 0.5)}
_WIDE_GRID = {"SAM": (0.02, 0.05, 0.1, 0.2, 0.5), "ASAM": (0.2, 0.5, 1.0, 2.0, 5.0),
              "SAMSON_2": (0.2, 0.5, 1.0, 2.0, 5.0), "SAMSON_inf": (0.2, 0.5, 1.0, 2.0, 5.0)}

_SCALES = {
    # seconds: the MLP, 1 epoch on 200 signals, one rho per method, two seeds (the notebook test)
    "smoke": StudyScale(models=(("mnist1d_mlp", 1, _DEFAULT_RHO),), seeds=(0, 1), batch_size=50,
                        max_train_samples=200, max_test_samples=200),
    # minutes: the MLP (large gap) over a 3-point rho grid, the CNN (small gap) at the papers' default rho and, for
    # ASAM and SAMSON_inf, 0.2 too (at 0.5 SAMSON_inf fails to train in 3 of 5 seeds and ASAM loses ~4 points)
    "quick": StudyScale(models=(("mnist1d_mlp", 30, _SAM_GRID), ("mnist1d_cnn", 25, _CNN_GRID)),
                        seeds=(0, 1, 2, 3, 4)),
    # the MNIST-1D authors' length (8000 steps of 100 = 200 epochs), wider grid, more seeds, the BN CNN too
    "paper": StudyScale(models=(("mnist1d_mlp", 200, _WIDE_GRID), ("mnist1d_cnn", 200, _WIDE_GRID),
                                ("mnist1d_cnn_bn", 200, _WIDE_GRID)), seeds=tuple(range(10))),
}


def study_scale(scale: str = "quick") -> StudyScale:
    """The settings of one scale: ``smoke`` (seconds), ``quick`` (minutes on 2 cores), ``paper``."""
    return _SCALES[check_scale(scale)]


def study_configs(scale: str = "quick") -> list[TrainConfig]:
    """Every run of the study at ``scale``: per model, SGD and Adam, then each SAM variant (SGD base) at each rho."""
    s = study_scale(scale)
    out = []
    for model, epochs, grid in s.models:
        common = dict(model=model, epochs=epochs, batch_size=s.batch_size, max_train_samples=s.max_train_samples,
                      max_test_samples=s.max_test_samples)
        for seed in s.seeds:
            out.append(TrainConfig(method="base", seed=seed, **_SGD, **common))
            out.append(TrainConfig(method="base", seed=seed, **_ADAM, **common))
            for name, rhos in grid.items():
                out += [TrainConfig(rho=rho, seed=seed, **variant_fields(name), **_SGD, **common) for rho in rhos]
    return out


def run_study(scale: str = "quick", *, retrain: bool = False, store: Any = None, progress: bool = True,
              workers: int = 1) -> list[Any]:
    """Load the stored runs of the study and train the missing ones (``train_all`` says which); ``workers`` > 1
    trains them that many at a time in local processes (:func:`samlab.sweep.train_local`)."""
    return train_local(study_configs(scale), workers=workers, store=store, retrain=retrain, progress=progress)


# ------------------------------------------------------------------------------------------------ rows
@lru_cache(maxsize=8)
def _calibration(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    data = load_mnist1d(seed=seed, verbose=False)
    return data.calib_x, data.calib_y


def calibration_accuracy(result: Any) -> float:
    """Accuracy of a finished run's final weights on the calibration signals (never trained on): picks rho."""
    cfg = result.config
    x, y = _calibration(0)  # the trainer cuts the calibration split with seed 0 for every run
    model = create_model(cfg.model, num_classes=10)
    model.load_state_dict(result.state_dict())
    return evaluate(model, x, y, mean=(0.0,), std=(1.0,), device="cpu")[1]


def run_rows(results: Iterable[Any]) -> list[dict[str, Any]]:
    """One row per finished run: model, method, rho, seed, train/test/calibration accuracy (%), gap, seconds."""
    rows = []
    for r in results:
        c, s = r.config, r.summary
        train_acc, test_acc = 100 * s["train_eval_acc"], 100 * s["test_acc"]
        rows.append({"model": c.model, "method": method_name(c), "rho": float(c.rho), "seed": c.seed,
                     "train_acc": train_acc, "test_acc": test_acc, "gap": train_acc - test_acc,
                     "calib_acc": 100 * calibration_accuracy(r), "train_time_s": s["train_time_s"],
                     "epochs": s["epochs"], "images_per_s": s["images_per_s"], "dataset": s["data"]["name"]})
    return rows


# ------------------------------------------------------------------------------------------------ statistics
def mean_ci(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Mean and the half-width of its two-sided t interval over seeds (nan half-width for a single value): one
    setting's error bar in the figures and tables; comparisons between settings use :func:`compare`."""
    from scipy import stats

    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return float(v.mean()) if len(v) else math.nan, math.nan
    half = stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))
    return float(v.mean()), float(half)


def summarize(rows: Sequence[dict]) -> list[dict[str, Any]]:
    """Per (model, method, rho): seeds, mean and 95 % half-width of test, train, gap and calibration accuracy."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["model"], row["method"], row["rho"]), []).append(row)
    out = []
    for (model, method, rho), g in groups.items():
        entry: dict[str, Any] = {"model": model, "method": method, "rho": rho, "n": len(g)}
        for key in ("test_acc", "train_acc", "gap", "calib_acc"):
            entry[key], entry[f"{key}_ci"] = mean_ci([r[key] for r in g])
        entry["train_time_s"] = float(np.mean([r["train_time_s"] for r in g]))
        out.append(entry)
    order = {m: i for i, m in enumerate(METHOD_ORDER)}
    return sorted(out, key=lambda e: (e["model"], order.get(e["method"], 99), e["rho"]))


def select_rho(summary: Sequence[dict]) -> list[dict[str, Any]]:
    """Per (model, method), the summary entry whose rho has the best mean calibration accuracy (not test), with
    ``n_rho``, how many rho values it was chosen among (1: nothing was chosen, the one rho run is reported)."""
    best: dict[tuple, dict] = {}
    tried: dict[tuple, int] = {}
    for e in summary:
        key = (e["model"], e["method"])
        tried[key] = tried.get(key, 0) + 1
        if key not in best or e["calib_acc"] > best[key]["calib_acc"]:
            best[key] = e
    best = {k: {**e, "n_rho": tried[k]} for k, e in best.items()}
    order = {m: i for i, m in enumerate(METHOD_ORDER)}
    return sorted(best.values(), key=lambda e: (e["model"], order.get(e["method"], 99)))


def selected_table(summary: Sequence[dict]) -> str:
    """A plain-text table of :func:`select_rho`: test, train and gap as mean +- 95 % half-width (percent)."""
    lines = [f"{DATASET_NAME}: test accuracy at the rho chosen on the calibration split (mean +- 95% CI over seeds)",
             f"{'model':<14} {'method':<11} {'rho':>5} {'n':>2} {'test %':>13} {'train %':>13} {'gap':>13}"]
    for e in select_rho(summary):
        cell = lambda k: f"{e[k]:6.2f} +- {e[k + '_ci']:4.2f}"  # noqa: E731
        lines.append(f"{e['model']:<14} {e['method']:<11} {e['rho']:>5g} {e['n']:>2} {cell('test_acc')} "
                     f"{cell('train_acc')} {cell('gap')}")
    return "\n".join(lines)


def paired_rows(rows: Sequence[dict], model: str, a: tuple[str, float], b: tuple[str, float],
                key: str = "test_acc") -> tuple[np.ndarray, np.ndarray]:
    """``key`` of ``(method, rho)`` ``a`` and ``b`` on ``model``, matched by training seed: two arrays [seeds].

    Every method of the study is trained with the same seeds (same initial weights, same batch order), so the
    runs are paired by seed; seeds that only one side has are left out."""
    def by_seed(name: str, rho: float) -> dict[int, float]:
        return {r["seed"]: r[key] for r in rows if r["model"] == model and r["method"] == name and r["rho"] == rho}
    first, second = by_seed(*a), by_seed(*b)
    seeds = sorted(set(first) & set(second))
    return np.array([first[s] for s in seeds]), np.array([second[s] for s in seeds])


def compare(rows: Sequence[dict], summary: Sequence[dict], model: str, method: str, reference: str,
            key: str = "test_acc") -> Comparison | None:
    """``method`` minus ``reference`` on ``model``, each at its rho chosen on calibration (:func:`select_rho`),
    paired by seed (:func:`samlab.evidence.paired_difference`, in the units of ``key``: points); None when
    fewer than 2 seeds are shared."""
    chosen = {e["method"]: e["rho"] for e in select_rho(summary) if e["model"] == model}
    if method not in chosen or reference not in chosen:
        return None
    a, b = paired_rows(rows, model, (method, chosen[method]), (reference, chosen[reference]), key)
    return paired_difference(a, b) if a.size >= 2 else None


#: Train accuracy (%) below which a network has not fitted its training set (a takeaways caveat).
_FITTED = 97.0


def _words(c: Comparison | None, ref: str) -> str:
    if c is None:
        return f"vs {ref}: fewer than 2 shared seeds, no interval"
    say = {"supported": f"above {ref}", "contradicted": f"below {ref}", "unresolved": f"not resolved from {ref}"}
    return f"{say[c.verdict]} ({c.difference:+.1f} points, 95 % interval {c.low:+.1f} to {c.high:+.1f})"


def takeaways(summary: Sequence[dict], rows: Sequence[dict]) -> list[str]:
    """Sentences computed from the results: each SAM variant (at its selected rho) against SGD and Adam, test
    accuracy paired by seed (:func:`compare`): "above"/"below" only when the 95 % interval of the paired
    difference excludes 0 (:func:`samlab.evidence.verdict`), else "not resolved"."""
    chosen = select_rho(summary)
    lines = []
    for model in dict.fromkeys(e["model"] for e in chosen):
        by = {e["method"]: e for e in chosen if e["model"] == model}
        if "SGD" in by:
            e = by["SGD"]
            lines.append(f"{model} on {DATASET_NAME}: SGD reaches {e['test_acc']:.1f}% test, {e['train_acc']:.1f}% "
                         f"train (gap {e['gap']:.1f} points, {e['n']} seeds).")
            if e["train_acc"] < _FITTED:
                lines.append(f"  Caveat: SGD fits only {e['train_acc']:.1f}% of the training signals at this scale, so "
                             "differences here say more about how fast a method fits than about generalization.")
        for name in METHOD_ORDER[2:]:
            if name not in by:
                continue
            e = by[name]
            parts = [_words(compare(rows, summary, model, name, ref), ref) for ref in ("SGD", "Adam") if ref in by]
            gap = compare(rows, summary, model, name, "SGD", key="gap") if "SGD" in by else None
            how = (f"chosen on calibration among {e['n_rho']}" if e.get("n_rho", 1) > 1 else "the only rho run")
            gap_text = "" if gap is None else (f"; train-test gap minus SGD's {gap.difference:+.1f} points "
                                               f"[{gap.low:+.1f}, {gap.high:+.1f}]")
            lines.append(f"  {name} (rho {e['rho']:g}, {how}): {e['test_acc']:.1f}% test, "
                         f"{'; '.join(parts)}{gap_text}.")
    return lines


#: The claims notebook 04b tests: (claim key, method, reference), each on every network of the study.
CLAIM_TESTS = (("sam_better_test", "SAM", "SGD"), ("sam_better_test", "SAM", "Adam"),
               ("asam_over_sam", "ASAM", "SAM"),
               *(("samson_best", v, ref) for v in ("SAMSON_2", "SAMSON_inf") for ref in ("SGD", "SAM", "ASAM")))


def findings(summary: Sequence[dict], rows: Sequence[dict], scale: str) -> list[Any]:
    """Notebook 04b's ledger rows (:mod:`samlab.ledger`): each test of :data:`CLAIM_TESTS` on each network,
    paired by seed, Holm-adjusted together (:func:`samlab.ledger.adjust`)."""
    out = []
    models = list(dict.fromkeys(e["model"] for e in select_rho(summary)))
    for claim_key in dict.fromkeys(k for k, _, _ in CLAIM_TESTS):     # rows grouped by claim, then network
        for model in models:
            chosen = {e["method"]: e["rho"] for e in select_rho(summary) if e["model"] == model}
            for key, method, ref in CLAIM_TESTS:
                c = compare(rows, summary, model, method, ref) if key == claim_key else None
                if c is None:
                    continue
                rho = "" if chosen[method] == 0 else f" (rho {chosen[method]:g})"
                out.append(ledger.finding(key, c, subject=f"{model}: {method}{rho} - {ref}", scale=scale,
                                          factor=1.0, note=f"{DATASET_NAME}, rho chosen on calibration"))
    return ledger.adjust(out)


def timing(rows: Sequence[dict]) -> dict[str, Any]:
    """Seconds of training (the trainer's loop, no evaluation) per run by model and method, and the total."""
    per: dict[str, list[float]] = {}
    for r in rows:
        per.setdefault(f"{r['model']} {r['method']}", []).append(r["train_time_s"])
    return {"runs": len(rows), "total_train_s": float(sum(r["train_time_s"] for r in rows)),
            "mean_s": {k: float(np.mean(v)) for k, v in per.items()}}
