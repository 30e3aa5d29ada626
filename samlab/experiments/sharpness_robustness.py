"""Notebook 06's study (SAMSON sec. 6.3, appendix C, Figs. 3, 4, 7, 8, 9): sharpness against robustness.

For every stored run of notebooks 04 and 05 (the population of :func:`population`), one sharpness measure (SAMSON's
m-sharpness with p = 2 or inf, SAM's, ASAM's, Keskar et al.'s, and samlab's ASAM on the weights only and noise
curvature; :data:`MEASURES`) is set against the robustness gap, test accuracy at sigma_c = 0 (by default after AdaBS,
as the noisy end: :func:`study`) minus at sigma_c = 0.4, with its std over noise draws
(:func:`samlab.noise.robustness_gap`). The paper's claims become ledger findings in
:mod:`samlab.experiments.sharpness_claims`.
The paper reports a "visual correlation"; :func:`samlab.experiments.correlation.correlation` gives numbers:
Spearman's rho, Kendall's tau and Pearson's r with p-values (scipy.stats) and percentile bootstrap confidence
intervals (seeded, resampling runs), per training configuration (plain, + noise, + clipping) and overall
(:func:`~samlab.experiments.correlation.correlation_table`). Everything is computed once per run and kept in the
results store in that run's folder (:func:`samlab.train.load.measure_run`).
"""
from __future__ import annotations

import math
import time
from typing import Any, Mapping, Sequence

from ..checks import check_choice, check_int, check_number, check_scale
from ..methods import format_p, method_color, method_key, method_name, run_label
from ..noise import robustness_gap
from ..runs import RunStore
from ..noise import CalibratedCleanSpec
from ..sharpness import KeskarSpec, LandscapeSpec, MSharpnessSpec, NoiseCurvatureSpec, PerturbationShareSpec
from ..train.load import measure_run
from . import robustness
from .cifar import notebook_configs
from .correlation import correlation_table
from .seeds import Setting, seed_count, setting_of

__all__ = ["MEASURES", "PAPER_MEASURES", "SMOKE_RUNS", "calibrated_cleans", "asam_shares", "population", "metric_sizes", "measure_spec", "axis_label",
           "sharpness_values", "stored_sharpness_values", "all_sharpness", "metric_rows", "metric_table", "landscape_title",
           "landscape_spec", "landscapes", "study", "GAPS", "landscape_study", "LANDSCAPE_METHODS", "landscape_runs", "rim_rise", "rim_readings",
           "data_title", "figure_labels", "correlation_tables"]

#: The measures of the paper's figures: what they are, their neighbourhood, and the figure.
MEASURES: dict[str, dict[str, Any]] = {
    "samson_2": dict(kind="m", method="samson", rho=0.5, p=2.0, eta=0.0, figure="Fig. 3",
                     label="SAMSON's m-sharpness (p = 2)"),
    "samson_inf": dict(kind="m", method="samson", rho=0.5, p=math.inf, eta=0.0, figure="Fig. 4",
                       label="SAMSON's m-sharpness (p = ∞)"),
    "sam": dict(kind="m", method="sam", rho=0.05, p=2.0, eta=0.0, figure="Fig. 7", label="SAM's m-sharpness"),
    "asam": dict(kind="m", method="asam", rho=0.5, p=2.0, eta=0.0, figure="Fig. 8", label="ASAM's m-sharpness"),
    "keskar": dict(kind="keskar", figure="Fig. 9", label="Keskar et al.'s sharpness"),
    "asam_w": dict(kind="m", method="asam", rho=0.5, p=2.0, eta=0.0, adaptive="weights_only", figure="samlab",
                   label="ASAM's m-sharpness, weights only"),
    "curvature": dict(kind="curvature", figure="samlab", label="noise curvature tr(D_W H D_W)"),
}
#: The paper's measures (its figures); the others are samlab's additions beside them.
PAPER_MEASURES = ("samson_2", "samson_inf", "sam", "asam", "keskar")
#: Notebook 04's runs kept at smoke scale.
SMOKE_RUNS = ("SGD", "SAM", "SAMSON_2")


def population(scale: str = "quick", dataset: str | None = None) -> dict[Setting, Any]:
    """Notebook 04's runs plus notebook 05's population (:func:`samlab.experiments.robustness.population`), by
    :class:`~samlab.experiments.seeds.Setting`.

    A config both notebooks train appears once (under notebook 05's setting). smoke keeps notebook 04's SGD, SAM and
    SAMSON_2 only (plus notebook 05's smoke runs): every code path, few runs to train in the tests.

    ``dataset="mnist1d"`` (smoke and quick): notebook 05's MNIST-1D population alone, every training seed a point
    of its own (at quick scale the five methods plain, with clipping and with additive noise; notebook 04 has no
    MNIST-1D runs, notebook 04b's are the authors' CNN without BatchNorm)."""
    check_scale(scale)
    if dataset == "mnist1d":
        return dict(robustness.population(scale, dataset))
    out = dict(notebook_configs(scale, dataset))
    if scale == "smoke":
        out = {k: out[k] for k in SMOKE_RUNS}
    extra = robustness.population(scale, dataset)
    settings = {cfg: setting for setting, cfg in extra.items()}
    pop = {settings.get(c, setting_of(c, seed=False)): c for c in out.values()}   # notebook 04's order
    pop.update({k: c for k, c in extra.items() if k not in pop})
    return pop


def metric_sizes(scale: str = "quick") -> dict[str, dict[str, Any]]:
    """Subset sizes per scale: m-sharpness samples and m, Keskar samples and L-BFGS-B iterations, landscape grid.

    quick (2 CPU cores, about 10 minutes for the whole population): m-sharpness on 1024 training samples with
    m = 128 (the paper's CIFAR m), Keskar on 500 samples with 5 iterations, landscapes 11 x 11 on 500 samples,
    noise curvature with 16 Hutchinson probes on 500 samples (about 0.45 s per MNIST-1D run on one core).
    smoke: tiny everything, and Keskar in a random 8-D subspace (the full-space box costs seconds per run)."""
    check_scale(scale)
    return {"smoke": dict(m_samples=32, m=16, keskar_samples=16, keskar_maxiter=1, keskar_subspace=8, land_samples=32,
                          resolution=5, resolution_1d=5, span=1.0, adv_span=50.0, probes=2, curvature_samples=32),
            "quick": dict(m_samples=1024, m=128, keskar_samples=500, keskar_maxiter=5, keskar_subspace=None,
                          land_samples=500, resolution=11, resolution_1d=21, span=1.0, adv_span=50.0, probes=16,
                          curvature_samples=500),
            "paper": dict(m_samples=None, m=128, keskar_samples=None, keskar_maxiter=10, keskar_subspace=None,
                          land_samples=1000, resolution=51, resolution_1d=101, span=1.0, adv_span=50.0, probes=64,
                          curvature_samples=None)}[scale]


def measure_spec(measure: str, scale: str = "quick", *, rho: float | None = None, p: float | None = None,
                 m: int | None = None, n_train: int | None = None) -> MSharpnessSpec | KeskarSpec | NoiseCurvatureSpec:
    """The spec (:class:`samlab.sharpness.MSharpnessSpec` or ``KeskarSpec``) of ``measure`` at ``scale``.

    ``rho``/``p``/``m`` override the paper's neighbourhood and the scale's m (m-sharpness only); ``n_train``, the
    run's number of training samples, bounds m (ValueError naming m when m <= 0 or larger than the data)."""
    check_choice("measure", measure, tuple(MEASURES))
    sizes, info = metric_sizes(scale), MEASURES[measure]
    if info["kind"] == "keskar":
        return KeskarSpec(maxiter=sizes["keskar_maxiter"], max_samples=sizes["keskar_samples"],
                          subspace_dim=sizes["keskar_subspace"])
    if info["kind"] == "curvature":
        return NoiseCurvatureSpec(probes=sizes["probes"], max_samples=sizes["curvature_samples"])
    m = sizes["m"] if m is None else m
    if isinstance(m, bool) or not isinstance(m, int) or m <= 0:
        raise ValueError(f"m={m!r} must be a positive integer (the m-sharpness batch size)")
    samples = sizes["m_samples"] if n_train is None or sizes["m_samples"] is None else min(sizes["m_samples"], n_train)
    if n_train is not None and m > (samples or n_train):
        raise ValueError(f"m={m} is larger than the {samples or n_train} training samples the measure runs on")
    p = info["p"] if p is None else check_number("p", p, low=1.0, allow_inf=True)
    if info["method"] != "samson":
        p = 2.0
    rho = info["rho"] if rho is None else check_number("rho", rho, low=0.0, low_open=True)
    return MSharpnessSpec(method=info["method"], rho=rho, p=p, eta=info["eta"], m=m,
                          max_samples=sizes["m_samples"], adaptive=info.get("adaptive"))


def axis_label(measure: str, *, rho: float | None = None, p: float | None = None, m: int | None = None,
               scale: str = "quick") -> str:
    """The x-axis label of ``measure``: what it is, its neighbourhood and its unit."""
    check_choice("measure", measure, tuple(MEASURES))
    info = MEASURES[measure]
    if info["kind"] == "keskar":
        s = metric_sizes(scale)
        sub = f", {s['keskar_subspace']}-D subspace" if s["keskar_subspace"] else ""
        return f"Keskar sharpness (% loss rise)\nε = 1e-3, {s['keskar_maxiter']} L-BFGS-B iterations{sub}"
    if info["kind"] == "curvature":
        s = metric_sizes(scale)
        return (f"noise curvature tr(D_W H D_W) (nats)\n{s['probes']} Hutchinson probes, "
                f"{s['curvature_samples'] or 'all'} samples")
    rho = info["rho"] if rho is None else rho
    p = info["p"] if p is None or info["method"] != "samson" else p
    m = metric_sizes(scale)["m"] if m is None else m
    name = {"samson": "SAMSON", "sam": "SAM", "asam": "ASAM"}[info["method"]]
    pp = f", p = {format_p(p)}" if info["method"] == "samson" else (", η = 0" if info["method"] == "asam" else "")
    pp += ", weights only" if info.get("adaptive") == "weights_only" else ""
    return f"{name} m-sharpness (loss rise, nats)\nρ = {rho:g}{pp}, m = {m}"


def data_title(results: Sequence[Any], scale: str) -> str:
    """What the figures were computed on, read from the stored summaries: model, data set (the offline stand-ins
    named as such, never "CIFAR"), training/test samples, scale."""
    results = [r for r in results if getattr(r, "summary", None)]
    if not results:
        raise ValueError("results holds no finished run to name the data of")
    r = results[0]
    d = r.summary.get("data", {})
    name = d.get("name", getattr(r.config, "dataset", "?"))
    seeds = seed_count(results)
    return (f"{r.config.model} on {robustness.DATA_NAMES.get(name, name)}, {d.get('n_train', '?')} training / "
            f"{d.get('n_test', '?')} test samples, {scale} scale" + (f", {seeds} training seeds" if seeds > 1 else ""))


def _specs(configs: Mapping[Setting, Any], measure: str, scale: str, rho: float | None, p: float | None,
           m: int | None) -> dict[Setting, Any]:
    """The spec of ``measure`` per run (m checked against the run's training samples when it is given)."""
    return {name: measure_spec(measure, scale, rho=rho, p=p, m=m,
                               n_train=cfg.max_train_samples if m is not None and cfg.max_train_samples else None)
            for name, cfg in configs.items()}


def sharpness_values(configs: Mapping[Setting, Any], measure: str, scale: str = "quick", *,
                     store: RunStore | None = None, rho: float | None = None, p: float | None = None,
                     m: int | None = None, progress: bool = False, loaded: dict | None = None) -> dict[Setting, dict]:
    """``measure`` of every run in ``configs`` (finished), from the store or computed and stored in the run's folder.
    ``loaded``: a dict the caller keeps (config -> :class:`samlab.train.LoadedRun`) so each run loads once."""
    store = store if store is not None else RunStore()
    loaded = loaded if loaded is not None else {}
    specs = _specs(configs, measure, scale, rho, p, m)
    return {name: measure_run(cfg, specs[name], store=store, progress=progress, loaded=loaded)
            for name, cfg in configs.items()}


def stored_sharpness_values(configs: Mapping[Setting, Any], measure: str, scale: str = "quick", *,
                            store: RunStore | None = None, rho: float | None = None, p: float | None = None,
                            m: int | None = None) -> tuple[dict[Setting, dict], list[Setting]]:
    """``(values in the store, settings without one)`` of ``measure``: never computes (the widget's Run button)."""
    store = store if store is not None else RunStore()
    specs = _specs(configs, measure, scale, rho, p, m)
    found = {name: store.stored_measure(cfg, specs[name]) for name, cfg in configs.items()}
    return {k: v for k, v in found.items() if v is not None}, [k for k, v in found.items() if v is None]


def all_sharpness(configs: Mapping[Setting, Any], scale: str = "quick", *, measures: Sequence[str] = tuple(MEASURES),
                  store: RunStore | None = None, progress: bool = False) -> dict[str, dict[Setting, dict]]:
    """measure -> setting -> result for every measure of ``measures`` and every finished run (each run loaded
    once); prints how many values were loaded from the store and how many computed."""
    store = store if store is not None else RunStore()
    finished = {k: c for k, c in configs.items() if store.status(c) == "finished"}
    if len(finished) < len(configs):
        print(f"{len(configs) - len(finished)} run(s) not finished, left out: "
              f"{', '.join(k.label for k in configs if k not in finished)}")
    loaded: dict = {}
    out, stored, start = {}, 0, time.perf_counter()
    for measure in measures:
        stored += len(stored_sharpness_values(finished, measure, scale, store=store)[0])
        out[measure] = sharpness_values(finished, measure, scale, store=store, loaded=loaded, progress=progress)
    computed = sum(len(v) for v in out.values()) - stored
    print(f"sharpness: loaded {stored} value(s) from {store.root}, computed {computed} "
          f"({time.perf_counter() - start:.1f} s)")
    return out


def metric_rows(configs: Mapping[Setting, Any], sharpness: Mapping[Setting, Mapping],
                curves: Mapping[Setting, Mapping], *, low: float = 0.0, high: float = 0.4,
                clean: Mapping[Setting, Mapping] | None = None) -> list[dict[str, Any]]:
    """One row per run with both a sharpness value and a noise curve: setting, name (its label), method key and
    name, training, sharpness, robustness gap (accuracy points at ``low`` minus at ``high``) and its std over draws.
    ``clean``: setting -> :func:`samlab.noise.calibrated_clean` result (:func:`calibrated_cleans`): the gap then
    starts from the AdaBS-calibrated clean accuracy (:func:`samlab.noise.robustness_gap`), also ``clean_acc``.

    ValueError naming ``low``/``high`` when a curve was not computed at that sigma_c."""
    rows = []
    for name, cfg in configs.items():
        if name not in sharpness or name not in curves or (clean is not None and name not in clean):
            continue
        s = sharpness[name]
        value = next(s[k] for k in ("m_sharpness", "sharpness", "trace") if k in s)
        gap, std = robustness_gap(curves[name], low, high, clean=None if clean is None else clean[name])
        rows.append({"setting": name, "name": name.label, "key": method_key(cfg), "method": method_name(cfg),
                     "training": name.training,
                     "sharpness": float(value), "gap": 100 * gap, "gap_std": 100 * std,
                     "clean_acc": 100 * (curves[name]["mean_acc"][list(curves[name]["sigmas"]).index(low)]
                                         if clean is None else clean[name]["accuracy"])})
    return rows


def figure_labels(scale: str = "quick", *, gap: str = "calibrated") -> dict[str, Any]:
    """``xlabels``, ``titles`` and the ``ylabel`` (which gap, :data:`GAPS`) of
    :func:`samlab.plots.plot_sharpness_robustness` for the paper's measures."""
    check_choice("gap", gap, GAPS)
    clean = "acc(σ_c = 0, AdaBS)" if gap == "calibrated" else "acc(σ_c = 0)"
    return {"xlabels": {m: axis_label(m, scale=scale) for m in MEASURES},
            "titles": {m: f"{info['figure']}: {info['label']}" for m, info in MEASURES.items()},
            "ylabel": f"robustness gap (points)\n{clean} − acc(σ_c = 0.4)"}


def correlation_tables(rows: Mapping[str, Sequence[Mapping[str, Any]]], *, n_boot: int = 2000,
                       seed: int = 0) -> tuple[dict[str, Any], Any]:
    """Per measure its :func:`~samlab.experiments.correlation.correlation_table` of ``rows`` (measure -> metric
    rows), and all of them in one DataFrame indexed by (measure label, configuration)."""
    import pandas as pd  # optional dependency (notebooks extra)

    tables = {m: correlation_table(r, n_boot=n_boot, seed=seed) for m, r in rows.items()}
    return tables, pd.concat({MEASURES[m]["label"]: t for m, t in tables.items()}, names=["measure"])


def metric_table(rows: Sequence[Mapping[str, Any]]) -> Any:
    """:func:`metric_rows` as a DataFrame indexed by run name."""
    import pandas as pd  # optional dependency (notebooks extra)

    cols = ["method", "training", "sharpness", "gap", "gap_std", "clean_acc"]
    df = pd.DataFrame([{k: r[k] for k in cols} for r in rows], index=[r["name"] for r in rows], columns=cols)
    return df.rename(columns={"gap": "robustness gap (points)", "gap_std": "gap std (points)",
                              "clean_acc": "clean acc %"})


# ------------------------------------------------------------------------------------------------ extras
GAPS = ("calibrated", "paper")


def study(configs: Mapping[Setting, Any], scale: str = "quick", *, store: RunStore | None = None,
          gap: str = "calibrated") -> dict[str, Any]:
    """Everything notebook 06 sets against each other, from the store or computed and stored: ``curves`` (notebook
    05's noise curves), ``clean`` (:func:`calibrated_cleans`), ``values`` (:func:`all_sharpness`), ``rows`` (measure
    -> :func:`metric_rows`, the gap per ``gap``: ``"calibrated"`` from the AdaBS-calibrated clean accuracy,
    ``"paper"`` from the accuracy at sigma_c = 0 as trained) and ``gap_name``."""
    check_choice("gap", gap, GAPS)
    noise_spec = robustness.noise_curve_spec(scale)
    curves = robustness.noise_curves(configs, noise_spec, store=store, progress=False)
    clean = calibrated_cleans(configs, noise_spec, store=store)
    values = all_sharpness(configs, scale, store=store)
    rows = {m: metric_rows(configs, values[m], curves, clean=clean if gap == "calibrated" else None) for m in values}
    name = "AdaBS-calibrated gap" if gap == "calibrated" else "gap (clean end as trained)"
    return {"curves": curves, "clean": clean, "values": values, "rows": rows, "gap_name": name}


def calibrated_cleans(configs: Mapping[Setting, Any], noise_spec: Any, *, store: RunStore | None = None) -> dict:
    """Per finished run, its AdaBS-calibrated clean accuracy (:class:`samlab.noise.CalibratedCleanSpec` with the
    noise curve's calibration samples and batch size), stored beside the curve."""
    spec = CalibratedCleanSpec(calib_samples=noise_spec.calib_samples, batch_size=noise_spec.batch_size)
    store = store if store is not None else RunStore()
    return {k: measure_run(c, spec, store=store, progress=False) for k, c in configs.items()
            if store.status(c) == "finished"}


def asam_shares(configs: Mapping[Setting, Any], scale: str = "quick", *, store: RunStore | None = None) -> dict:
    """Per finished run, where ASAM's m-sharpness perturbation (Fig. 8's neighbourhood, the scale's m and samples)
    puts its ``||eps||^2`` (:func:`samlab.sharpness.perturbation_shares`), stored in the run's folder."""
    sizes = metric_sizes(scale)
    spec = PerturbationShareSpec(method="asam", rho=MEASURES["asam"]["rho"], eta=0.0, m=sizes["m"],
                                 max_samples=sizes["m_samples"])
    store = store if store is not None else RunStore()
    return {k: measure_run(c, spec, store=store, progress=False) for k, c in configs.items()
            if store.status(c) == "finished"}


# ------------------------------------------------------------------------------------------------ landscapes
def landscape_spec(scale: str = "quick", *, dims: int = 2, seed: int = 0, kind: str = "random") -> LandscapeSpec:
    """The landscape of every run at ``scale``: ``kind="random"``: filter-normalised random directions drawn with
    ``seed`` (the same raw directions for every model of one architecture); ``"adversarial"`` (ESAM appendix A.5):
    the gradients of two halves of the samples times the learning rate, out to ``adv_span`` = 50 such steps (ESAM
    gives no span; at 1 step the slice is a plane tilted by the gradient, rising by about 0.001 nats on the quick
    MNIST-1D runs; at 50 steps the loss rises by 1-5 nats, enough to see the basin); the scale's grid and samples."""
    s = metric_sizes(scale)
    dims = check_int("dims", dims, low=1, high=2)
    return LandscapeSpec(kind=kind, dims=dims, span=s["span"] if kind == "random" else s["adv_span"], seed=seed,
                         resolution=s["resolution"] if dims == 2 else s["resolution_1d"],
                         max_samples=s["land_samples"], batch_size=500)


def landscapes(configs: Mapping[Setting, Any], scale: str = "quick", *, dims: int = 2, seed: int = 0,
               kind: str = "random", store: RunStore | None = None, progress: bool = False) -> dict[Setting, dict]:
    """The loss landscape of each finished run of ``configs`` (the same directions' seed for all), stored; prints
    the grid, the samples and the time taken."""
    spec, start = landscape_spec(scale, dims=dims, seed=seed, kind=kind), time.perf_counter()
    out = {name: measure_run(cfg, spec, store=store, progress=progress) for name, cfg in configs.items()}
    print(f"{len(out)} models, {dims}-D {kind} landscapes ({spec.resolution}{'^2' if dims == 2 else ''} points on "
          f"{spec.max_samples} training samples) in {time.perf_counter() - start:.1f} s")
    return out


#: The plain runs whose landscapes notebook 06 draws.
LANDSCAPE_METHODS = ("SGD", "SAM", "ASAM", "SAMSON_2")


def landscape_runs(configs: Mapping[Setting, Any]) -> dict[Setting, Any]:
    """The plain SGD, SAM, ASAM and SAMSON_2 runs of ``configs`` (of the first training seed), in that order."""
    first = min((k.seed for k in configs if k.seed is not None), default=None)
    return {Setting(m, "plain", first): configs[Setting(m, "plain", first)] for m in LANDSCAPE_METHODS
            if Setting(m, "plain", first) in configs}


def landscape_title(runs: Mapping[Setting, Any], results: Sequence[Any], kind: str, scale: str) -> str:
    """What a landscape figure draws: which runs (one training seed), which directions, on how many samples."""
    r = next(r for r in results if getattr(r, "summary", None))
    d = r.summary.get("data", {})
    name = d.get("name", getattr(r.config, "dataset", "?"))
    seed = next(iter(runs)).seed if runs else None
    spec = landscape_spec(scale, kind=kind)
    what = ("random filter-normalised directions" if kind == "random" else
            "adversarial directions (half-batch gradients, ESAM A.5)")
    return (f"{r.config.model} on {robustness.DATA_NAMES.get(name, name)}, plain runs of training seed {seed}; "
            f"{what}, loss on {spec.max_samples} training samples, {scale} scale")


def landscape_study(configs: Mapping[Setting, Any], results: Sequence[Any], scale: str = "quick", *, seed: int = 0,
                    store: RunStore | None = None) -> dict[str, Any]:
    """Notebook 06's landscapes of :func:`landscape_runs` (stored): ``land1`` (1-D random), ``land2`` (2-D random),
    ``adv2`` (2-D adversarial, ESAM A.5) as lists, with ``labels``, ``colors`` and ``titles`` (per kind, saying
    what is drawn) for :func:`samlab.plots.landscape.landscape_figures`; prints the rim rise of each 2-D one."""
    runs = landscape_runs(configs)
    land1 = landscapes(runs, scale, dims=1, seed=seed, store=store)
    land2 = landscapes(runs, scale, dims=2, seed=seed, store=store)
    adv2 = landscapes(runs, scale, dims=2, seed=seed, kind="adversarial", store=store)
    print("random directions:\n" + rim_readings(land2) + "\nadversarial directions:\n" + rim_readings(adv2))
    return {"land1": list(land1.values()), "land2": list(land2.values()), "adv2": list(adv2.values()),
            "labels": [run_label(c) for c in runs.values()], "colors": [method_color(c) for c in runs.values()],
            "titles": {k: landscape_title(runs, results, k, scale) for k in ("random", "adversarial")}}


def rim_readings(landscapes: Mapping[Setting, Mapping[str, Any]]) -> str:
    """One line per 2-D landscape: its centre loss, mean rim loss and the rise between them (:func:`rim_rise`)."""
    lines = []
    for setting, land in landscapes.items():
        r = rim_rise(land)
        lines.append(f"{setting.method:<11} centre loss {r['center']:.3f}, mean rim loss {r['rim']:.3f} "
                     f"(rise {r['rise']:+.3f}) at |alpha|, |beta| = {r['span']:g}")
    return "\n".join(lines)


def rim_rise(landscape: Mapping[str, Any]) -> dict[str, float]:
    """How flat a 2-D landscape's minimum is on its slice: the centre loss, the mean loss on the grid's rim
    (``|alpha|`` or ``|beta|`` = span) and the rise between them."""
    z = landscape["loss"]
    rim = [*z[0], *z[-1], *(row[0] for row in z[1:-1]), *(row[-1] for row in z[1:-1])]
    mean = sum(rim) / len(rim)
    return {"center": landscape["center_loss"], "rim": mean, "rise": mean - landscape["center_loss"],
            "span": landscape["span"]}
