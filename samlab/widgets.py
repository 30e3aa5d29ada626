"""Shared notebook controls and one wiring helper, :func:`interactive_figure`, used by every notebook.

Controls are built once by the constructors here (``rho_slider``, ``p_selector``, ``c_slider``, ...), so
the same knob looks and behaves the same in every notebook. :func:`interactive_figure` wires a draw
function to them the way ``ipywidgets.interactive_output`` does (observe ``value``, redraw into one
``Output``), with three additions:

* the draw function *returns* what to show (a Figure, a string, or a list of them); the helper renders it
  (figures to PNG, then dropped: no pyplot figure is left open) and replaces the Output's ``outputs`` in
  one assignment, so the view never flickers and the callback works headless (tests set ``.value`` and
  read ``out.outputs``);
* a ``ValueError`` from the draw function (bad rho, c, method...) is shown as a one-line message in the
  output instead of a traceback from deep inside;
* slow draws get a Run button: with ``needs_run(**values)`` returning True the output says what a click
  will compute; cached settings redraw at once.
"""
from __future__ import annotations

import base64
import html
import math
import time
import traceback
from typing import Any, Callable, Mapping, Sequence

import ipywidgets as W

from .checks import check_number

__all__ = [
    "P_CHOICES", "rho_slider", "p_selector", "c_slider", "range_slider", "choice_selector", "toggle",
    "interactive_figure", "render_outputs", "error_output",
    "scale_invariance_explorer", "perturbation_explorer", "variance_explorer",
]

#: The p values offered by :func:`p_selector`: 1 to 8 and infinity.
P_CHOICES: tuple[tuple[str, float], ...] = tuple((str(i), float(i)) for i in range(1, 9)) + (("∞", math.inf),)

_STYLE = {"description_width": "initial"}
_LAYOUT = {"width": "320px"}


def rho_slider(method: str = "sam", *, value: float | None = None, max: float | None = None,
               step: float | None = None, description: str | None = None) -> W.FloatSlider:
    """Neighbourhood radius rho; default value, range and step follow the method's paper default."""
    from .methods import DEFAULT_RHO

    default = DEFAULT_RHO.get(method, 0.05)
    value = default if value is None else check_number("rho", value, low=0.0)
    hi = max if max is not None else (0.5 if default <= 0.1 else 2.0)
    hi = float(hi) if hi >= value else value
    st = step if step is not None else (0.005 if hi <= 0.5 else 0.05)
    return W.FloatSlider(value=value, min=0.0, max=hi, step=st, description=description or "ρ",
                         readout_format=".3g", continuous_update=False, style=_STYLE, layout=_LAYOUT)


def p_selector(value: float = 2.0, *, description: str = "p") -> W.Dropdown:
    """SAMSON's norm order p: 1 to 8 or infinity (eq. 6)."""
    value = check_number("p", value, low=1.0, allow_inf=True)
    if value not in [v for _, v in P_CHOICES]:
        raise ValueError(f"p={value!r} is not offered; choose one of 1..8 or inf")
    return W.Dropdown(options=list(P_CHOICES), value=value, description=description, style=_STYLE,
                      layout={"width": "160px"})


def c_slider(value: float = 0.1, *, min: float = 0.01, max: float = 0.5, step: float = 0.01,
             description: str = "c") -> W.FloatSlider:
    """Weight range c (weights restricted to [-c, c]; SAMSON Fig. 1 and Algorithm 1)."""
    value = check_number("c", value, low=0.0, low_open=True)
    return W.FloatSlider(value=value, min=min, max=max, step=step, description=description,
                         readout_format=".2f", continuous_update=False, style=_STYLE, layout=_LAYOUT)


def range_slider(value: tuple[float, float] = (0.5, 1.5), *, min: float = 0.1, max: float = 3.0,
                 step: float = 0.05, description: str = "range") -> W.FloatRangeSlider:
    """A [low, high] interval (e.g. the range of the positive scaling factors tau)."""
    return W.FloatRangeSlider(value=value, min=min, max=max, step=step, description=description,
                              readout_format=".2f", continuous_update=False, style=_STYLE, layout=_LAYOUT)


def choice_selector(options: Sequence[Any], value: Any = None, *, description: str = "") -> W.Dropdown:
    """A dropdown over ``options`` (values or ``(label, value)`` pairs)."""
    opts = list(options)
    values = [o[1] if isinstance(o, tuple) else o for o in opts]
    value = values[0] if value is None else value
    if value not in values:
        raise ValueError(f"{description or 'value'}={value!r} is not one of {values}")
    return W.Dropdown(options=opts, value=value, description=description, style=_STYLE,
                      layout={"width": "260px"})


def toggle(value: bool = False, *, description: str = "") -> W.Checkbox:
    """An on/off switch."""
    return W.Checkbox(value=bool(value), description=description, indent=False, style=_STYLE)


# ------------------------------------------------------------------------------------------------ rendering

def _figure_bundle(fig: Any, dpi: int) -> dict:
    from .plots import figure_png

    png = base64.b64encode(figure_png(fig, dpi=dpi)).decode("ascii")
    return {"output_type": "display_data", "data": {"image/png": png, "text/plain": repr(fig)}, "metadata": {}}


def _html_bundle(text: str) -> dict:
    return {"output_type": "display_data", "data": {"text/html": text, "text/plain": text}, "metadata": {}}


def error_output(exc: BaseException) -> dict:
    """An output bundle with a short, readable message for ``exc`` (no traceback for ValueError)."""
    if isinstance(exc, ValueError):
        msg = f"<b>Cannot draw:</b> {html.escape(str(exc))}"
        plain = f"Cannot draw: {exc}"
    else:
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-3))
        msg = f"<b>{type(exc).__name__}:</b> {html.escape(str(exc))}<pre>{html.escape(tb)}</pre>"
        plain = f"{type(exc).__name__}: {exc}"
    return {"output_type": "display_data",
            "data": {"text/html": f'<div style="color:#b00020">{msg}</div>', "text/plain": plain},
            "metadata": {}}


def render_outputs(result: Any, *, dpi: int = 80) -> tuple[dict, ...]:
    """Turn what a draw function returned (Figure, str, object with ``_repr_html_``, or a list) into outputs."""
    from matplotlib.figure import Figure

    items = result if isinstance(result, (list, tuple)) else [result]
    out = []
    for item in items:
        if item is None:
            continue
        if isinstance(item, Figure):
            out.append(_figure_bundle(item, dpi))
        elif isinstance(item, str):
            out.append({"output_type": "stream", "name": "stdout", "text": item if item.endswith("\n") else item + "\n"})
        elif hasattr(item, "_repr_html_"):
            out.append(_html_bundle(item._repr_html_()))
        else:
            out.append({"output_type": "stream", "name": "stdout", "text": f"{item}\n"})
    return tuple(out)


def interactive_figure(draw: Callable[..., Any], controls: Mapping[str, W.ValueWidget], *,
                       continuous: bool = False, needs_run: Callable[..., bool] | None = None,
                       run_label: str = "Run", describe_run: Callable[..., str] | None = None,
                       dpi: int = 80, columns: int = 3, show_time: bool = False) -> tuple[W.VBox, W.Output]:
    """Wire ``draw(**values)`` to ``controls`` and return ``(ui, out)``; display ``ui`` in the notebook.

    ``draw`` returns what to show (see :func:`render_outputs`). ``continuous`` sets every slider's
    ``continuous_update`` (redraw while dragging; only for draws well under 100 ms). With ``needs_run``,
    a change whose ``needs_run(**values)`` is True shows ``describe_run(**values)`` and waits for the Run
    button; otherwise it redraws at once. While ``draw`` runs inside a kernel, its printing and progress
    bars appear in ``out``; the result then replaces them. ``show_time`` adds a line with the time of the
    redraw (draw plus rendering to PNG); ``ui.timing['last_redraw_ms']`` holds it either way.
    """
    if not controls:
        raise ValueError("controls must name at least one widget")
    for name, w in controls.items():
        if not hasattr(w, "value"):
            raise ValueError(f"controls[{name!r}] is a {type(w).__name__}, not a value widget")
        if hasattr(w, "continuous_update"):
            w.continuous_update = bool(continuous)
    out = W.Output()
    state: dict[str, float] = {}
    button = W.Button(description=run_label, button_style="primary", icon="play") if needs_run else None

    def values() -> dict[str, Any]:
        return {k: w.value for k, w in controls.items()}

    def redraw(force: bool = False) -> None:
        vals = values()
        try:
            if needs_run is not None and not force and needs_run(**vals):
                text = describe_run(**vals) if describe_run else f"Not computed yet: click {run_label}."
                out.outputs = render_outputs(text)
                if button is not None:
                    button.disabled = False
                return
            start = time.perf_counter()
            with out:  # inside a kernel: progress bars and prints of a long draw show here meanwhile
                result = draw(**vals)
            rendered = render_outputs(result, dpi=dpi)
            ms = (time.perf_counter() - start) * 1e3
            state["last_redraw_ms"] = ms
            if show_time:
                rendered += render_outputs(f"redrawn in {ms:.0f} ms (computation + rendering)")
            out.outputs = rendered
            if button is not None:
                button.disabled = True
        except Exception as exc:  # noqa: BLE001 - shown to the user, never swallowed silently
            out.outputs = (error_output(exc),)

    for w in controls.values():
        w.observe(lambda _change: redraw(), names="value")
    widgets = list(controls.values())
    rows = [W.HBox(widgets[i:i + columns]) for i in range(0, len(widgets), columns)]
    if button is not None:
        button.on_click(lambda _b: redraw(force=True))
        rows.append(button)
    redraw()
    ui = W.VBox([*rows, out])
    ui.redraw = redraw  # type: ignore[attr-defined]  # for tests and notebooks: redraw(force=True) runs
    ui.button = button  # type: ignore[attr-defined]
    ui.timing = state  # type: ignore[attr-defined]  # {"last_redraw_ms": ...}
    return ui, out


# ------------------------------------------------------------------------------------------ notebooks 01-03

def scale_invariance_explorer(*, rho: float = 0.05, p: float = 2.0, tau_range: tuple[float, float] = (0.5, 1.5),
                              scaling: str = "no biases", asam_adaptive: str = "weights", k: int = 50,
                              seed: int = 0) -> tuple[W.VBox, W.Output]:
    """Notebook 01: logits and SAM/ASAM/SAMSON sharpness across ``k`` positive scalings, with the bias caveat."""
    from .experiments import scale_invariance as toy
    from .plots import plot_scale_invariance

    cache: dict[tuple, dict] = {}

    def draw(rho: float, p: float, tau_range: tuple[float, float], scaling: str, asam_adaptive: str):
        key = (round(rho, 6), p, tuple(round(t, 6) for t in tau_range), scaling, asam_adaptive)
        if key not in cache:
            cache[key] = toy.scale_invariance_study(rho=rho, p=p, tau_range=tau_range, scaling=scaling,
                                                    asam_adaptive=asam_adaptive, k=k, seed=seed)
        res = cache[key]
        fig = plot_scale_invariance(res["logits"], res["sharpness"], labels=res["labels"], colors=res["colors"],
                                    title=f"{scaling}; ASAM/SAMSON normalise {asam_adaptive}; ρ = {rho:g}")
        return [fig, toy.format_spreads(res)]

    controls = {
        "rho": rho_slider("sam", value=rho, max=0.5),
        "p": p_selector(p),
        "tau_range": range_slider(tau_range, description="τ range"),
        "scaling": choice_selector(list(toy.SCALINGS), scaling, description="biases"),
        "asam_adaptive": choice_selector([("weights only (official ASAM)", "weights"), ("weights and biases", "all")],
                                         asam_adaptive, description="T applies to"),
    }
    return interactive_figure(draw, controls, columns=3)


def perturbation_explorer(*, rho: float = 0.5, p: float = 2.0, c: float = 0.1, show_time: bool = True,
                          **profile_kwargs: Any) -> tuple[W.VBox, W.Output]:
    """Notebook 02 (SAMSON Fig. 1): eps* against w with rho, p and c; continuous redraw, timed.

    p = inf has one panel fewer (SAMSON_p is SAMSON_inf), so the explorer keeps one figure per layout, each
    with its cached panels, and renders the layout not shown once when it is built (about 0.2 s): choosing
    p = inf, or leaving it, then redraws only the panels that changed instead of a whole new figure.
    """
    from .plots import figure_png, plot_perturbation_profiles
    from .experiments.perturbation_profiles import perturbation_profiles, profile_limits

    dpi = 72
    figs: dict[bool, Any] = {}          # is p infinite -> its figure
    controls = {"rho": rho_slider("samson", value=rho, max=2.0, step=0.01), "p": p_selector(p),
                "c": c_slider(c, max=0.25, step=0.005)}
    c_range = [controls["c"].min, controls["c"].max, *profile_kwargs.get("cs", (0.1, 0.15, 0.2))]
    layer = {k: v for k, v in profile_kwargs.items() if k in ("n", "std", "seed")}

    def draw(rho: float, p: float, c: float):
        profiles = perturbation_profiles(rho=rho, p=p, c=c, **profile_kwargs)
        # axes cover the c slider's whole range: dragging c only redraws the lines
        ymax = profile_limits(rho=rho, p=p, c_values=c_range, eta=profile_kwargs.get("eta", 0.0), **layer)
        layout = math.isinf(p)
        figs[layout] = plot_perturbation_profiles(profiles, highlight=c, fig=figs.get(layout), ymax=ymax,
                                                  xmax=max(c_range))
        return figs[layout]

    ui, out = interactive_figure(draw, controls, continuous=True, show_time=show_time, dpi=dpi)
    if figs:  # the first draw worked: render the other layout once, off screen
        figure_png(draw(controls["rho"].value, 2.0 if math.isinf(controls["p"].value) else math.inf,
                        controls["c"].value), dpi=dpi)
    return ui, out


def variance_explorer(study: Any, *, rho: float = 0.5, p: float = 2.0, train_variance: float = 15.0,
                      band: str = "min-max") -> tuple[W.VBox, W.Output]:
    """Notebook 03: test error against test variance for one training variance; new settings need Run."""
    from .data.variance2d import variance2d_bayes_error
    from .plots import plot_generalization_curves
    from .experiments.variance_generalization import TRAIN_VARIANCES, compare_methods

    def draw(rho: float, p: float, train_variance: float):
        curves = study.curves(rho=rho, p=p, train_variances=[train_variance], verbose=False)
        bayes = [variance2d_bayes_error(v) for v in study.test_variances]
        fig = plot_generalization_curves(study.test_variances, curves, labels=study.labels(p),
                                         colors=study.colors(p), band=band, reference=bayes)
        return [fig, compare_methods(curves[float(train_variance)], study.test_variances,
                                     labels=study.labels(p, plain=True))]

    def missing(rho: float, p: float, train_variance: float) -> bool:
        return bool(study.missing(rho=rho, p=p, train_variances=[train_variance]))

    def describe(rho: float, p: float, train_variance: float) -> str:
        n = len(study.missing(rho=rho, p=p, train_variances=[train_variance]))
        return (f"ρ = {rho:g}, p = {p:g}, trained on σ² = {train_variance:g}: {n} runs are not computed yet "
                f"(about {n * study.seconds_per_run:.0f} s). Click Run to train them; they are then cached.")

    controls = {"rho": rho_slider("asam", value=rho, max=2.0, step=0.05), "p": p_selector(p),
                "train_variance": choice_selector([(f"{v:g}", v) for v in TRAIN_VARIANCES], float(train_variance),
                                                  description="training σ²")}
    return interactive_figure(draw, controls, needs_run=missing, describe_run=describe)


# ------------------------------------------------------------------------------------------------ notebook 04

def stored_run_explorer(results: Sequence[Any], *, reference: str = "SGD", title: str = "",
                        dpi: int = 80) -> tuple[W.VBox, W.Output]:
    """Notebook 04: choose a stored training run by method, rho and p; draw its learning curves (never trains).

    ``results``: finished :class:`samlab.runs.RunResult` of :class:`samlab.train.TrainConfig` runs (e.g. every
    finished run in the store of one model and data set). The run named ``reference`` (a plain label such as
    ``"SGD"``) is drawn in grey for comparison. A combination that was never trained is reported, with the
    command that trains it.
    """
    from .plots import plot_learning_curves
    from .experiments.cifar import learning_curve

    runs = [r for r in results if getattr(r, "finished", False) and hasattr(r.config, "method")]
    if not runs:
        raise ValueError("results holds no finished training run to choose from")
    methods = list(dict.fromkeys(r.config.method for r in runs))
    rhos = sorted({r.config.rho for r in runs})
    ps = sorted({r.config.p for r in runs})
    ref = next((r for r in runs if r.config.label == reference), None)
    first = runs[0].config
    controls = {
        "method": choice_selector(methods, first.method, description="method"),
        "rho": choice_selector([(f"{x:g}", x) for x in rhos], first.rho, description="ρ"),
        "p": choice_selector([(("∞" if math.isinf(x) else f"{x:g}"), x) for x in ps], first.p, description="p"),
    }

    def follow_method(change: dict) -> None:
        """Jump rho and p to the method's first stored run, so a method change shows a run, not an error."""
        mine = [r.config for r in runs if r.config.method == change["new"]]
        if mine and (controls["rho"].value, controls["p"].value) not in {(c.rho, c.p) for c in mine}:
            controls["rho"].value, controls["p"].value = mine[0].rho, mine[0].p

    controls["method"].observe(follow_method, names="value")  # before interactive_figure: runs first

    def draw(method: str, rho: float, p: float) -> Any:
        hits = [r for r in runs if (r.config.method, r.config.rho, r.config.p) == (method, rho, p)]
        if not hits:
            have = sorted({(r.config.method, r.config.rho, r.config.p) for r in runs if r.config.method == method})
            options = ", ".join(f"rho={h[1]:g}, p={h[2]:g}" for h in have)
            raise ValueError(f"no stored run with method={method!r}, rho={rho:g}, p={p:g}; stored {method} runs: "
                             f"{options or 'none'}. Train one with: python -m samlab train --method {method} "
                             f"--rho {rho:g} --p {p:g} ... (same model, data and schedule as the others)")
        r = hits[0]
        curves = [learning_curve(r)]
        if ref is not None and ref is not r:
            curves.append({**learning_curve(ref), "key": "base"})
        s = r.summary
        fig = plot_learning_curves(curves, ncols=2, title=title or None)
        train_acc = s.get("train_eval_acc", s["train_acc"])
        text = (f"{r.config.label}: test {100 * s['test_acc']:.2f}%, train {100 * train_acc:.2f}%, "
                f"gap {100 * (train_acc - s['test_acc']):.2f} points, {s['images_per_s']:.0f} images/s "
                f"({len(hits)} stored run{'s' * (len(hits) != 1)} match; showing seed {r.config.seed})")
        return [text, fig]

    return interactive_figure(draw, controls, dpi=dpi)

__all__ += ["stored_run_explorer"]
