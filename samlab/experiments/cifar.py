"""Notebook 04's study (CIFAR training): its configs per scale, the ESAM beta/gamma grid, and tables that put
stored runs next to the papers' numbers (:mod:`samlab.papers`).
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Sequence

from ..checks import check_scale
from ..methods import method_key, method_name, run_label
from ..papers import paper_results, preset
from ..train import TrainConfig, available_dataset

__all__ = ["notebook_configs", "esam_grid_configs", "throughput_settings", "learning_curve", "accuracy_table",
           "throughput_rows", "throughput_table", "summary_points", "esam_study", "REFERENCE_COLUMNS"]


# ------------------------------------------------------------------------------------------------ scales
def _quick_settings(dataset: str) -> dict[str, Any]:
    """small_cnn at quick/smoke scale; the digits fallback gets no augmentation (flipped digits are other digits)."""
    if dataset == "digits":
        return dict(augment=False, max_train_samples=None, max_test_samples=None)
    return dict(augment=True, max_train_samples=1500, max_test_samples=1000)


def notebook_configs(scale: str = "quick", dataset: str | None = None) -> dict[str, TrainConfig]:
    """Notebook 04's six runs (SGD, SAM, ASAM, SAMSON_2, SAMSON_inf, ESAM) at ``scale``, keyed by plain label.

    smoke: small_cnn, 256/128 images, 2 epochs (seconds). quick: small_cnn on the available data
    (``available_dataset()``: CIFAR-10 subset of 1500/1000 images, else the digits fallback), 6 epochs,
    cosine schedule, batch 64. paper: the papers' protocols: SAMSON Table 1 (ResNet-34, CIFAR-10,
    200 epochs, step schedule) for the five SAMSON-paper methods and ESAM Table 1 (ResNet-18) for ESAM.
    """
    check_scale(scale)
    if scale == "paper":
        group = preset("samson-table1-resnet34-cifar10")
        out = {c.label: c for c in group}
        out["ESAM"] = next(c for c in preset("esam-table1-resnet18-cifar10") if c.method == "esam")
        return out
    dataset = available_dataset("cifar10") if dataset is None else dataset
    common = dict(model="small_cnn", dataset=dataset, base="sgd", lr=0.1, momentum=0.9, weight_decay=5e-4,
                  batch_size=64, schedule="cosine", seed=0, **_quick_settings(dataset))
    if scale == "smoke":
        common.update(epochs=2, max_train_samples=256, max_test_samples=128)
    else:
        common.update(epochs=6)
    methods = [dict(method="sgd"), dict(method="sam"), dict(method="asam"), dict(method="samson", p=2.0),
               dict(method="samson", p=math.inf), dict(method="esam")]
    configs = [TrainConfig(**common, **m) for m in methods]
    return {c.label: c for c in configs}


def throughput_settings(scale: str = "quick") -> dict[str, int]:
    """Sizes for :func:`samlab.throughput.measure_throughput` per scale (steps per round, warm-up steps, rounds)."""
    check_scale(scale)
    return {"smoke": dict(steps=2, warmup=1, rounds=1), "quick": dict(steps=6, warmup=2, rounds=3),
            "paper": dict(steps=30, warmup=5, rounds=5)}[scale]


def esam_grid_configs(scale: str = "quick", dataset: str | None = None) -> dict[str, list[TrainConfig]]:
    """ESAM Fig. 3's parameter study: ``{"SWP": [beta grid, gamma = 1], "SDS": [gamma grid, beta = 1]}``.

    Paper grid: 0.3 to 0.9 in steps of 0.1 (ResNet-18, CIFAR-10, ESAM protocol); quick: 0.3 and 0.6 on notebook
    04's quick setting (SAM is the end point 1.0 of both curves, see :func:`esam_study`); smoke: 0.5 only.
    """
    check_scale(scale)
    if scale == "paper":
        base = next(c for c in preset("esam-table1-resnet18-cifar10") if c.method == "esam")
        grid = [round(0.3 + 0.1 * i, 1) for i in range(7)]
    else:
        base = notebook_configs(scale, dataset)["ESAM"]
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


def learning_curve(result: Any) -> dict[str, Any]:
    """Plain data of one run for :func:`samlab.plots.plot_learning_curves`: label, colour key, per-epoch accuracies."""

    cfg = result.config
    return {"label": run_label(cfg), "key": method_key(cfg), "epoch": result.column("epoch"),
            "train_acc": result.column("train_acc"), "test_acc": result.column("test_acc")}


def accuracy_table(results: dict[str, Any], *, paper_dataset: str = "cifar10") -> Any:
    """Final train/test accuracy (%), the train-test gap and best test accuracy per run, next to the papers' numbers.

    Train accuracy is the final weights on the training set in eval mode (``train_eval_acc``), like the test's.

    ``results``: label -> finished :class:`~samlab.runs.RunResult`. The paper columns (SAMSON Table 1/2 with
    ResNet-34, ESAM Table 1 with ResNet-18, on ``paper_dataset``) are the papers' numbers, not ours.
    """
    import pandas as pd


    rows = {}
    for label, r in results.items():
        s = r.summary
        train_acc = s.get("train_eval_acc", s["train_acc"])
        row = {"train acc %": 100 * train_acc, "test acc %": 100 * s["test_acc"],
               "gap (train - test)": 100 * (train_acc - s["test_acc"]), "best test acc %": 100 * s["best_test_acc"]}
        for source, model in REFERENCE_COLUMNS[paper_dataset]:
            hit = paper_results(source=source, model=model, dataset=paper_dataset, method=method_name(r.config))
            cell = "-"
            if hit:
                cell = f"{hit[0].acc:.2f}" + (f" ± {hit[0].std:.2f}" if hit[0].std is not None else "")
            row[_short_source(source, model, paper_dataset)] = cell
        rows[label] = row
    return pd.DataFrame.from_dict(rows, orient="index").round(2)


def _speed(r: Any, speeds: dict | None) -> float:
    return speeds[r.config] if speeds is not None else r.summary["images_per_s"]


def throughput_rows(results: dict[str, Any], *, speeds: dict | None = None, reference: str = "SAM",
                    paper_dataset: str = "cifar10") -> list[dict[str, Any]]:
    """Per run: label, colour key, images/s, ratio to ``reference`` and the paper's images/s and ratio (ESAM Table 1/3).

    Our images/s: ``speeds[config]`` (e.g. from :func:`samlab.throughput.measure_throughput`, measured interleaved) or,
    without ``speeds``, the run's median over epochs of its training loop. The paper's numbers are ResNet-18 on
    the authors' GPUs: compare the ratios, not the absolute numbers.
    """

    if reference not in results:
        raise ValueError(f"reference={reference!r} is not one of the runs {list(results)}")
    ref = _speed(results[reference], speeds)
    paper = {r.method: r.images_per_s for r in paper_results(source="ESAM", model="resnet18", dataset=paper_dataset)}
    paper_ref = paper.get(method_name(results[reference].config))
    rows = []
    for label, r in results.items():
        ips = _speed(r, speeds)
        p = paper.get(method_name(r.config))
        rows.append({"name": label, "label": run_label(r.config), "key": method_key(r.config), "images_per_s": ips,
                     "ratio": ips / ref, "paper_images_per_s": p,
                     "paper_ratio": p / paper_ref if p is not None and paper_ref else None})
    return rows


def throughput_table(results: dict[str, Any], *, speeds: dict | None = None, reference: str = "SAM",
                     paper_dataset: str = "cifar10") -> Any:
    """:func:`throughput_rows` as a table: images/s and % of ``reference`` (ESAM Table 1's "(140.3%)"), ours and the paper's."""
    import pandas as pd

    rows = throughput_rows(results, speeds=speeds, reference=reference, paper_dataset=paper_dataset)
    return pd.DataFrame.from_dict({r["name"]: {
        "images/s": round(r["images_per_s"]), f"% of {reference}": round(100 * r["ratio"], 1),
        "paper images/s (ESAM T1, ResNet-18, GPU)": r["paper_images_per_s"] if r["paper_images_per_s"] else "-",
        f"paper % of {reference}": round(100 * r["paper_ratio"], 1) if r["paper_ratio"] else "-"}
        for r in rows}, orient="index")


def summary_points(results: dict[str, Any], labels: Sequence[str] = ("SGD", "SAM", "ESAM"), *,
                   speeds: dict | None = None) -> list[dict[str, Any]]:
    """Final test accuracy and images/s of the named runs, as reference marks for :func:`samlab.plots.plot_esam_study`."""

    return [{"label": run_label(results[k].config), "key": method_key(results[k].config),
             "acc": results[k].summary["test_acc"], "images_per_s": _speed(results[k], speeds)}
            for k in labels if k in results]


def esam_study(grid: dict[str, Sequence[Any]], *, speeds: dict | None = None,
               sam: Any = None) -> dict[str, dict[str, list[float]]]:
    """ESAM Fig. 3's data from stored runs: per study ("SWP", "SDS") the swept fraction, test accuracy and images/s.

    ``sam``: the SAM run of the same protocol, added to both curves as the end point beta = 1 (gamma = 1).
    """
    out = {}
    for name, results in grid.items():
        results = [*results, sam] if sam is not None else list(results)
        attr = "beta" if name == "SWP" else "gamma"
        out[name] = {"x": [getattr(r.config, attr) if r.config.method == "esam" else 1.0 for r in results],
                     "acc": [r.summary["test_acc"] for r in results],
                     "images_per_s": [_speed(r, speeds) for r in results],
                     "xlabel": "β (SWP: fraction of tensors perturbed)" if attr == "beta"
                     else "γ (SDS: fraction of samples kept)"}
    return out
