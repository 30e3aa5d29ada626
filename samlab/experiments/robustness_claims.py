"""Notebook 05's readings: the paper's robustness claims (:data:`samlab.papers.PAPER_CLAIMS`) next to what our noise
and PCM curves show, computed from the stored results. A difference is called one only when it is larger than the
std over noise draws (or programming repeats) of both runs compared. With one training seed per setting the
seed-to-seed spread is not in that rule and the readings say so; on curves merged over seeds
(:func:`samlab.experiments.robustness.pool_seeds`, the MNIST-1D population) the std is over seeds and draws, so it
is. Built on
:mod:`samlab.experiments.robustness`.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

from ..analog import YEAR
from ..papers import paper_claims
from . import robustness as R
from .seeds import Setting

__all__ = ["compare", "readings", "pcm_readings", "spread_words"]


def spread_words(curves: Mapping[Setting, Mapping[str, Any]], what: str = "draws") -> str:
    """``"the std over draws"`` or, when some curve merges several training seeds, ``"the std over seeds and draws"``."""
    pooled = any(c.get("seeds", 1) > 1 for c in curves.values())
    return f"the std over {'seeds and ' if pooled else ''}{what}"


def compare(a: Mapping[str, Any], b: Mapping[str, Any], sigma: float) -> dict[str, Any]:
    """Accuracy of curve ``a`` minus ``b`` at ``sigma`` and whether it is clear: larger than the std over draws of
    each (the rule for every claim; with one training seed the seed spread is not in it)."""
    da, db = R._at(a, sigma), R._at(b, sigma)
    sa, sb = R._at(a, sigma, "std_acc"), R._at(b, sigma, "std_acc")
    delta = da - db
    return {"delta": delta, "std": max(sa, sb), "clear": abs(delta) > max(sa, sb) and delta != 0}


def readings(curves: Mapping[Setting, Mapping[str, Any]], configs: Mapping[Setting, Any], *,
             high: float = 0.4) -> list[dict[str, str]]:
    """The paper's robustness claims next to what ``curves`` show: ``[{"paper", "source", "ours"}]``.

    Every sentence of ``ours`` is computed from the curves; a difference is called one only when it exceeds the std
    over draws of both runs (:func:`compare`).
    """
    rows = R.robustness_rows(curves, configs, high=high)
    by = {r["setting"]: r for r in rows}
    sgd = Setting("SGD")
    spread = spread_words(curves)
    pooled = any(r["seeds"] > 1 for r in rows)
    pct = lambda x: f"{100 * x:.1f}%"  # noqa: E731
    out = []

    def add(topic: str, text: str) -> None:
        claim = paper_claims(topic)[0]
        out.append({"paper": claim.text, "source": claim.source, "ours": text})

    front = [r["name"] for r in rows if r["front"]]
    samson_front = [r["name"] for r in rows if r["front"] and _samson(r)]
    add("pareto", f"On the frontier of (clean, σc={high:g}): {', '.join(front)}. "
        + (f"SAMSON variants: {len(samson_front)} of {len(front)}." if front else ""))
    by_clean = sorted(rows, key=lambda r: -r["clean"])
    text = f"Best clean accuracy: {by_clean[0]['name']} ({pct(by_clean[0]['clean'])})"
    if len(by_clean) > 1:
        text += f", next {by_clean[1]['name']} ({pct(by_clean[1]['clean'])})"
    text += "; a SAMSON variant has it" if _samson(by_clean[0]) else "; not a SAMSON variant"
    if pooled and len(by_clean) > 1:
        c = compare(curves[by_clean[0]["setting"]], curves[by_clean[1]["setting"]], 0.0)
        text += (f", ahead by {pct(c['delta'])}: " + ("more than the std over seeds." if c["clear"] else
                                                      f"within the std over seeds ({pct(c['std'])}): no clear winner."))
    else:
        text += ". σc=0 has no spread over draws and each setting has one training seed: such a difference is not tested."
    add("clean", text)
    ranked = sorted(rows, key=lambda r: -r["high"])
    top, second = ranked[0], ranked[1] if len(ranked) > 1 else None
    text = f"Best at σc={high:g}: {top['name']} ({pct(top['high'])} ± {pct(top['high_std'])})"
    if second is not None:
        c = compare(curves[top["setting"]], curves[second["setting"]], high)
        text += (f", ahead of {second['name']} by {pct(c['delta'])}, "
                 + (f"more than {spread}." if c["clear"] else
                    f"within {spread} ({pct(c['std'])}): no clear winner."))
    sam_like = [r for r in rows if r["training"] == "plain" and r["key"] != "sgd"]
    if sgd in curves and sam_like:
        better = [r["name"] for r in sam_like if compare(curves[r["setting"]], curves[sgd], high)["clear"]
                  and r["high"] > by[sgd]["high"]]
        worse = [r["name"] for r in sam_like if compare(curves[r["setting"]], curves[sgd], high)["clear"]
                 and r["high"] < by[sgd]["high"]]
        text += (f" Plain runs clearly above SGD at σc={high:g}: {', '.join(better) or 'none'}"
                 + (f"; clearly below: {', '.join(worse)}" if worse else "") + ".")
    add("high_noise", text + ("" if pooled else " (One training seed per run.)"))
    parts = []
    for plain in [r["setting"] for r in rows if r["training"] == "plain"]:
        clipped = replace(plain, training="clipping")
        if clipped in curves:
            c = compare(curves[clipped], curves[plain], high)
            d0 = by[clipped]["clean"] - by[plain]["clean"]
            parts.append(f"{plain.label}: {'+' if c['delta'] >= 0 else ''}{pct(c['delta'])} at σc={high:g}"
                         f" ({'clear' if c['clear'] else 'within the spread'}), {'+' if d0 >= 0 else ''}{pct(d0)} clean")
    if parts:
        add("clipping", "Clipping vs plain: " + "; ".join(parts) + f". (spread: {spread})")
    parts = []
    for plain in [r["setting"] for r in rows if r["training"] == "plain"]:
        noisy, clipped = replace(plain, training="noise"), replace(plain, training="clipping")
        if noisy in curves:
            c = compare(curves[noisy], curves[plain], high)
            s = f"{noisy.label} vs {plain.label}: {'+' if c['delta'] >= 0 else ''}{pct(c['delta'])} at σc={high:g} " \
                f"({'clear' if c['clear'] else 'within the spread'})"
            if clipped in curves:
                cc = compare(curves[clipped], curves[noisy], high)
                s += f", clipping vs noise {'+' if cc['delta'] >= 0 else ''}{pct(cc['delta'])} " \
                     f"({'clear' if cc['clear'] else 'within the spread'})"
            parts.append(s)
    if parts:
        add("noise", "; ".join(parts) + f". (spread: {spread})")
    return out


def _samson(row: Mapping[str, Any]) -> bool:
    return row["setting"].method.startswith("SAMSON")


def pcm_readings(pcm: Mapping[Setting, Mapping[str, Any]], t: float | None = None) -> dict[str, str]:
    """The paper's PCM claim (sec. 7.1 / Fig. 5) next to what ``pcm`` shows at read time ``t`` (default 1 year):
    the best run, whether its lead over the second exceeds the std over programming repeats of both, and the
    sharpness-aware runs clearly above SGD's."""
    claim = paper_claims("pcm")[0]
    rows = sorted(R.pcm_rows(pcm, t), key=lambda r: -r["acc"])
    if not rows:
        return {"paper": claim.text, "source": claim.source, "ours": "no PCM curve computed"}
    pct = lambda x: f"{100 * x:.1f}%"  # noqa: E731
    over = spread_words(pcm, "repeats")
    when = "1 year" if abs(rows[0]["time_s"] / YEAR - 1) < 1e-6 else f"{rows[0]['time_s']:.3g} s"
    top = rows[0]
    n = (f"{top['seeds']} seeds × {top['repeats'] // top['seeds']} repeats" if top["seeds"] > 1
         else f"{top['repeats']} repeats")
    text = f"{when} after programming, best: {top['name']} ({pct(top['acc'])} ± {pct(top['std'])}, {n}; " \
           f"digital {pct(top['digital'])})"
    if len(rows) > 1:
        second = rows[1]
        lead, spread = top["acc"] - second["acc"], max(top["std"], second["std"])
        text += f", ahead of {second['name']} by {pct(lead)}: " + (
            f"more than {over}." if lead > spread and top["repeats"] > 1 else
            f"not more than {over} (or a single repeat): no clear winner.")
    sgd = next((r for r in rows if r["setting"] == Setting("SGD")), None)
    if sgd is not None:
        above = [r["name"] for r in rows if r is not sgd and r["acc"] - sgd["acc"] > max(r["std"], sgd["std"])
                 and r["repeats"] > 1]
        text += f" Clearly above SGD ({pct(sgd['acc'])}): {', '.join(above) or 'none'}."
    clipped = [r for r in rows if r["setting"].training == "clipping"]
    if len(clipped) > 1:
        a, b = clipped[0], clipped[1]
        clear = a["acc"] - b["acc"] > max(a["std"], b["std"]) and a["repeats"] > 1
        text += (f" Among the clipped runs (the paper's Fig. 5 set): best {a['name']} ({pct(a['acc'])} ± {pct(a['std'])}), "
                 f"{'clearly' if clear else f'not clearly (within {over})'} ahead of {b['name']} "
                 f"({pct(b['acc'])}).")
    return {"paper": claim.text, "source": claim.source, "ours": text}
