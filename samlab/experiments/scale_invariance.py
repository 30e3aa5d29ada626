"""Scale invariance (notebook 01, ASAM report section I): positive scaling of small ReLU nets and their sharpness.

* :func:`toy_relu_net`, :func:`random_taus`, :func:`positive_scaling`: a network, random positive scaling
  transformations (incoming weights times tau, outgoing divided by tau) and their application.
* :func:`sharpness`: ``L(w + eps*) - L(w)`` with ``eps*`` from :func:`samlab.perturbation.worst_case_perturbation`
  (the perturbation the optimizer uses); :func:`scale_invariance_study` runs notebook 01's experiment.
"""
from __future__ import annotations

import copy
import math
from typing import Any, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import ledger
from ..checks import check_choice, check_number
from ..data.variance2d import make_variance2d
from ..methods import method_color, method_label
from ..perturbation import worst_case_perturbation

__all__ = [
    "toy_relu_net", "hidden_linears", "random_taus", "positive_scaling", "sharpness", "spread",
    "SCALINGS", "scale_invariance_study", "format_spreads", "scaling_comparison", "format_scaling_table",
    "ROUNDOFF", "findings", "ScalingSweep",
]

_HOMOGENEOUS = (nn.ReLU, nn.LeakyReLU, nn.Identity)


# ============================================================================ toy networks and positive scaling

def toy_relu_net(widths: Sequence[int] = (2, 10, 10, 2), *, bias: bool = True, seed: int = 0,
                 dtype: torch.dtype = torch.float64) -> nn.Sequential:
    """Linear-ReLU-...-Linear with the given layer ``widths``, PyTorch's default init under ``seed``.

    ``bias=False`` gives the same weights without biases (drawn with biases, then dropped), so the two
    variants of notebook 01 share their weights.
    """
    widths = [int(w) for w in widths]
    if len(widths) < 3 or min(widths) < 1:
        raise ValueError(f"widths={widths!r} needs an input, at least one hidden and an output width, all >= 1")
    with torch.random.fork_rng(devices=[]):      # nn.Linear's init draws from the global RNG: fork it
        torch.manual_seed(seed)
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            lin = nn.Linear(a, b, dtype=dtype)
            if not bias:
                plain = nn.Linear(a, b, bias=False, dtype=dtype)
                plain.weight.data.copy_(lin.weight.data)
                lin = plain
            layers += [lin, nn.ReLU()] if i < len(widths) - 2 else [lin]
    return nn.Sequential(*layers)


def hidden_linears(model: nn.Sequential) -> list[tuple[nn.Linear, nn.Linear]]:
    """Pairs (layer producing a hidden neuron, next linear layer) of a Sequential of Linear and ReLU-like maps.

    Raises if a module other than Linear/ReLU/LeakyReLU/Identity appears: positive scaling would then
    change the function.
    """
    if not isinstance(model, nn.Sequential):
        raise ValueError(f"model must be an nn.Sequential, got {type(model).__name__}")
    linears = []
    for m in model:
        if isinstance(m, nn.Linear):
            linears.append(m)
        elif not isinstance(m, _HOMOGENEOUS):
            raise ValueError(f"positive scaling needs positively homogeneous maps between the linear layers; "
                             f"found {type(m).__name__}")
    if len(linears) < 2:
        raise ValueError("the model needs at least two linear layers (one hidden layer) to scale")
    return list(zip(linears[:-1], linears[1:]))


def random_taus(model: nn.Sequential, k: int = 50, *, low: float = 0.5, high: float = 1.5,
                seed: int = 0) -> list[list[Tensor]]:
    """``k`` transformations, each one tau per hidden neuron (one tensor per hidden layer), ~ U[low, high]."""
    low = check_number("low", low, low=0.0, low_open=True)
    high = check_number("high", high, low=low)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k={k!r} must be a positive integer")
    gen = torch.Generator().manual_seed(seed)
    sizes = [a.out_features for a, _ in hidden_linears(model)]
    dtype = next(model.parameters()).dtype
    return [[(low + (high - low) * torch.rand(n, generator=gen, dtype=torch.float64)).to(dtype) for n in sizes]
            for _ in range(k)]


@torch.no_grad()
def positive_scaling(model: nn.Sequential, taus: Sequence[Tensor], *, scale_biases: bool = True) -> nn.Sequential:
    """A copy of ``model`` with hidden neuron i of each hidden layer scaled by ``tau_i > 0``.

    Its incoming weights (and, with ``scale_biases``, its bias) are multiplied by tau_i and its outgoing
    weights divided by tau_i; since ReLU(t z) = t ReLU(z) for t > 0, the function is unchanged when the
    bias goes along (or is zero). ``scale_biases=False`` leaves biases as they are (ASAM report's caveat).
    """
    pairs = hidden_linears(model)
    if len(taus) != len(pairs):
        raise ValueError(f"taus must hold one tensor per hidden layer ({len(pairs)}), got {len(taus)}")
    out = copy.deepcopy(model)
    pairs = hidden_linears(out)
    for (a, b), tau in zip(pairs, taus):
        tau = torch.as_tensor(tau, dtype=a.weight.dtype)
        if tau.shape != (a.out_features,) or not bool((tau > 0).all()):
            raise ValueError(f"each tau must be a positive vector of length {a.out_features}, got shape "
                             f"{tuple(tau.shape)}, min {float(tau.min()):g}")
        a.weight.mul_(tau[:, None])
        if scale_biases and a.bias is not None:
            a.bias.mul_(tau)
        b.weight.div_(tau[None, :])
    return out


@torch.no_grad()
def _stacked_scaling(model: nn.Sequential, taus: Sequence[Sequence[Tensor]], scale_biases: bool) -> dict[str, Tensor]:
    """:func:`positive_scaling` of ``model`` by each transformation of ``taus`` at once: parameter name ->
    (transformations, ...) tensor, the same operations in the same order (so the same numbers)."""
    prefix = {id(m): name for name, m in model.named_modules()}
    out = {n: w.detach().expand(len(taus), *w.shape).clone() for n, w in model.named_parameters()}
    for layer, (a, b) in enumerate(hidden_linears(model)):
        tau = torch.stack([torch.as_tensor(t[layer], dtype=a.weight.dtype) for t in taus])    # (K, neurons)
        out[f"{prefix[id(a)]}.weight"].mul_(tau[:, :, None])
        if scale_biases and a.bias is not None:
            out[f"{prefix[id(a)]}.bias"].mul_(tau)
        out[f"{prefix[id(b)]}.weight"].div_(tau[:, None, :])
    return out


def _adaptive_flags(params: Sequence[Tensor], adaptive: str) -> list[bool]:
    check_choice("adaptive", adaptive, ("weights", "all"))
    return [True] * len(params) if adaptive == "all" else [w.ndim > 1 for w in params]


def sharpness(model: nn.Module, x: Tensor, y: Tensor, *, method: str, rho: float, p: float = 2.0,
              eta: float = 0.0, adaptive: str = "weights") -> float:
    """``L(w + eps*) - L(w)`` (cross-entropy on ``x, y``), eps* the method's worst-case perturbation (eq. 2/4/6).

    ``adaptive``: ``"weights"`` (T on weight matrices only, the official ASAM and samlab default) or
    ``"all"`` (biases too). The model is not modified.
    """
    names, params = zip(*[(n, w) for n, w in model.named_parameters()])
    loss = F.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, params)
    eps = worst_case_perturbation(params, grads, method=method, rho=rho, p=p, eta=eta,
                                  adaptive=_adaptive_flags(params, adaptive))
    with torch.no_grad():
        moved = {n: w + e for n, w, e in zip(names, params, eps)}
        perturbed = F.cross_entropy(torch.func.functional_call(model, moved, (x,)), y)
    return float(perturbed - loss.detach())


def spread(values: Iterable[float]) -> float:
    """``max / min - 1`` of positive values (0 for a constant); NaN if any value is <= 0."""
    v = np.asarray(list(values), dtype=float)
    if v.size == 0 or (v <= 0).any():
        return float("nan")
    return float(v.max() / v.min() - 1.0)


#: Notebook 01's scaling variants: (network has biases, biases scaled with their neuron).
SCALINGS = {
    "no biases": (False, False),        # bias-free net, weights scaled: function unchanged
    "biases scaled": (True, True),      # biases scaled with their neuron: function unchanged
    "biases left": (True, False),       # biases left as they are: the function changes
}


def scale_invariance_study(*, rho: float = 0.05, p: float = 2.0, tau_range: tuple[float, float] = (0.5, 1.5),
                           scaling: str = "no biases", asam_adaptive: str = "weights", k: int = 50,
                           widths: Sequence[int] = (2, 10, 10, 2), n_points: int = 500, n_logits: int = 4,
                           data_variance: float = 5.0, seed: int = 0) -> dict[str, Any]:
    """Notebook 01 (ASAM report Figs. 2-4): logits and sharpness of one net across ``k`` positive scalings.

    Returns ``{"logits": (k, n_logits, classes), "sharpness": {name: (k,)}, "spread": {name: float},
    "labels": {name: label}, "colors": {name: colour}}`` for SAM, ASAM (eta = 0, ``asam_adaptive``),
    SAMSON_p and SAMSON_inf (same ``asam_adaptive``), all with radius ``rho``. Double precision, so a
    mathematically constant sharpness shows a spread of ~1e-12, not float32 noise.
    """
    rho = check_number("rho", rho, low=0.0, low_open=True)
    p = check_number("p", p, low=1.0, allow_inf=True)
    check_choice("scaling", scaling, SCALINGS)
    lo, hi = (check_number("tau_range[0]", tau_range[0], low=0.0, low_open=True),
              check_number("tau_range[1]", tau_range[1], low=0.0, low_open=True))
    if hi < lo:
        raise ValueError(f"tau_range={tuple(tau_range)!r} must be (low, high) with low <= high")
    has_bias, scale_biases = SCALINGS[scaling]
    net = toy_relu_net(widths, bias=has_bias, seed=seed)
    x, y = make_variance2d(data_variance, n_points, seed=seed)
    x = x.double()
    methods = _study_methods(p)
    values: dict[str, list[float]] = {name: [] for name in methods}
    logits = []
    for taus in random_taus(net, k, low=lo, high=hi, seed=seed + 1):
        scaled = positive_scaling(net, taus, scale_biases=scale_biases)
        with torch.no_grad():
            logits.append(scaled(x[:n_logits]).numpy())
        for name, (m, pp) in methods.items():
            adaptive = "weights" if m == "sam" else asam_adaptive
            values[name].append(sharpness(scaled, x, y, method=m, rho=rho, p=pp, eta=0.0, adaptive=adaptive))
    return _study_result(np.stack(logits), values, methods)


def _study_methods(p: float) -> dict[str, tuple[str, float]]:
    """The methods :func:`scale_invariance_study` compares at SAMSON's ``p``: name -> (method, p)."""
    methods = {"sam": ("sam", 2.0), "asam": ("asam", 2.0), f"samson_{p:g}": ("samson", p)}
    if not math.isinf(p):
        methods["samson_inf"] = ("samson", math.inf)
    return methods


def _study_result(logits: np.ndarray, values: dict[str, Any], methods: dict[str, tuple[str, float]]) -> dict[str, Any]:
    arrays = {n: np.asarray(v) for n, v in values.items()}
    return {"logits": logits, "sharpness": arrays, "spread": {n: spread(v) for n, v in arrays.items()},
            "labels": {n: method_label(m, pp if m == "samson" else None) for n, (m, pp) in methods.items()},
            "text_labels": {n: method_label(m, pp if m == "samson" else None, plain=True)
                            for n, (m, pp) in methods.items()},
            "colors": {n: method_color(m, pp) for n, (m, pp) in methods.items()}}


class ScalingSweep:
    """:func:`scale_invariance_study` for notebook 01's explorer, fast enough for a slider (issue 19).

    The same numbers as the study (up to float64 round-off: the K scaled nets run as one batch of matrix
    products instead of one network each), computed in stages that are kept: per (scaling, tau range) the K
    scaled weights, their losses and gradients; per method, p and rule for T the worst-case perturbation at
    radius 1 (from :func:`samlab.perturbation.worst_case_perturbation`, one call per scaling); per rho only the
    K perturbed losses (eps* is proportional to rho). A rho move then costs one batched forward pass.
    """

    def __init__(self, *, k: int = 50, widths: Sequence[int] = (2, 10, 10, 2), n_points: int = 500,
                 n_logits: int = 4, data_variance: float = 5.0, seed: int = 0) -> None:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k={k!r} must be a positive integer")
        self.k, self.widths, self.n_logits, self.seed = k, tuple(widths), n_logits, seed
        x, y = make_variance2d(data_variance, n_points, seed=seed)
        self.x, self.y = x.double(), y
        self._scaled: dict[tuple, dict[str, Any]] = {}
        self._directions: dict[tuple, list[Tensor]] = {}

    @staticmethod
    def _forward(net: nn.Sequential, params: dict[str, Tensor], x: Tensor) -> Tensor:
        """The outputs of the nets whose parameters are stacked in ``params`` (name -> (nets, ...)) on ``x``."""
        h = x.expand(len(next(iter(params.values()))), *x.shape)
        for i, m in enumerate(net):
            if isinstance(m, nn.Linear):
                w, b = params[f"{i}.weight"].transpose(1, 2), params.get(f"{i}.bias")
                h = h @ w if b is None else torch.baddbmm(b[:, None, :], h, w)
            else:
                h = torch.relu_(h) if isinstance(m, nn.ReLU) and not h.requires_grad else m(h)   # in place: 10x faster
        return h

    def _losses(self, net: nn.Sequential, params: dict[str, Tensor]) -> Tensor:
        out = self._forward(net, params, self.x)          # (nets, points, classes): cross-entropy per net
        picked = out.gather(2, self.y.expand(len(out), -1)[:, :, None])[:, :, 0]
        return (torch.logsumexp(out, dim=2) - picked).mean(dim=1)

    def _scalings(self, scaling: str, tau_range: tuple[float, float]) -> dict[str, Any]:
        key = (scaling, tuple(float(t) for t in tau_range))
        if key not in self._scaled:
            lo, hi = (check_number("tau_range[0]", tau_range[0], low=0.0, low_open=True),
                      check_number("tau_range[1]", tau_range[1], low=0.0, low_open=True))
            if hi < lo:
                raise ValueError(f"tau_range={tuple(tau_range)!r} must be (low, high) with low <= high")
            has_bias, scale_biases = SCALINGS[scaling]
            net = toy_relu_net(self.widths, bias=has_bias, seed=self.seed)
            taus = random_taus(net, self.k, low=lo, high=hi, seed=self.seed + 1)
            names = [n for n, _ in net.named_parameters()]
            params = {n: w.requires_grad_(True) for n, w in _stacked_scaling(net, taus, scale_biases).items()}
            loss = self._losses(net, params)
            grads = torch.autograd.grad(loss.sum(), list(params.values()))   # each net's own: the losses are apart
            with torch.no_grad():
                logits = self._forward(net, params, self.x[:self.n_logits]).numpy()
            self._scaled[key] = {"net": net, "names": names, "params": {n: w.detach() for n, w in params.items()},
                                 "loss": loss.detach(), "grads": grads, "logits": logits}
        return self._scaled[key]

    def prepare(self, *, p: float = 2.0, tau_range: tuple[float, float] = (0.5, 1.5)) -> None:
        """Compute what every scaling and rule for T needs at ``p`` and ``tau_range`` (a move of those controls
        then costs one forward pass); about 0.5 s."""
        for scaling in SCALINGS:
            for adaptive in ("weights", "all"):
                self.study(rho=1.0, p=p, tau_range=tau_range, scaling=scaling, asam_adaptive=adaptive)

    def _direction(self, scaled: dict[str, Any], key: tuple, method: str, p: float, adaptive: str) -> list[Tensor]:
        if key not in self._directions:
            ws = [scaled["params"][n] for n in scaled["names"]]
            flags = _adaptive_flags([w[0] for w in ws], adaptive)
            per_net = [worst_case_perturbation([w[j] for w in ws], [g[j] for g in scaled["grads"]], method=method,
                                               rho=1.0, p=p, eta=0.0, adaptive=flags) for j in range(self.k)]
            self._directions[key] = [torch.stack([e[i] for e in per_net]) for i in range(len(ws))]
        return self._directions[key]

    def study(self, *, rho: float, p: float = 2.0, tau_range: tuple[float, float] = (0.5, 1.5),
              scaling: str = "no biases", asam_adaptive: str = "weights") -> dict[str, Any]:
        """What :func:`scale_invariance_study` returns for these arguments (and this sweep's k, widths, seed)."""
        rho = check_number("rho", rho, low=0.0, low_open=True)
        p = check_number("p", p, low=1.0, allow_inf=True)
        check_choice("scaling", scaling, SCALINGS)
        check_choice("asam_adaptive", asam_adaptive, ("weights", "all"))
        scaled = self._scalings(scaling, tau_range)
        methods = _study_methods(p)
        eps = []
        for m, pp in methods.values():
            adaptive = "weights" if m == "sam" else asam_adaptive
            key = (scaling, tuple(float(t) for t in tau_range), m, pp, adaptive)
            eps.append(self._direction(scaled, key, m, pp, adaptive))
        with torch.no_grad():     # every method's K perturbed nets in one batch
            moved = {n: torch.cat([w + rho * e[i] for e in eps]) for i, (n, w) in enumerate(scaled["params"].items())}
            perturbed = self._losses(scaled["net"], moved).reshape(len(methods), self.k)
            values = {name: (perturbed[j] - scaled["loss"]).numpy() for j, name in enumerate(methods)}
        return _study_result(scaled["logits"], values, methods)


def format_spreads(result: dict[str, Any]) -> str:
    """The spread (max/min - 1) of each sharpness of :func:`scale_invariance_study`, one line per method."""
    k = len(result["logits"])
    logit_spread = float(np.max(np.ptp(result["logits"], axis=0)))
    lines = [f"spread (max/min - 1) of the sharpness over {k} transformations:"]
    for name, value in result["spread"].items():
        label = result["text_labels"][name]
        lines.append(f"  {label:<12} {100 * value:10.4g} %")
    lines.append(f"largest change of a logit across the transformations: {logit_spread:.3g}")
    return "\n".join(lines)


def scaling_comparison(*, rho: float = 0.05, p: float = 2.0, tau_range: tuple[float, float] = (0.5, 1.5),
                       k: int = 50, seed: int = 0) -> dict[tuple[str, str], dict[str, Any]]:
    """:func:`scale_invariance_study` for every scaling of :data:`SCALINGS` and each rule for T (``"weights"``,
    ``"all"``), keyed by ``(scaling, asam_adaptive)``: notebook 01's table of where scale invariance holds."""
    return {(scaling, adaptive): scale_invariance_study(rho=rho, p=p, tau_range=tau_range, k=k, seed=seed,
                                                        scaling=scaling, asam_adaptive=adaptive)
            for scaling in SCALINGS for adaptive in ("weights", "all")}


def format_scaling_table(results: dict[tuple[str, str], dict[str, Any]]) -> str:
    """One row per entry of :func:`scaling_comparison`: the largest change of a logit across the scalings and the
    spread (max/min - 1, in %) of each method's sharpness."""
    first = next(iter(results.values()))
    names, text = list(first["spread"]), first["text_labels"]
    lines = ["spread (max/min - 1) of each sharpness over the scalings:",
             f"{'scaling':<14}{'T applies to':<13}{'max logit change':>17}" + "".join(f"{text[n]:>13}" for n in names)]
    for (scaling, adaptive), r in results.items():
        logit_change = float((r["logits"].max(0) - r["logits"].min(0)).max())
        lines.append(f"{scaling:<14}{adaptive:<13}{logit_change:17.2g}"
                     + "".join(f"{100 * r['spread'][n]:12.3g}%" for n in names))
    return "\n".join(lines)


#: Relative spread below which a sharpness counts as constant: sqrt(float64 epsilon) ~ 1.5e-8. A sharpness is a
#: difference of two losses, so its relative round-off can exceed epsilon by the ratio loss / sharpness; the
#: square root of epsilon is the usual bound for "equal up to round-off" after such a cancellation, and lies many
#: orders of magnitude below any effect of the scaling itself (SAM's spread is tens of percent).
ROUNDOFF = math.sqrt(float(np.finfo(np.float64).eps))


def findings(plain: dict[str, Any], caveat: dict[str, Any], *, scale: str) -> list[Any]:
    """Notebook 01's ledger rows (exact checks, no sampling: the 50 scalings are a deterministic sweep, each
    sharpness computed in double precision): ASAM constant and SAM varying on the bias-free net ``plain``
    (:func:`scale_invariance_study`, ``scaling="no biases"``), weights-only ASAM varying when the biases are
    scaled (``caveat``: ``scaling="biases scaled"``, ``asam_adaptive="weights"``). The rule: a relative spread
    (max/min - 1) below :data:`ROUNDOFF` is constant, above it varies."""
    k = len(plain["logits"])
    rule = f"constant below sqrt(float64 eps) = {ROUNDOFF:.1e}"
    spread_of = (lambda r, n: r["spread"][n])  # noqa: E731
    sam, asam, biased = spread_of(plain, "sam"), spread_of(plain, "asam"), spread_of(caveat, "asam")
    units = "% spread (max/min - 1)"
    ok = (lambda holds: "supported" if holds else "contradicted")  # noqa: E731
    return [
        ledger.exact_finding("asam_invariant", subject=f"ASAM sharpness, bias-free net, {k} scalings", scale=scale,
                             verdict=ok(asam < ROUNDOFF), estimate=100 * asam, units=units,
                             note=f"relative spread {asam:.2g}; {rule}"),
        ledger.exact_finding("sam_varies", subject=f"SAM sharpness, bias-free net, {k} scalings", scale=scale,
                             verdict=ok(sam > ROUNDOFF), estimate=100 * sam, units=units,
                             note=f"relative spread {sam:.2g}; {rule}"),
        ledger.exact_finding("bias_caveat", subject=f"weights-only ASAM, biases scaled with their neuron, {k} "
                             "scalings", scale=scale, verdict=ok(biased > ROUNDOFF), estimate=100 * biased,
                             units=units, note=f"relative spread {biased:.2g} against SAM's {sam:.2g} on the "
                             f"bias-free net ('dramatically' is the report's word, not a measure); {rule}"),
    ]
