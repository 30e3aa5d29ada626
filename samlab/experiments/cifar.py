"""Notebook 04's study (CIFAR training): its configs per scale, the ESAM beta/gamma grid, and tables that put
stored runs next to the papers' numbers (:mod:`samlab.papers`).
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Sequence

import numpy as np

from .. import ledger
from ..checks import check_choice, check_scale
from ..data import IMAGE_DATASETS, available_dataset
from ..evidence import Comparison, paired_difference
from ..methods import ESAM_BETA, ESAM_GAMMA, method_key, method_name, run_label, same_protocol
from ..papers import paper_results, preset
from ..runs import RunStore
from ..train import TrainConfig

__all__ = ["notebook_configs", "esam_grid_configs", "throughput_settings", "learning_curve", "accuracy_table",
           "throughput_rows", "throughput_table", "summary_points", "esam_study", "format_esam_study", "protocol_runs", "speed_comparison",
           "takeaway_numbers", "findings", "REFERENCE_COLUMNS"]


# ------------------------------------------------------------------------------------------------ scales
def _quick_settings(dataset: str) -> dict[str, Any]:
    """small_cnn at quick/smoke scale; the digits fallback gets no augmentation (flipped digits are other digits)."""
    if dataset == "digits":
        return dict(augment=False, max_train_samples=None, max_test_samples=None)
    return dict(augment=True, max_train_samples=1500, max_test_samples=1000)


def _paper_configs(dataset: str) -> dict[str, TrainConfig]:
    """Paper scale: SAMSON's protocol (Table 1 on CIFAR-10, Table 2 on CIFAR-100: ResNet-34, 200 epochs, step
    schedule) for all six methods, ESAM included, so every comparison (accuracy, % of SAM, the ESAM grid) is
    between runs of one model and one protocol. ESAM is SAM of that protocol plus SWP/SDS (beta 0.6, gamma 0.5,
    ESAM Sec. 3.1). ESAM's own protocol (ResNet-18, cosine) stays available as the ``esam-table1-*`` presets with
    their own SGD and SAM references; the paper columns of the tables cite both papers' numbers.
    """
    table = "table2" if dataset == "cifar100" else "table1"
    group = preset(f"samson-{table}-resnet34-{'cifar100' if dataset == 'cifar100' else 'cifar10'}")
    if dataset == "digits":  # the offline stand-in: same protocol, no flips (a flipped digit is another digit)
        group = tuple(replace(c, dataset="digits", augment=False) for c in group)
    out = {c.label: c for c in group}
    out["ESAM"] = replace(out["SAM"], method="esam", beta=ESAM_BETA, gamma=ESAM_GAMMA)
    return out


def notebook_configs(scale: str = "quick", dataset: str | None = None) -> dict[str, TrainConfig]:
    """Notebook 04's six runs (SGD, SAM, ASAM, SAMSON_2, SAMSON_inf, ESAM) at ``scale`` on ``dataset``, keyed by label.

    ``dataset=None``: CIFAR-10 at paper scale, else ``available_dataset()`` (CIFAR-10 when its files are there, else
    the digits fallback). smoke: small_cnn, 256/128 images, 2 epochs (seconds). quick: small_cnn, CIFAR subset of
    1500/1000 images (all digits), 6 epochs, cosine schedule, batch 64. paper: one protocol for all six runs, see
    :func:`_paper_configs` (SAMSON Table 1/2, ResNet-34; ESAM run on the same protocol).
    """
    check_scale(scale)
    if dataset is not None:
        check_choice("dataset", dataset, IMAGE_DATASETS)
    if scale == "paper":
        return _paper_configs("cifar10" if dataset is None else dataset)
    dataset = available_dataset("cifar10") if dataset is None else dataset
    common = dict(model="small_cnn", dataset=dataset, base="sgd", lr=0.1, momentum=0.9, weight_decay=5e-4,
                  batch_size=64, schedule="cosine", seed=0, **_quick_settings(dataset))
    if scale == "smoke":
        common.update(epochs=2, max_train_samples=256, max_test_samples=128)
    else:
        common.update(epochs=6)
    methods = [dict(method="base"), dict(method="sam"), dict(method="asam"), dict(method="samson", p=2.0),
               dict(method="samson", p=math.inf), dict(method="esam")]
    configs = [TrainConfig(**common, **m) for m in methods]
    return {c.label: c for c in configs}


def throughput_settings(scale: str = "quick") -> dict[str, int]:
    """Sizes for :func:`samlab.train.measure_throughput` per scale (steps per round, warm-up steps, rounds)."""
    check_scale(scale)
    # Enough rounds for a spread: a difference counts only when it exceeds the min-max range over rounds.
    return {"smoke": dict(steps=2, warmup=1, rounds=2), "quick": dict(steps=4, warmup=2, rounds=5),
            "paper": dict(steps=30, warmup=5, rounds=5)}[scale]


def esam_grid_configs(scale: str = "quick", dataset: str | None = None) -> dict[str, list[TrainConfig]]:
    """ESAM Fig. 3's parameter study: ``{"SWP": [beta grid, gamma = 1], "SDS": [gamma grid, beta = 1]}``.

    Built on notebook 04's ESAM run of the same scale and dataset, so the grid, its SAM end point (1.0 on both
    curves, see :func:`esam_study`) and the reference marks share one protocol. Paper grid: 0.3 to 0.9 in steps of
    0.1 (ESAM Fig. 3's values); quick: 0.3 and 0.6; smoke: 0.5 only.
    """
    check_scale(scale)
    base = notebook_configs(scale, dataset)["ESAM"]
    if scale == "paper":
        grid = [round(0.3 + 0.1 * i, 1) for i in range(7)]
    else:
        grid = [0.5] if scale == "smoke" else [0.3, 0.6]
    return {"SWP": [replace(base, beta=b, gamma=1.0) for b in grid],
            "SDS": [replace(base, beta=1.0, gamma=g) for g in grid]}


REFERENCE_COLUMNS = {
    "cifar10": (("SAMSON paper, Table 1", "resnet34"), ("ESAM paper (Du et al. 2022), Table 1", "resnet18")),
    "cifar100": (("SAMSON paper, Table 2", "resnet34"), ("ESAM paper (Du et al. 2022), Table 1", "resnet18")),
}


def _short_source(source: str, model: str, dataset: str) -> str:
    name = source.split(",")[0].replace(" (Du et al. 2022)", "").replace(" paper", "")
    table = source.split(",")[-1].strip().replace("Table ", "T")
    return f"paper: {name} {table}, {model}, {dataset.upper().replace('CIFAR', 'CIFAR-')}"


def _get(config: Any, name: str, default: Any = None) -> Any:
    """A field of a config, or of the dict :meth:`samlab.runs.RunStore.list_runs` keeps for a kind it cannot resolve."""
    value = config.get(name, default) if isinstance(config, dict) else getattr(config, name, default)
    return default if value is None else value


def _finished(results: dict[str, Any]) -> dict[str, Any]:
    """The runs a table can show: finished, with a test accuracy in their summary (other kinds are left out)."""
    return {k: r for k, r in results.items() if getattr(r, "summary", None) and "test_acc" in r.summary}


def protocol_runs(config: TrainConfig, store: RunStore | None = None) -> list[Any]:
    """Every finished run in ``store`` (default: the results store) that shares ``config``'s protocol
    (:func:`samlab.methods.same_protocol`): what notebook 04's explorer chooses from."""
    store = RunStore() if store is None else store
    return [r for r in store.list_runs("TrainConfig") if r.finished and same_protocol(r.config, config)]


def learning_curve(result: Any) -> dict[str, Any]:
    """Plain data of one run for :func:`samlab.plots.plot_learning_curves`: label, colour key, per-epoch accuracies."""
    cfg = result.config
    return {"label": run_label(cfg), "key": method_key(cfg), "epoch": result.column("epoch"),
            "train_acc": result.column("train_acc"), "test_acc": result.column("test_acc")}


def accuracy_table(results: dict[str, Any], *, paper_dataset: str = "cifar10") -> Any:
    """Final train/test accuracy (%), the train-test gap and best test accuracy per run, next to the papers' numbers.

    Train accuracy is the final weights on the training set in eval mode (``train_eval_acc``), like the test's.

    ``results``: label -> finished :class:`~samlab.runs.RunResult` (a run without a test accuracy, e.g. of another
    kind, is left out; a config kept as a dict is read like a config). The paper columns (SAMSON Table 1/2 with
    ResNet-34, ESAM Table 1 with ResNet-18, on ``paper_dataset``) are the papers' numbers, not ours.
    """
    import pandas as pd

    rows = {}
    for label, r in _finished(results).items():
        s = r.summary
        train_acc = s.get("train_eval_acc", s.get("train_acc", math.nan))
        row = {"train acc %": 100 * train_acc, "test acc %": 100 * s["test_acc"],
               "gap (train - test)": 100 * (train_acc - s["test_acc"]),
               "best test acc %": 100 * s.get("best_test_acc", s["test_acc"])}
        for source, model in REFERENCE_COLUMNS[paper_dataset]:
            hit = paper_results(source=source, model=model, dataset=paper_dataset, method=method_name(r.config))
            cell = "-"
            if hit:
                cell = f"{hit[0].acc:.2f}" + (f" ± {hit[0].std:.2f}" if hit[0].std is not None else "")
            row[_short_source(source, model, paper_dataset)] = cell
        rows[label] = row
    return pd.DataFrame.from_dict(rows, orient="index").round(2)


def _rounds(r: Any, speeds: Any) -> list[float] | None:
    """The per-round images/s of ``r`` when ``speeds`` kept them (:class:`samlab.train.Speeds`), else None."""
    try:
        return list(speeds.rounds[r.config])
    except (AttributeError, KeyError, TypeError):
        return None


def _speed(r: Any, speeds: Any) -> float:
    """``speeds[config]`` when measured, else the run's own median images/s over epochs (dict configs too)."""
    if speeds is not None:
        try:
            return speeds[r.config]
        except (KeyError, TypeError):  # not measured, or an unhashable dict config
            pass
    return r.summary["images_per_s"]


def throughput_rows(results: dict[str, Any], *, speeds: Any = None, reference: str = "SAM",
                    paper_dataset: str = "cifar10") -> list[dict[str, Any]]:
    """Per run: label, colour key, images/s, ratio to ``reference`` with its spread, the paper's images/s and ratio.

    Our images/s: ``speeds[config]`` (from :func:`samlab.train.measure_throughput`, the median over interleaved
    rounds) or, without it, the run's median over epochs of its training loop. With per-round values (a
    :class:`samlab.train.Speeds`) each row also gives ``images_per_s_min/max`` and the per-round ratio to the
    reference (``ratio`` its median, ``ratio_min``/``ratio_max`` its range), ``comparison``: the ratio paired by
    round with its interval (:func:`speed_comparison`; None for the reference) and ``clear``: whether that
    interval excludes a ratio of 1 (None for the reference itself: it is not compared with itself); else these are
    None. The paper's numbers
    are ResNet-18 on the authors' GPUs: compare the ratios, not the absolute numbers.
    """
    results = _finished(results)
    if reference not in results:
        raise ValueError(f"reference={reference!r} is not one of the runs {list(results)}")
    ref = results[reference]
    ref_ips, ref_rounds = _speed(ref, speeds), _rounds(ref, speeds)
    paper = {r.method: r.images_per_s for r in paper_results(source="ESAM", model="resnet18", dataset=paper_dataset)}
    paper_ref = paper.get(method_name(ref.config))
    rows = []
    for label, r in results.items():
        ips, rounds = _speed(r, speeds), _rounds(r, speeds)
        p = paper.get(method_name(r.config))
        row = {"name": label, "label": run_label(r.config), "key": method_key(r.config), "images_per_s": ips,
               "ratio": ips / ref_ips, "images_per_s_min": None, "images_per_s_max": None,
               "ratio_min": None, "ratio_max": None, "rounds": 1, "clear": None, "comparison": None, "paper_images_per_s": p,
               "paper_ratio": p / paper_ref if p is not None and paper_ref else None}
        if rounds and ref_rounds and len(rounds) == len(ref_rounds):
            ratios = sorted(a / b for a, b in zip(rounds, ref_rounds))
            mid = len(ratios) // 2
            median = ratios[mid] if len(ratios) % 2 else (ratios[mid - 1] + ratios[mid]) / 2
            comp = None if label == reference else speed_comparison(rounds, ref_rounds)
            row.update(images_per_s_min=min(rounds), images_per_s_max=max(rounds), ratio=median,
                       ratio_min=ratios[0], ratio_max=ratios[-1], rounds=len(rounds), comparison=comp,
                       clear=None if label == reference else (comp is not None and comp.verdict != "unresolved"))
        rows.append(row)
    return rows


def throughput_table(results: dict[str, Any], *, speeds: Any = None, reference: str = "SAM",
                     paper_dataset: str = "cifar10") -> Any:
    """:func:`throughput_rows` as a table: images/s (min-max over rounds) and % of ``reference`` with its range over
    rounds (ESAM Table 1's "(140.3%)"), ours and the paper's. "beyond spread" says whether a difference to
    ``reference`` is resolved by its interval paired over rounds (:func:`speed_comparison`; only those are worth
    stating)."""
    import pandas as pd

    def span(lo: Any, hi: Any, scale: float = 1.0, digits: int = 0) -> str:
        return "-" if lo is None else f"{round(scale * lo, digits):g}-{round(scale * hi, digits):g}"

    rows = throughput_rows(results, speeds=speeds, reference=reference, paper_dataset=paper_dataset)
    return pd.DataFrame.from_dict({r["name"]: {
        "images/s": round(r["images_per_s"]), "images/s range": span(r["images_per_s_min"], r["images_per_s_max"]),
        f"% of {reference}": round(100 * r["ratio"], 1),
        f"% of {reference} range": span(r["ratio_min"], r["ratio_max"], 100, 1),
        "beyond spread": ("-" if r["clear"] is None or r["name"] == reference else ("yes" if r["clear"] else "no")),
        "paper images/s (ESAM T1, ResNet-18, GPU)": r["paper_images_per_s"] if r["paper_images_per_s"] else "-",
        f"paper % of {reference}": round(100 * r["paper_ratio"], 1) if r["paper_ratio"] else "-"}
        for r in rows}, orient="index")


def summary_points(results: dict[str, Any], labels: Sequence[str] = ("SGD", "SAM", "ESAM"), *,
                   speeds: Any = None) -> list[dict[str, Any]]:
    """Final test accuracy and images/s of the named runs, as reference marks for :func:`samlab.plots.plot_esam_study`."""
    results = _finished(results)
    return [{"label": run_label(results[k].config), "key": method_key(results[k].config),
             "acc": results[k].summary["test_acc"], "images_per_s": _speed(results[k], speeds)}
            for k in labels if k in results]


def esam_study(grid: dict[str, Sequence[Any]], *, speeds: Any = None,
               sam: Any = None) -> dict[str, dict[str, list[float]]]:
    """ESAM Fig. 3's data from stored runs: per study ("SWP", "SDS") the swept fraction, test accuracy and images/s.

    ``sam``: the SAM run of the same protocol, added to both curves as the end point beta = 1 (gamma = 1).
    """
    out = {}
    for name, results in grid.items():
        results = [*results, sam] if sam is not None else list(results)
        results = [r for r in results if getattr(r, "summary", None) and "test_acc" in r.summary]
        attr = "beta" if name == "SWP" else "gamma"
        out[name] = {"x": [float(_get(r.config, attr, 1.0)) if _get(r.config, "method") == "esam" else 1.0
                           for r in results],
                     "acc": [r.summary["test_acc"] for r in results],
                     "images_per_s": [_speed(r, speeds) for r in results],
                     "xlabel": "β (SWP: fraction of tensors perturbed)" if attr == "beta"
                     else "γ (SDS: fraction of samples kept)"}
    return out


def format_esam_study(study: dict[str, dict[str, list[float]]]) -> str:
    """One line per study of :func:`esam_study`: each swept fraction with its test accuracy and images/s."""
    return "\n".join(name + " " + "  ".join(f"{x:g}: {100 * a:.1f}% {ips:.0f} img/s"
                                            for x, a, ips in zip(st["x"], st["acc"], st["images_per_s"]))
                     for name, st in study.items())


# ------------------------------------------------------------------------------------------------ takeaways
def speed_comparison(rounds: Sequence[float], reference_rounds: Sequence[float]) -> Comparison | None:
    """Images/s of one run over the ``reference``'s, minus 1, from interleaved timing rounds (``None`` with fewer
    than 2 rounds): the rounds are paired (round k timed every run in turn, under the same load), so the per-round
    log ratio gets a t-interval over rounds (:func:`samlab.evidence.paired_difference`); the estimate is the
    geometric mean ratio minus 1 and the interval its image (``+0.40``: 40 % faster). ``n`` counts rounds."""
    a, b = np.asarray(rounds, dtype=float), np.asarray(reference_rounds, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"rounds and reference_rounds must be matched; got {a.shape} and {b.shape}")
    if a.size < 2:
        return None
    if (a <= 0).any() or (b <= 0).any():
        raise ValueError("images/s must be positive")
    c = paired_difference(np.log(a), np.log(b))
    return Comparison(math.expm1(c.difference), math.expm1(c.low), math.expm1(c.high), c.p_value, c.effect_size,
                      c.n, True, "paired t over interleaved timing rounds (log ratio)", c.level)


def _speed_line(row: dict[str, Any], reference: str) -> str:
    if row["name"] == reference:
        return "the reference"
    c = row.get("comparison")
    if c is None:
        return "no per-round timings: no interval, no verdict"
    say = {"supported": f"faster than {reference}", "contradicted": f"slower than {reference}",
           "unresolved": f"not resolved from {reference}"}[c.verdict]
    return f"{say} ({100 * c.difference:+.0f} %, 95 % interval {100 * c.low:+.0f} to {100 * c.high:+.0f} %, " \
           f"{c.n} rounds)"


def takeaway_numbers(results: dict[str, Any], study: dict[str, dict[str, list[float]]], *, speeds: Any = None,
                     paper_dataset: str = "cifar10") -> list[str]:
    """Notebook 04's takeaways as lines: each test accuracy and its difference to SGD (one run per method: no
    interval over seeds, so no verdict), the train-test gaps, each ESAM fraction against SAM, each run's speed as
    % of SAM's with its paired interval over timing rounds (:func:`speed_comparison`), and the papers'
    differences to SGD."""
    n_test = results["SGD"].summary["data"]["n_test"]
    acc = {name: 100 * r.summary["test_acc"] for name, r in results.items()}
    seeds = {r.config.seed for r in results.values()}
    lines = [f"test accuracy on {n_test} test images, {len(seeds)} seed(s); one image = {100 / n_test:.2f} points"
             + ("; one run per method: no interval over seeds, so none of these differences is a finding"
                if len(seeds) < 2 else "")]
    for name in acc:
        lines.append(f"  {name:<11} {acc[name]:6.2f}" + ("" if name == "SGD" else
                                                         f"   minus SGD {acc[name] - acc['SGD']:+.2f} points"))
    gaps = accuracy_table(results, paper_dataset=paper_dataset)["gap (train - test)"]
    lines.append(f"train-test gap: {gaps.min():.2f} to {gaps.max():.2f} points (SGD {gaps['SGD']:.2f})")
    for name, st in study.items():
        parts = [f"{x:g}: {100 * a - acc['SAM']:+.2f}" for x, a in zip(st["x"], st["acc"]) if x < 1]
        lines.append(f"ESAM {name} test accuracy minus SAM's, per {st['xlabel'].split()[0]}: {', '.join(parts)} points "
                     "(one run each: no interval)")
    lines.append("speed, % of SAM's images/s (median over rounds):")
    for row in throughput_rows(results, speeds=speeds, paper_dataset=paper_dataset):
        paper = row.get("paper_ratio")
        lines.append(f"  {row['name']:<11} {100 * row['ratio']:5.0f} %  {_speed_line(row, 'SAM')}"
                     + (f"; paper {100 * paper:.0f} %" if paper else ""))
    lines.append(f"the papers' accuracy differences to SGD on {paper_dataset} (mean over their runs):")
    for source, model in REFERENCE_COLUMNS[paper_dataset]:
        rows = {r.method: r.acc for r in paper_results(source=source, model=model, dataset=paper_dataset)}
        if "SGD" in rows:
            lines.append(f"  {source}, {model}: "
                         + ", ".join(f"{m} {a - rows['SGD']:+.2f}" for m, a in rows.items() if m != "SGD"))
    return lines


def findings(results: dict[str, Any], *, speeds: Any = None, scale: str = "quick",
             seed_runs: dict[str, Sequence[Any]] | None = None) -> list[Any]:
    """Notebook 04's ledger rows: ESAM's speed over SAM's (paired by timing round) and ESAM's accuracy minus SAM's
    (paired by seed when ``seed_runs`` gives several seeds of each, ``{"ESAM": [...], "SAM": [...]}``; with one
    seed the row says so and stays unresolved, the seeds needed unknown), Holm-adjusted together."""
    rows = {r["name"]: r for r in throughput_rows(results, speeds=speeds)}
    out = []
    c = rows["ESAM"].get("comparison") if "ESAM" in rows else None
    if c is not None:
        out.append(ledger.finding("esam_speed", c, subject="ESAM images/s over SAM's - 1", scale=scale,
                                  units="% faster", note="n and the seeds to resolve count interleaved timing rounds, not seeds"))
    elif "ESAM" in rows:
        out.append(ledger.exact_finding("esam_speed", subject="ESAM images/s over SAM's", scale=scale,
                                        verdict="unresolved", estimate=100 * (rows["ESAM"]["ratio"] - 1),
                                        units="% faster", method="one timing: no interval",
                                        note="no per-round timings stored: no interval, no verdict"))
    esam, sam = (list((seed_runs or {}).get(k, ())) for k in ("ESAM", "SAM"))
    if esam and sam:
        by = lambda runs: {r.config.seed: 100 * r.summary["test_acc"] for r in runs}  # noqa: E731
        e, s = by(esam), by(sam)
        shared = sorted(set(e) & set(s))
        if len(shared) >= 2:
            comp = paired_difference([e[k] for k in shared], [s[k] for k in shared])
            out.append(ledger.finding("esam_accuracy", comp, subject="ESAM - SAM test accuracy", scale=scale,
                                      factor=1.0))
            return ledger.adjust(out)
    if "ESAM" in results and "SAM" in results:
        d = 100 * (results["ESAM"].summary["test_acc"] - results["SAM"].summary["test_acc"])
        out.append(ledger.exact_finding("esam_accuracy", subject="ESAM - SAM test accuracy", scale=scale,
                                        verdict="unresolved", estimate=d, units="points",
                                        method="one seed: no interval over seeds",
                                        note="n = 1 seed: no verdict; seeds needed unknown (no seed-to-seed "
                                             "spread measured)"))
    return ledger.adjust(out)
