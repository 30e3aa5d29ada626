"""The claims ledger: every claim of the seed papers that a notebook tests, with its source, our estimate at the
notebook's scale and a verdict (supported, contradicted, unresolved), in one place.

* :data:`CLAIMS` holds each claim once: a key, the notebook that tests it, its source (seed file, section, figure
  or table), the paper's words quoted exactly, and what our test compares.
* A notebook turns its :class:`samlab.evidence.Comparison` objects into :class:`Finding` rows with
  :func:`finding` (or :func:`exact_finding` for a check that has no sampling error, such as scale invariance),
  controls the family-wise error over the claims it tests together with :func:`adjust` (Holm), prints them with
  :func:`show` and stores them with :func:`save` (``<figures>/ledger/<notebook>.json``).
* ``samlab reproduce`` (``make reproduce``) gathers every stored notebook's rows into one generated table,
  ``<figures>/claims_ledger.md`` (:func:`write_ledger`).

**The rule** (:func:`samlab.evidence.verdict`, applied after Holm): a finding is *supported* when its 95 %
interval lies on the side the claim states and its Holm-adjusted p-value is below 0.05, *contradicted* when both
hold on the other side, *unresolved* otherwise. For an unresolved paired finding the row says how many training
seeds a paired test would need to resolve an effect at 80 % power: the paper's effect where the paper gives one
in our units (:attr:`Claim.paper_effect`), else the effect we observed, with the spread we measured.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Iterable, Sequence

from scipy import stats

from .checks import check_choice
from .evidence import VERDICTS, Comparison, holm, rerun_probabilities, seeds_to_resolve
from .paths import atomic_write, figures_dir

__all__ = ["Claim", "CLAIMS", "claim", "claims", "Finding", "finding", "exact_finding", "adjust", "format_findings",
           "show", "save", "load", "write_ledger", "verdict_counts", "LEDGER_NAME"]

#: The generated ledger's file name (in the figures folder).
LEDGER_NAME = "claims_ledger.md"

_SAMSON = "SAMSON paper (seeds/001)"
_ESAM = "ESAM paper (seeds/002)"
_ASAM = "ASAM course report (seeds/003)"


@dataclass(frozen=True)
class Claim:
    """One claim a notebook tests: ``quote`` is the source's words, exactly; ``test`` says in one line what our
    estimate compares (and the direction in which a positive estimate supports the claim); ``paper_effect`` is
    the paper's effect in our estimate's units where the paper states one (None: it gives only a figure)."""

    key: str
    notebook: str
    source: str
    quote: str
    test: str
    paper_effect: float | None = None


#: Every claim the notebooks test, grouped by notebook (each group edited by the notebook's owner).
CLAIMS: tuple[Claim, ...] = (
    # ------------------------------------------------------------------------------ notebook 01: scale invariance
    Claim("asam_invariant", "01", f"{_ASAM}, sec. I / Fig. 4",
          "On the other hand, figure 4 shows that the ASAM loss remains practically constant during the whole process.",
          "relative spread (max/min - 1) of ASAM's sharpness over the random positive scalings of a bias-free ReLU "
          "net, float64: constant when below sqrt(float64 epsilon) = 1.5e-8, the round-off level of a loss difference"),
    Claim("sam_varies", "01", f"{_ASAM}, sec. I / Fig. 3",
          "We can observe on figure 3 that the transformations have a dramatic effect on the SAM loss value.",
          "relative spread of SAM's sharpness over the same scalings: varies when above sqrt(float64 epsilon)"),
    Claim("bias_caveat", "01", f"{_ASAM}, sec. I",
          "We could then observe that the ASAM loss also varied dramatically.",
          "relative spread of weights-only ASAM's sharpness when the biases are scaled with their neuron: varies "
          "when above sqrt(float64 epsilon)"),
    # ------------------------------------------------------------------------------ notebook 03: variance study
    Claim("variance_sam_asam_adam", "03", f"{_ASAM}, sec. II / Fig. 5",
          "To summarize, we can conclude that SAM and ASAM generalize better than ADAM.",
          "test error of SAM (ASAM) minus Adam's, averaged over the test variances above the training variance, "
          "paired by seed (same data, init and batch order); fewer errors support the claim"),
    # ------------------------------------------------------------------------------ notebook 04: CIFAR and ESAM
    Claim("esam_speed", "04", f"{_ESAM}, sec. 3.1 / Table 1",
          "These experiments demonstrate that ESAM outperforms SAM on a variety of benchmark datasets for "
          "widely-used DNNs’ architectures in terms of training speed and classification accuracies.",
          "ESAM's images/s over SAM's minus 1 (%), log-ratio paired by interleaved timing round, t-interval over "
          "rounds (n counts rounds, not seeds); the paper's best: +40.3 % (ResNet-18, CIFAR-10)", paper_effect=40.3),
    Claim("esam_accuracy", "04", f"{_ESAM}, sec. 3.1 / Tables 1-2",
          "Concerning the performance, ESAM outperforms SAM in the six sets of experiments.",
          "test accuracy ESAM minus SAM, paired by seed where several seeds were trained"),
    # ------------------------------------------------------------------------------ notebook 04b: MNIST-1D methods
    Claim("sam_better_test", "04b", f"{_SAMSON}, sec. 3",
          "By building on the strong correlation between sharpness and generalization performance, SAM is "
          "generally used in practice to achieve better test performance.",
          "MNIST-1D test accuracy, SAM (rho chosen on the calibration split) minus SGD and minus Adam, paired by seed"),
    Claim("asam_over_sam", "04b", f"{_SAMSON}, sec. 5 / Tables 1-3",
          "Generally, we observe that the adaptive sharpness formulation of ASAM to weight magnitude usually "
          "outperforms SAM's sharpness in regard to generalization performance.",
          "MNIST-1D test accuracy, ASAM minus SAM (each at its calibration-chosen rho), paired by seed"),
    Claim("samson_best", "04b", f"{_SAMSON}, sec. 5 / Tables 1-2",
          'We see that at least one of our variants (SAMSON₂ or SAMSON∞) consistently outperforms the SGD, SAM, and ASAM variants in terms of generalization performance.',
          "MNIST-1D test accuracy, SAMSON_2 and SAMSON_inf (calibration-chosen rho) each minus SGD, SAM and ASAM, "
          "paired by seed (the claim holds for a network when one SAMSON variant is above all three)"),
    # ------------------------------------------------------------------------------ notebook 05: robustness
    Claim("pareto", "05", f"{_SAMSON}, sec. 6.2 / Fig. 2",
          "We observe that SAMSON variants primarily compose the Pareto frontier across all models and datasets.",
          "SAMSON share of the Pareto frontier of (clean accuracy, accuracy at sigma_c = 0.4), bounded by paired "
          "intervals: a setting is off the frontier when another is supported-better on both axes, surely on it "
          "when it is supported-better than every other on one axis; supported when the share is above 1/2 at "
          "both bounds (experiments.robustness_claims.frontier_bounds)"),
    Claim("clean", "05", f"{_SAMSON}, sec. 6.2 / Fig. 2",
          "This is also observed in the noiseless regime ( $\\sigma_c=0.0$ ), where we see that there is always at "
          "least one SAMSON variant that achieves the best test accuracy, as discussed in section 5.",
          "clean accuracy, within each training seed the best SAMSON setting minus the best other setting, then "
          "a t-interval over seeds (the paper's claim is about each trained population's best run)"),
    Claim("samson_above_sgd", "05", f"{_SAMSON}, sec. 6.2 / Fig. 2",
          "Overall, we observe that sharpness-aware training variants (SAMSON, ASAM, and SAM) clearly outperform "
          "SGD, with SAMSON promoting the highest robustness, generally followed by ASAM and then SAM.",
          "accuracy at sigma_c = 0.4, each plain sharpness-aware method minus plain SGD, paired by seed and noise "
          "draw"),
    Claim("clipping", "05", f"{_SAMSON}, sec. 6.2 / Figs. 2, 5",
          "Moreover, the improvement in robustness is especially amplified when combining sharpness-aware methods "
          "with aggressive weight clipping, representing a simple yet effective alternative to training with noise.",
          "accuracy at sigma_c = 0.4, method + clipping minus the same method plain, paired by seed and draw"),
    Claim("noise", "05", f"{_SAMSON}, appendix A / Fig. 6",
          "Even though we observe an increase in robustness in certain configurations, training with aggressive "
          "weight clipping tends to provide the overall best trade-off between performance and robustness compared "
          "to training with additive noise.",
          "the trade-off's two axes: method + clipping minus the same method + additive noise, at sigma_c = 0.4 and "
          "at sigma_c = 0 (clean), paired by seed and draw (the noise-trained runs' gain over plain is the "
          "noise_crossover rows)"),
    Claim("pcm", "05", f"{_SAMSON}, sec. 7.1 / Fig. 5",
          "We observe that even though all sharpness-aware training methods outperform SGD in terms of robustness, "
          "the SAMSON variants retain the most performance.",
          "PCM accuracy 1 year after programming, clipped runs: each method minus SGD + clipping, paired by seed "
          "(and programming repeat, common to every run)"),
    Claim("noise_crossover", "05", "Jacobson et al., arXiv 2602.07320",
          "sharpness-aware training helps against small weight noise, random-weight-perturbation (noise-injection) "
          "training against large noise",
          "the issue's paraphrase of that paper (not readable offline, so not quoted from it): method + additive "
          "noise minus the same method plain, at the smallest sigma_c > 0 (claim: below 0) and at sigma_c = 0.4 "
          "(claim: above 0), paired by seed and draw; the note gives the crossing sigma_c with a bootstrap-over-"
          "seeds interval"),
    # ------------------------------------------------------------------------------ notebook 06: sharpness
    Claim("correlation", "06", f"{_SAMSON}, sec. 6.3 / Figs. 3, 4",
          "We observe a strong correlation within each training configuration, i.e. training each method with and "
          "without additive noise or aggressive weight clipping, across all architectures and datasets.",
          "Spearman correlation of SAMSON's m-sharpness (p = 2, p = inf; and samlab's noise curvature beside them) "
          "with the robustness gap within each training configuration, percentile bootstrap over runs; positive "
          "supports the claim"),
    Claim("appendix_c", "06", f"{_SAMSON}, appendix C / Figs. 7-9",
          "Overall, we observe that both SAM's and ASAM's m-sharpness show better visual correlation than Keskar "
          "et al. [22]'s notion of sharpness.",
          "Spearman correlation of SAM's (ASAM's) m-sharpness minus Keskar's with the same robustness gaps, within "
          "each configuration, both on the same bootstrap resamples of runs (paired); positive supports the claim"),
)


def claim(key: str) -> Claim:
    """The claim of :data:`CLAIMS` with this ``key``."""
    for c in CLAIMS:
        if c.key == key:
            return c
    raise KeyError(f"no claim {key!r}; known: {', '.join(c.key for c in CLAIMS)}")


def claims(notebook: str | None = None) -> list[Claim]:
    """The claims a notebook tests (all, with ``notebook=None``)."""
    return [c for c in CLAIMS if notebook is None or c.notebook == notebook]


@dataclass(frozen=True)
class Finding:
    """One row of the ledger: a claim, what was compared (``subject``), the estimate and interval in ``units``
    (None for a check without sampling error), the verdict, and how it was computed."""

    key: str
    subject: str
    scale: str
    verdict: str
    estimate: float | None = None
    low: float | None = None
    high: float | None = None
    units: str = "points"
    p_value: float | None = None
    p_adjusted: float | None = None
    n: int | None = None
    method: str = ""
    seeds_needed: int | None = None
    note: str = ""
    rerun_agrees: float | None = None

    def __post_init__(self) -> None:
        check_choice("verdict", self.verdict, VERDICTS)
        claim(self.key)   # an unknown key is refused here, not when the ledger is written

    @property
    def claim(self) -> Claim:
        return claim(self.key)

    @property
    def estimate_text(self) -> str:
        """``"+5.5 points [+4.6, +6.4]"`` (or the note alone for an exact check)."""
        if self.estimate is None:
            return self.note
        interval = "" if self.low is None else f" [{self.low:+.3g}, {self.high:+.3g}]"
        return f"{self.estimate:+.3g} {self.units}{interval}"

    def __str__(self) -> str:
        p = "" if self.p_value is None else f"; p = {self.p_value:.2g}" + (
            "" if self.p_adjusted is None or self.p_adjusted == self.p_value else f", Holm {self.p_adjusted:.2g}")
        n = "" if self.n is None else f", n = {self.n}"
        seeds = "" if self.seeds_needed is None else f"; about {self.seeds_needed} seeds would resolve it"
        note = f" ({self.note})" if self.note and self.estimate is not None else ""
        rerun = "" if self.rerun_agrees is None else f"; a rerun with new seeds agrees: about {self.rerun_agrees:.0%}"
        return (f"{self.verdict.upper():>12}  {self.subject}: {self.estimate_text} "
                f"({self.method}{n}{p}){note}{seeds}{rerun}")


def _rerun_agrees(f: Finding, tests: int = 1) -> float | None:
    """The probability that a rerun with new seeds repeats ``f``'s verdict (:func:`evidence.rerun_probabilities`;
    ``tests``: the row's Holm step multiplier). None for a row without an interval."""
    if f.estimate is None or f.low is None or f.high is None or f.n is None:
        return None
    df = f.n - 1 if f.method.startswith("paired t") and f.n > 1 else math.inf   # a t-interval, or a normal one
    above, below, neither = rerun_probabilities(f.estimate, f.low, f.high, df=df, tests=tests)
    if f.verdict == "unresolved":
        return round(neither, 3)
    return round(above if f.estimate > 0 else below, 3)   # a resolved row's estimate lies on its interval's side


def finding(key: str, comparison: Comparison, *, subject: str, scale: str, factor: float = 100.0,
            units: str = "points", note: str = "", direction: int = 1) -> Finding:
    """A ledger row from a :class:`~samlab.evidence.Comparison` of ``a - b``: the estimate in ``units`` (the
    comparison times ``factor``: accuracy fractions become points), and the verdict for a claim that ``a`` is
    above ``b`` (``direction=-1``: that ``a`` is below ``b``, e.g. a smaller gap)."""
    if direction not in (1, -1):
        raise ValueError(f"direction={direction!r}; allowed: 1 (a above b) or -1 (a below b)")
    if not isinstance(comparison, Comparison):
        raise TypeError(f"comparison must be a samlab.evidence.Comparison; got {type(comparison).__name__}")
    c = comparison
    verdict = c.verdict
    if direction == -1 and verdict != "unresolved":
        verdict = "contradicted" if verdict == "supported" else "supported"
    effect = claim(key).paper_effect
    needed = None
    if verdict == "unresolved" and c.paired:
        needed = c.seeds_needed(None if effect is None else effect / factor)
    row = Finding(key, subject, scale, verdict, factor * c.difference, factor * c.low, factor * c.high, units,
                  c.p_value, c.p_value, c.n, c.method, needed, note)
    return replace(row, rerun_agrees=_rerun_agrees(row))


def exact_finding(key: str, *, subject: str, scale: str, verdict: str, note: str, estimate: float | None = None,
                  units: str = "", method: str = "exact check (no sampling error)") -> Finding:
    """A ledger row for a check without sampling error (a deterministic identity, a closed form): the verdict is
    given, ``note`` says what was measured."""
    return Finding(key, subject, scale, verdict, estimate, None, None, units, None, None, None, method, None, note)


def adjust(findings: Sequence[Finding], *, alpha: float = 0.05) -> list[Finding]:
    """Holm's family-wise control over ``findings`` tested together: each row gets its adjusted p-value, and a
    verdict whose adjusted p-value is not below ``alpha`` becomes *unresolved*. Such a row of a paired t-test gets
    the seeds a paired test would need to resolve its observed effect at 80 % power at Bonferroni's level
    ``alpha / tests`` (Holm's first step: an upper bound on what Holm needs), from the row's interval. Each row's
    ``rerun_agrees`` is recomputed at its Holm step (a rerun must pass the same threshold). Rows without a
    p-value are returned unchanged."""
    tested = [i for i, f in enumerate(findings) if f.p_value is not None]
    adjusted = holm([findings[i].p_value for i in tested]) if tested else []
    order = sorted(tested, key=lambda i: findings[i].p_value)
    step = {i: len(tested) - rank for rank, i in enumerate(order)}     # Holm's multiplier of each row
    out = list(findings)
    for i, p in zip(tested, adjusted):
        f = findings[i]
        verdict = f.verdict if p < alpha else "unresolved"
        note = f.note
        needed = f.seeds_needed
        if verdict != f.verdict:
            note = (note + "; " if note else "") + f"interval excludes 0 but not after Holm over {len(tested)} tests"
            needed = _seeds_after_holm(f, alpha / len(tested))
        row = replace(f, p_adjusted=p, verdict=verdict, note=note, seeds_needed=needed)
        out[i] = replace(row, rerun_agrees=_rerun_agrees(row, step[i]))
    return out


def _seeds_after_holm(f: Finding, alpha: float) -> int | None:
    """Seeds a paired t-test at level ``alpha`` needs for the row's observed effect (:func:`seeds_to_resolve`)."""
    if "paired t" not in f.method or f.n is None or f.n < 2 or f.low is None or not f.estimate:
        return None
    return seeds_to_resolve(f.estimate, f.low, f.high, n=f.n, paired_t=True, alpha=alpha)


def format_findings(findings: Iterable[Finding]) -> str:
    """The rows grouped by claim: the claim's source and quote, then one line per finding."""
    lines, last = [], None
    for f in findings:
        if f.key != last:
            c = f.claim
            lines += ["", f"[{c.key}] {c.source}", f"  paper: \"{c.quote}\"", f"  test:  {c.test}"]
            last = f.key
        lines.append(f"  {f}")
    return "\n".join(lines).strip("\n")


def show(findings: Iterable[Finding]) -> None:
    """Print :func:`format_findings` and the verdict counts."""
    findings = list(findings)
    print(format_findings(findings))
    counts = verdict_counts(findings)
    print("\n" + ", ".join(f"{n} {v}" for v, n in counts.items()))


def verdict_counts(findings: Iterable[Finding]) -> dict[str, int]:
    """How many findings are supported, contradicted and unresolved."""
    findings = list(findings)
    return {v: sum(f.verdict == v for f in findings) for v in VERDICTS}


def _ledger_dir(folder: str | Path | None) -> Path:
    return Path(folder) if folder is not None else figures_dir() / "ledger"


def save(findings: Sequence[Finding], notebook: str, *, folder: str | Path | None = None) -> Path:
    """Store a notebook's rows as ``<folder>/<notebook>.json`` (default folder ``<figures>/ledger``), replacing
    that notebook's earlier rows; written atomically."""
    if not isinstance(notebook, str) or not notebook.replace("_", "").isalnum():
        raise ValueError(f"notebook={notebook!r} must be a short name such as '05'")
    out = _ledger_dir(folder)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{notebook}.json"
    rows = [asdict(f) for f in findings]
    text = json.dumps({"notebook": notebook, "findings": rows}, indent=1, allow_nan=True)
    atomic_write(path, lambda fh: fh.write(text), mode="w")
    return path


def load(folder: str | Path | None = None) -> dict[str, list[Finding]]:
    """Every stored notebook's rows, ``{notebook: [Finding]}``, in notebook order."""
    out: dict[str, list[Finding]] = {}
    folder = _ledger_dir(folder)
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        data = json.loads(path.read_text())
        out[data["notebook"]] = [Finding(**row) for row in data["findings"]]
    return out


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def write_ledger(folder: str | Path | None = None, *, out: str | Path | None = None) -> Path:
    """Write every stored notebook's rows as one Markdown table (default ``<figures>/claims_ledger.md``)."""
    stored = load(folder)
    path = Path(out) if out is not None else figures_dir() / LEDGER_NAME
    every = [f for rows in stored.values() for f in rows]
    counts = verdict_counts(every)
    lines = ["# Claims ledger", "",
             "Generated by `make reproduce` (`samlab.ledger.write_ledger`) from the notebooks' printed rows: do "
             "not edit. Each row: a claim of the seed papers (quoted exactly, with its source), what samlab "
             "compared at the notebook's scale, the estimate with its 95 % interval, and the verdict (supported: "
             "the interval lies on the claim's side and the Holm-adjusted p-value over the notebook's claims is "
             "below 0.05; contradicted: the same on the other side; unresolved: neither). For an unresolved paired "
             "row, the training seeds a paired test would need to resolve the effect at 80 % power. 'Rerun agrees': "
             "about how likely a rerun with new seeds (as many) repeats the verdict (`samlab.evidence."
             "rerun_probabilities`): a verdict near its threshold can change on another machine.", "",
             f"**{len(every)} findings: " + ", ".join(f"{n} {v}" for v, n in counts.items()) + ".**", ""]
    if not every:
        lines.append("No notebook has stored its rows yet: run `make reproduce`.")
    for notebook, rows in stored.items():
        lines += [f"## Notebook {notebook}", "",
                  "| claim | source | the paper says | compared | scale | estimate [95 % interval] | method | "
                  "verdict | rerun agrees | seeds to resolve |", "|---|---|---|---|---|---|---|---|---|---|"]
        for f in rows:
            c = f.claim
            p = "" if f.p_value is None else f"; p = {f.p_value:.2g}" + (
                "" if f.p_adjusted in (None, f.p_value) else f", Holm {f.p_adjusted:.2g}")
            method = f.method + ("" if f.n is None else f", n = {f.n}") + p
            est = f.estimate_text + (f" ({f.note})" if f.note and f.estimate is not None else "")
            seeds = "" if f.seeds_needed is None else str(f.seeds_needed)
            rerun = "" if f.rerun_agrees is None else f"{f.rerun_agrees:.0%}"
            lines.append("| " + " | ".join(_cell(x) for x in (
                c.key, c.source, f"\"{c.quote}\"", f.subject, f.scale, est, method, f"**{f.verdict}**", rerun,
                seeds))
                + " |")
        lines.append("")
    text = "\n".join(lines)
    atomic_write(path, lambda fh: fh.write(text), mode="w")
    return path
