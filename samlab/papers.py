"""The papers' protocols as named presets and the numbers they report, each citing its table.

Every setting the papers leave open is marked as our choice where it is made. ``preset(name)`` returns the
configs of one protocol; ``paper_results(...)`` the reported accuracies and speeds.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Iterable

from .methods import variant_fields
from .train import TrainConfig

__all__ = ["PRESETS", "preset", "preset_names", "PaperResult", "PAPER_RESULTS", "paper_results", "MNIST1D_PROTOCOL",
           "ROBUSTNESS_GRID",
           "RobustSetting", "ROBUSTNESS_SETTINGS", "robustness_settings", "robust_config",
           "NOISE_SIGMA_G", "NOISE_G_MAX"]


# ------------------------------------------------------------------------------------------------ presets
#: Hyper-parameters the SAMSON paper (Sec. 5) gives for CIFAR: 200 epochs, batch 128, lr 0.1 / 10 every 50
#: epochs. Momentum 0.9 and weight decay 5e-4 are not stated; they are the ASAM paper's CIFAR values,
#: whose default rho SAMSON adopts. rho: SAM 0.05 / ASAM and SAMSON 0.5 on CIFAR-10, 0.1 / 1.0 on CIFAR-100.
_SAMSON_PROTOCOL = dict(base="sgd", lr=0.1, momentum=0.9, weight_decay=5e-4, epochs=200, batch_size=128,
                        schedule="step", lr_step_every=50, lr_decay=0.1)
_SAMSON_RHO = {"cifar10": {"sam": 0.05, "asam": 0.5, "samson": 0.5},
               "cifar100": {"sam": 0.1, "asam": 1.0, "samson": 1.0}}
_SAMSON_MODELS = ("resnet34", "resnet50", "mobilenetv2", "vgg13_bn", "densenet40")
_SAMSON_METHODS = {"sgd": dict(method="base"), "sam": dict(method="sam"), "asam": dict(method="asam"),
                   "samson_2": dict(method="samson", p=2.0), "samson_inf": dict(method="samson", p=math.inf)}
#: ESAM Table 7 (CIFAR from scratch): 200 epochs, cosine, peak lr 0.05; weight decay 5e-4 for SGD, 1e-3 for
#: SAM/ESAM (the main text's "1e-4" contradicts the table; the table's per-method values are used); batch
#: and rho per model; beta/gamma from Sec. 3.1. Momentum 0.9 is not stated (standard).
_ESAM_MODELS = {"resnet18": dict(batch_size=128, rho=0.05, beta=0.6, gamma=0.5),
                "wrn28_10": dict(batch_size=256, rho=0.1, beta=0.5, gamma=0.5)}


#: MNIST-1D (Greydanus and Kobak, ICML 2024). The authors' baseline protocol (their ``notebooks/train.py``): Adam,
#: lr 1e-2, batch 100, no weight decay, constant lr, 8000 steps (200 epochs of their 4000 signals; samlab trains on
#: 3600, the other 400 are the calibration split). The sharpness-aware protocol is ours (the paper has none): SGD
#: lr 0.1, momentum 0.9, weight decay 5e-4, cosine, batch 100, 200 epochs, as in the CIFAR papers; Adam keeps lr 1e-2.
MNIST1D_PROTOCOL = {
    "authors": dict(dataset="mnist1d", base="adam", lr=1e-2, momentum=0.9, weight_decay=0.0, epochs=200,
                    batch_size=100, schedule="constant", augment=False),
    "sgd": dict(dataset="mnist1d", base="sgd", lr=0.1, momentum=0.9, weight_decay=5e-4, epochs=200, batch_size=100,
                schedule="cosine", augment=False),
    "adam": dict(dataset="mnist1d", base="adam", lr=1e-2, momentum=0.9, weight_decay=0.0, epochs=200,
                 batch_size=100, schedule="cosine", augment=False),
}
_MNIST1D_METHODS = {"sgd": dict(method="base"), "sam": dict(method="sam"), "asam": dict(method="asam"),
                    "samson2": dict(method="samson", p=2.0), "samsoninf": dict(method="samson", p=math.inf)}


def _mnist1d_presets() -> dict[str, tuple[TrainConfig, ...]]:
    """``mnist1d-authors-<model>`` (the paper's baseline runs) and ``mnist1d-<model>[-<method>]`` (six methods)."""
    presets: dict[str, tuple[TrainConfig, ...]] = {}
    for model in ("mnist1d_mlp", "mnist1d_cnn", "mnist1d_gru"):
        presets[f"mnist1d-authors-{model}"] = (TrainConfig(model=model, method="base", **MNIST1D_PROTOCOL["authors"]),)
    for model in ("mnist1d_mlp", "mnist1d_cnn", "mnist1d_cnn_bn"):
        group = [TrainConfig(model=model, **MNIST1D_PROTOCOL["sgd"], **m) for m in _MNIST1D_METHODS.values()]
        group.insert(1, TrainConfig(model=model, method="base", **MNIST1D_PROTOCOL["adam"]))
        presets[f"mnist1d-{model}"] = tuple(group)
        for name, cfg in zip(("sgd", "adam", *list(_MNIST1D_METHODS)[1:]), group):
            presets[f"mnist1d-{model}-{name}"] = (cfg,)
    return presets


def _build_presets() -> dict[str, tuple[TrainConfig, ...]]:
    presets: dict[str, tuple[TrainConfig, ...]] = {}
    for dataset, rhos in _SAMSON_RHO.items():
        for model in _SAMSON_MODELS:
            group = []
            for name, m in _SAMSON_METHODS.items():
                rho = rhos.get("samson" if m["method"] == "samson" else m["method"])
                table = "table1" if dataset == "cifar10" else "table2"
                cfg = TrainConfig(model=model, dataset=dataset, rho=rho, **_SAMSON_PROTOCOL, **m)
                presets[f"samson-{table}-{model}-{dataset}-{name.replace('_', '')}"] = (cfg,)
                group.append(cfg)
            presets[f"samson-{table}-{model}-{dataset}"] = tuple(group)
    for dataset in ("cifar10", "cifar100"):
        for model, s in _ESAM_MODELS.items():
            common = dict(model=model, dataset=dataset, base="sgd", lr=0.05, momentum=0.9, epochs=200,
                          batch_size=s["batch_size"], schedule="cosine")
            sgd = TrainConfig(method="base", weight_decay=5e-4, **common)
            sam = TrainConfig(method="sam", rho=s["rho"], weight_decay=1e-3, **common)
            esam = replace(sam, method="esam", beta=s["beta"], gamma=s["gamma"])
            swp, sds = replace(esam, gamma=1.0), replace(esam, beta=1.0)
            presets[f"esam-table1-{model}-{dataset}"] = (sgd, sam, esam)
            for name, cfg in (("sgd", sgd), ("sam", sam), ("esam", esam), ("swp", swp), ("sds", sds)):
                presets[f"esam-table1-{model}-{dataset}-{name}" if name in ("sgd", "sam", "esam")
                        else f"esam-table3-{model}-{dataset}-{name}"] = (cfg,)
            presets[f"esam-table3-{model}-{dataset}"] = (sgd, sam, swp, sds, esam)
    # The ASAM course report (Sec. III, Fig. 7): WRN-28-10 on CIFAR-10 for 50 epochs, Adam vs SAM vs ASAM.
    # Only "Adam", "50 epochs" and (from its toy study) rho = 0.5, eta = 0.01 and a cosine schedule are given;
    # lr 1e-3 (Adam's default), batch 128, no weight decay and SAM's rho 0.05 are our choices.
    common = dict(model="wrn28_10", dataset="cifar10", base="adam", lr=1e-3, momentum=0.9, weight_decay=0.0,
                  epochs=50, batch_size=128, schedule="cosine")
    report = (TrainConfig(method="base", **common), TrainConfig(method="sam", rho=0.05, **common),
              TrainConfig(method="asam", rho=0.5, eta=0.01, **common))
    presets["asam-report-wrn28_10-cifar10"] = report
    for cfg, name in zip(report, ("adam", "sam", "asam")):
        presets[f"asam-report-wrn28_10-cifar10-{name}"] = (cfg,)
    presets.update(_mnist1d_presets())
    return dict(sorted(presets.items()))


#: Every named preset: ``samson-table1-<model>-cifar10[-<method>]`` (Table 2: ``-cifar100``),
#: ``esam-table1-<resnet18|wrn28_10>-<dataset>[-sgd|-sam|-esam]``, ``esam-table3-...[-swp|-sds]``,
#: ``asam-report-wrn28_10-cifar10[-adam|-sam|-asam]``.
PRESETS: dict[str, tuple[TrainConfig, ...]] = _build_presets()


def preset_names() -> list[str]:
    """All preset names, sorted."""
    return list(PRESETS)


def preset(name: str) -> tuple[TrainConfig, ...]:
    """The configs of a named preset (one config, or a group such as a table column's five methods)."""
    if name not in PRESETS:
        close = [n for n in PRESETS if name in n or n.startswith(name.split("-")[0])][:8]
        raise ValueError(f"preset={name!r} is not known; e.g. {', '.join(close or preset_names()[:8])} "
                         "(list them all with `python -m samlab train --list-presets`)")
    return PRESETS[name]


# ------------------------------------------------------------------------------------------------ papers
@dataclass(frozen=True)
class PaperResult:
    """One accuracy (percent, mean +- std over the paper's seeds) and, where given, training images/s."""

    source: str
    model: str
    dataset: str
    method: str  # plain label, as run_label(tex=False): SGD, SAM, ASAM, SAMSON_2, SAMSON_inf, ESAM, ESAM-SWP...
    acc: float
    std: float | None = None
    images_per_s: float | None = None
    note: str = ""


def _rows(source: str, model: str, dataset: str, items: Iterable[tuple], note: str = "") -> list[PaperResult]:
    return [PaperResult(source, model, dataset, *item, note=note) for item in items]


_S1 = "SAMSON paper, Table 1"
_S2 = "SAMSON paper, Table 2"
_SAMSON_T1 = {  # CIFAR-10: ResNet-34, ResNet-50, MobileNetV2, VGG-13, DenseNet-40
    "SGD": [(95.84, .13), (94.36, .09), (94.62, .06), (94.19, .04), (91.76, .11)],
    "SAM": [(95.80, .07), (94.24, .13), (94.91, .07), (94.52, .07), (92.27, .30)],
    "ASAM": [(95.85, .22), (94.42, .57), (95.37, .04), (94.68, .07), (92.57, .06)],
    "SAMSON_2": [(95.96, .34), (95.09, .21), (95.29, .17), (94.73, .12), (92.54, .14)],
    "SAMSON_inf": [(95.76, .29), (94.94, .09), (95.41, .09), (94.66, .02), (92.49, .13)],
}
_SAMSON_T2 = {  # CIFAR-100, same columns
    "SGD": [(74.32, 1.32), (74.35, 1.23), (75.44, .07), (72.78, .22), (68.52, .25)],
    "SAM": [(75.62, .33), (75.36, .01), (76.81, .18), (73.86, .40), (69.14, .36)],
    "ASAM": [(76.91, .44), (77.88, .85), (77.28, .10), (74.12, .01), (70.21, .25)],
    "SAMSON_2": [(77.68, .57), (78.22, .67), (77.24, .13), (74.77, .23), (69.94, .36)],
    "SAMSON_inf": [(77.60, .78), (77.81, 1.32), (77.61, .23), (74.59, .15), (70.34, .37)],
}


def _paper_results() -> tuple[PaperResult, ...]:
    out: list[PaperResult] = []
    note = "200 epochs, batch 128, lr 0.1 /10 every 50 epochs; mean +- std over 3 runs"
    for source, dataset, table in ((_S1, "cifar10", _SAMSON_T1), (_S2, "cifar100", _SAMSON_T2)):
        for method, cells in table.items():
            for model, (acc, std) in zip(_SAMSON_MODELS, cells):
                out.append(PaperResult(source, model, dataset, method, acc, std, note=note))
    note = "200 epochs, cosine, lr 0.05 (Table 7); mean +- std over 3 seeds; images/s on the authors' GPUs"
    e1 = "ESAM paper (Du et al. 2022), Table 1"
    out += _rows(e1, "resnet18", "cifar10", [("SGD", 95.41, .03, 3387), ("SAM", 96.52, .13, 1717),
                                             ("ESAM", 96.56, .08, 2409)], note)
    out += _rows(e1, "resnet18", "cifar100", [("SGD", 78.17, .05, 3483), ("SAM", 80.17, .17, 1730),
                                              ("ESAM", 80.41, .10, 2423)], note)
    out += _rows(e1, "wrn28_10", "cifar10", [("SGD", 96.34, .12, 801), ("SAM", 97.27, .11, 396),
                                             ("ESAM", 97.29, .11, 550)], note)
    out += _rows(e1, "wrn28_10", "cifar100", [("SGD", 81.56, .13, 792), ("SAM", 83.42, .04, 391),
                                              ("ESAM", 84.51, .01, 545)], note)
    out += _rows(e1, "pyramidnet110", "cifar10", [("SGD", 96.62, .10, 580), ("SAM", 97.30, .10, 289),
                                                  ("ESAM", 97.81, .01, 401)], note + "; not in samlab's model zoo")
    out += _rows(e1, "pyramidnet110", "cifar100", [("SGD", 81.89, .17, 555), ("SAM", 84.46, .04, 276),
                                                   ("ESAM", 85.56, .05, 381)], note + "; not in samlab's model zoo")
    e3 = "ESAM paper (Du et al. 2022), Table 3 (ablation)"
    out += _rows(e3, "resnet18", "cifar10", [("ESAM-SWP", 96.74, None, 1896), ("ESAM-SDS", 96.45, None, 2105)], note)
    out += _rows(e3, "resnet18", "cifar100", [("ESAM-SWP", 80.53, None, 1887), ("ESAM-SDS", 80.38, None, 2103)],
                 note)
    out += _rows(e3, "wrn28_10", "cifar10", [("ESAM-SWP", 97.37, None, 430), ("ESAM-SDS", 97.24, None, 495)], note)
    out += _rows(e3, "wrn28_10", "cifar100", [("ESAM-SWP", 84.44, None, 423), ("ESAM-SDS", 84.46, None, 492)], note)
    out += _rows("ASAM course report (EPFL), Table I", "wrn28_10", "cifar10",
                 [("Adam", 92.3), ("SAM", 96.19), ("ASAM", 96.44)],
                 "best test accuracy after 50 epochs, one run")
    out += _mnist1d_results()
    return tuple(out)


def _mnist1d_results() -> list[PaperResult]:
    """The MNIST-1D paper's baselines (test accuracy, rounded to 1 % as published; no spread given)."""
    source = ("MNIST-1D paper (Greydanus and Kobak, ICML 2024), benchmark table; also the mnist1d README, "
              "'Comparing MNIST and MNIST-1D'")
    note = ("trained on the frozen 4000/1000 set as in the authors' notebooks/train.py, as far as the repository "
            "shows (Adam, lr 1e-2, batch 100, 8000 steps)")
    rows = _rows(source, "logistic_regression", "mnist1d", [("Adam", 32.0)], note + "; not in samlab's model zoo")
    rows += _rows(source, "mnist1d_mlp", "mnist1d", [("Adam", 68.0)], note)
    rows += _rows(source, "mnist1d_cnn", "mnist1d", [("Adam", 94.0)], note)
    rows += _rows(source, "mnist1d_gru", "mnist1d", [("Adam", 91.0)], note + "; the GRU takes 10x the CNN's time")
    return rows


#: The accuracies the papers report (percent), with their source; the notebooks' "paper" columns.
PAPER_RESULTS: tuple[PaperResult, ...] = _paper_results()


def paper_results(*, model: str | None = None, dataset: str | None = None, source: str | None = None,
                  method: str | None = None) -> list[PaperResult]:
    """The rows of :data:`PAPER_RESULTS` matching every given filter (``source`` matches a substring)."""
    return [r for r in PAPER_RESULTS if (model is None or r.model == model)
            and (dataset is None or r.dataset == dataset) and (method is None or r.method == method)
            and (source is None or source.lower() in r.source.lower())]


# ------------------------------------------------------------------------------------------------ comparing
#: The papers' columns notebook 04 puts next to its own numbers: (source substring, model) per data set.


# ------------------------------------------------------------------------------------------------ robustness
#: SAMSON Table 4: the hyper-parameter grid searched for the robustness study (sec. 6, appendix B).
ROBUSTNESS_GRID: dict[str, tuple[float, ...]] = {
    "sam_rho": (0.05, 0.1, 0.2, 0.5), "asam_rho": (0.5, 1.0, 1.5, 2.0), "samson_rho": (0.1, 0.2, 0.5, 1.0),
    "samson_p": (2.0, math.inf), "clip": (0.05, 0.10, 0.15, 0.20), "alpha": (1.5, 2.0, 2.5),
}
#: Additive-noise training's device characteristics (SAMSON sec. 6.1, eq. 9; Joshi et al.'s PCM measurements).
NOISE_SIGMA_G, NOISE_G_MAX = 0.94, 25.0


@dataclass(frozen=True)
class RobustSetting:
    """One row of SAMSON Tables 5-7: the best performance/robustness setting of one method and training.

    ``training`` is the table's row: ``"plain"``, ``"clipping"`` (weights clipped to [-c, c]) or ``"noise"``
    (additive-noise training, eq. 9, with +-alpha std clipping).
    """

    source: str
    model: str
    dataset: str
    method: str  # SGD, SAM, ASAM, SAMSON_2, SAMSON_inf
    training: str
    rho: float | None = None
    c: float | None = None
    alpha: float | None = None

    @property
    def name(self) -> str:
        """The table's row name, e.g. ``SAMSON_2 + clipping``."""
        return self.method + ("" if self.training == "plain" else f" + {self.training}")


def _settings(source: str, model: str, dataset: str, rows: dict[str, tuple]) -> list[RobustSetting]:
    out = []
    for name, (rho, c, alpha) in rows.items():
        method, _, training = name.partition(" + ")
        out.append(RobustSetting(source, model, dataset, method, training or "plain", rho, c, alpha))
    return out


# (rho, c, alpha) per row, transcribed from both renderings of the paper (they agree). Note: the text (sec. 6.1)
# says alpha = 2.0 was best "for all CIFAR-10/100 models", yet Tables 5 and 6 give alpha = 2.5 for SAMSON + noise;
# the presets follow the tables.
_T5 = {"SGD + noise": (None, None, 2.0), "SGD + clipping": (None, 0.15, None),
       "SAM": (0.1, None, None), "SAM + noise": (0.1, None, 2.0), "SAM + clipping": (0.1, 0.2, None),
       "ASAM": (0.5, None, None), "ASAM + noise": (0.5, None, 2.0), "ASAM + clipping": (0.5, 0.2, None),
       "SAMSON_2": (0.2, None, None), "SAMSON_2 + clipping": (0.5, 0.2, None), "SAMSON_2 + noise": (0.1, None, 2.5),
       "SAMSON_inf": (1.0, None, None), "SAMSON_inf + clipping": (0.5, 0.2, None),
       "SAMSON_inf + noise": (0.1, None, 2.5)}
_T6 = {"SGD + noise": (None, None, 2.0), "SGD + clipping": (None, 0.2, None),
       "SAM": (0.2, None, None), "SAM + noise": (0.2, None, 2.0), "SAM + clipping": (0.2, 0.2, None),
       "ASAM": (1.0, None, None), "ASAM + noise": (1.0, None, 2.0), "ASAM + clipping": (1.0, 0.2, None),
       "SAMSON_2": (1.0, None, None), "SAMSON_2 + clipping": (0.5, 0.2, None), "SAMSON_2 + noise": (0.2, None, 2.5),
       "SAMSON_inf": (1.0, None, None), "SAMSON_inf + clipping": (1.0, 0.2, None),
       "SAMSON_inf + noise": (0.2, None, 2.5)}
_T7 = {"SGD + noise": (None, None, 2.5), "SGD + clipping": (None, 0.2, None),
       "SAM": (0.1, None, None), "SAM + noise": (0.05, None, 2.5), "SAM + clipping": (0.1, 0.2, None),
       "ASAM": (1.0, None, None), "ASAM + noise": (0.5, None, 2.5), "ASAM + clipping": (1.0, 0.2, None),
       "SAMSON_2": (0.2, None, None), "SAMSON_2 + clipping": (0.5, 0.2, None), "SAMSON_2 + noise": (0.1, None, 2.5),
       "SAMSON_inf": (0.5, None, None), "SAMSON_inf + clipping": (1.0, 0.2, None),
       "SAMSON_inf + noise": (0.1, None, 2.5)}

#: SAMSON Tables 5 (VGG-13, CIFAR-10), 6 (MobileNetV2, CIFAR-100) and 7 (ResNet-18 fine-tuned on ImageNet): the
#: settings behind Figs. 2, 3-4, 5 and 6. Plain SGD has no row (nothing to tune). Table 7's ImageNet fine-tuning
#: (10 epochs from torchvision's pretrained ResNet-18, batch 400, lr 0.001, wd 1e-4) has no preset: samlab has
#: neither ImageNet nor the pretrained weights.
ROBUSTNESS_SETTINGS: tuple[RobustSetting, ...] = tuple(
    _settings("SAMSON paper, Table 5", "vgg13_bn", "cifar10", _T5)
    + _settings("SAMSON paper, Table 6", "mobilenetv2", "cifar100", _T6)
    + _settings("SAMSON paper, Table 7", "resnet18", "imagenet", _T7))


def robust_config(method: str, *, rho: float | None = None, c: float | None = None, alpha: float | None = None,
                  **protocol) -> TrainConfig:
    """A :class:`TrainConfig` for one robustness setting: ``method`` a plain name (SGD, SAM, ASAM, SAMSON_2,
    SAMSON_inf), ``c`` weight clipping to [-c, c], ``alpha`` additive-noise training (eq. 9, sigma_G 0.94,
    G_max 25) with +-alpha std clipping; ``protocol`` the other fields."""
    geometry = variant_fields(method)
    noise = {} if alpha is None else dict(noise_sigma_g=NOISE_SIGMA_G, clip_std_alpha=alpha)
    return TrainConfig(**geometry, rho=rho, clip=c, **noise, **protocol)


def _setting_config(s: RobustSetting, **protocol) -> TrainConfig:
    return robust_config(s.method, rho=s.rho, c=s.c, alpha=s.alpha, **protocol)


def robustness_settings(*, model: str | None = None, dataset: str | None = None, source: str | None = None,
                        method: str | None = None, training: str | None = None) -> list[RobustSetting]:
    """The rows of :data:`ROBUSTNESS_SETTINGS` matching every given filter (``source`` matches a substring)."""
    return [s for s in ROBUSTNESS_SETTINGS if (model is None or s.model == model)
            and (dataset is None or s.dataset == dataset) and (method is None or s.method == method)
            and (training is None or s.training == training)
            and (source is None or source.lower() in s.source.lower())]


def _robustness_presets() -> dict[str, tuple[TrainConfig, ...]]:
    """``samson-table5-vgg13_bn-cifar10`` (Fig. 2/6's 15 runs: plain SGD + Table 5's 14 rows), each run alone as
    ``...-<method>[-clip|-noise]``; the same for Table 6 (MobileNetV2, CIFAR-100); ``samson-table4-grid-<model>-
    <dataset>``: Table 4's whole search grid on that protocol (136 runs). Sec. 5's CIFAR protocol throughout."""
    out: dict[str, tuple[TrainConfig, ...]] = {}
    for table, model, dataset in (("table5", "vgg13_bn", "cifar10"), ("table6", "mobilenetv2", "cifar100")):
        proto = dict(model=model, dataset=dataset, **_SAMSON_PROTOCOL)
        sgd = robust_config("SGD", **proto)
        group = [sgd]
        out[f"samson-{table}-{model}-{dataset}-sgd"] = (sgd,)
        for s in robustness_settings(model=model, dataset=dataset):
            cfg = _setting_config(s, **proto)
            group.append(cfg)
            suffix = {"plain": "", "clipping": "-clip", "noise": "-noise"}[s.training]
            out[f"samson-{table}-{model}-{dataset}-{s.method.lower().replace('_', '')}{suffix}"] = (cfg,)
        out[f"samson-{table}-{model}-{dataset}"] = tuple(group)
        g = ROBUSTNESS_GRID
        grid = [sgd] + [robust_config("SGD", c=c, **proto) for c in g["clip"]] + \
            [robust_config("SGD", alpha=a, **proto) for a in g["alpha"]]
        for method, rhos in (("SAM", g["sam_rho"]), ("ASAM", g["asam_rho"]), ("SAMSON_2", g["samson_rho"]),
                             ("SAMSON_inf", g["samson_rho"])):
            for rho in rhos:
                grid += [robust_config(method, rho=rho, **proto)]
                grid += [robust_config(method, rho=rho, c=c, **proto) for c in g["clip"]]
                grid += [robust_config(method, rho=rho, alpha=a, **proto) for a in g["alpha"]]
        out[f"samson-table4-grid-{model}-{dataset}"] = tuple(grid)
    return out


PRESETS.update(_robustness_presets())
PRESETS = dict(sorted(PRESETS.items()))
