"""samlab.widgets headless: the shared controls, the interactive-figure core and the notebooks' explorers.

The callback tests build the controls with the same functions the notebooks call, set a control's ``.value``
and check that the figure Output's ``outputs`` changed (or show a one-line message for bad input), and count
redraws: one change, one redraw.
"""
from __future__ import annotations

import base64
import math

import pytest

from samlab import plots, widgets
from samlab.experiments import variance_generalization as variance_study
from samlab.runs import RunStore


def _texts(out) -> str:
    return "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in out.outputs)


def _pngs(out) -> list[bytes]:
    return [base64.b64decode(o["data"]["image/png"]) for o in out.outputs
            if o.get("output_type") == "display_data" and "image/png" in o.get("data", {})]


def _png_width(png: bytes) -> int:
    return int.from_bytes(png[16:20], "big")


def _controls(ui) -> dict:
    return {w.description: w for w in ui.controls.values()}


# ------------------------------------------------------------------------------------------- controls

def test_shared_controls():
    assert widgets.rho_slider("sam").value == 0.05 and widgets.rho_slider("asam").value == 0.5
    p = widgets.p_selector()
    assert p.value == 2.0 and [v for _, v in p.options] == [1, 2, 3, 4, 5, 6, 7, 8, math.inf]
    assert widgets.c_slider().value == 0.1
    assert widgets.c_slider(step=0.005).readout_format == ".3f" and widgets.c_slider().readout_format == ".2f"
    assert widgets.rho_slider("sam").readout_format == ".3f"          # step 0.005
    wide = widgets.choice_selector([("weights only (official ASAM)", "w"), ("b", "b")], description="T applies to")
    assert wide.layout.width == f"{len('weights only (official ASAM)') + len('T applies to') + 8}ch"
    with pytest.raises(ValueError, match="rho"):
        widgets.rho_slider(value=-0.1)
    with pytest.raises(ValueError, match="c="):
        widgets.c_slider(0.0)
    with pytest.raises(ValueError, match="p="):
        widgets.p_selector(0.5)
    with pytest.raises(ValueError, match="x=3 is not one of"):
        widgets.choice_selector([1, 2], 3, description="x")
    assert not hasattr(widgets, "toggle")


def test_slider_steps_are_exact_in_the_browser():
    """A browser slider sends back its own snapped value when displayed; on our grids it equals the kernel's."""
    from samlab.widgets.controls import browser_snap

    assert browser_snap(0.1, 0.01, 0.25, 0.005) != 0.1          # the old c slider: 0.09999999999999999
    for s in (widgets.c_slider(max=0.25, step=0.005), widgets.c_slider(), widgets.rho_slider("sam"),
              widgets.rho_slider("samson", max=2.0, step=0.01), widgets.rho_slider("asam", max=2.0, step=0.05)):
        grid = [round(s.min + i * s.step, 6) for i in range(round((s.max - s.min) / s.step) + 1)]
        assert [v for v in grid if browser_snap(v, s.min, s.max, s.step) != v] == [], s.description


# ---------------------------------------------------------------------------------------------- core

def test_interactive_figure_redraws_and_shows_errors_as_one_line():
    calls = []

    def draw(rho, c):
        calls.append((rho, c))
        if c > 0.3:
            raise ValueError(f"c={c} is too large for this demo")
        if c > 0.25:
            raise RuntimeError("a bug")
        fig, ax = plots.new_figure()
        ax[0, 0].plot([0, 1], [0, rho])
        return [fig, f"rho={rho}"]

    rho, c = widgets.rho_slider("sam"), widgets.c_slider()
    ui, out = widgets.interactive_figure(draw, {"rho": rho, "c": c}, show_time=True, min_width_px=500)
    assert isinstance(ui, widgets.Explorer) and out is ui.out and ui.progress is not out
    assert rho.continuous_update is False and ui.redraws == 1
    first = out.outputs
    assert len(_pngs(out)) == 1 and "rho=0.05" in _texts(out) and "redrawn in" in _texts(out)
    assert _png_width(_pngs(out)[0]) >= 500
    message = [o for o in out.outputs if "rho=0.05" in o.get("data", {}).get("text/plain", "")][0]
    assert "white-space: normal" in message["data"]["text/html"]     # wraps between words in the browser
    rho.value = 0.1
    assert out.outputs != first and "rho=0.1" in _texts(out) and ui.timing["last_redraw_ms"] > 0
    c.value = 0.4
    assert _texts(out) == "Cannot draw: c=0.4 is too large for this demo" and len(out.outputs) == 1
    c.value = 0.28
    assert _texts(out) == "RuntimeError: a bug"
    assert len(calls) == 4 and ui.redraws == 4
    with ui.hold():                                   # two changes, one redraw
        rho.value, c.value = 0.2, 0.2
    assert ui.redraws == 5 and calls[-1] == (0.2, 0.2)
    with ui.hold():                                   # nothing changed: no redraw
        pass
    assert ui.redraws == 5


def test_interactive_figure_with_a_run_button():
    computed = set()

    def draw(x):
        computed.add(x)
        return f"drawn {x}"

    x = widgets.c_slider(0.1)
    ui, out = widgets.interactive_figure(draw, {"x": x}, needs_run=lambda x: x not in computed,
                                         describe_run=lambda x: f"click Run for {x}")
    assert _texts(out) == "click Run for 0.1" and not ui.button.disabled
    ui.button.click()
    assert _texts(out) == "drawn 0.1" and ui.button.disabled and ui.timing["last_run_s"] >= 0
    x.value = 0.2
    assert "click Run for 0.2" in _texts(out)
    x.value = 0.1
    assert _texts(out) == "drawn 0.1"    # cached: drawn at once, no click


def test_an_input_error_leaves_the_run_button_off():
    """Issue 19, item 3: after an input error, Run only repeated the error; it stays off until the input changes."""
    def needs_run(x):
        if x > 0.3:
            raise ValueError(f"x={x} is out of range")
        return True

    x = widgets.c_slider(0.1)
    ui, out = widgets.interactive_figure(lambda x: f"drawn {x}", {"x": x}, needs_run=needs_run,
                                         describe_run=lambda x: f"click Run for {x}")
    assert not ui.button.disabled
    x.value = 0.4
    assert "out of range" in _texts(out) and ui.button.disabled
    x.value = 0.2
    assert _texts(out) == "click Run for 0.2" and not ui.button.disabled


def test_dependents_move_with_one_redraw():
    a, b = widgets.choice_selector([1, 2], description="a"), widgets.choice_selector([10, 11], description="b")
    seen = []
    ui, out = widgets.interactive_figure(lambda a, b: seen.append((a, b)) or f"{a} {b}", {"a": a, "b": b},
                                         dependents={"a": lambda new: setattr(b, "options", [10 * new, 10 * new + 1])})
    a.value = 2
    assert seen == [(1, 10), (2, 20)] and _texts(out) == "2 20" and ui.redraws == 2
    with pytest.raises(ValueError, match="dependents names 'c'"):
        widgets.interactive_figure(lambda a: a, {"a": a}, dependents={"c": print})
    ui.close()
    assert a.comm is None and ui.out.comm is None   # closed with the explorer


# ------------------------------------------------------------------------------------ notebook builders

def test_notebook01_explorer_callbacks():
    ui, out = widgets.scale_invariance_explorer(k=8)
    ctl = _controls(ui)
    text = _texts(out)
    assert len(_pngs(out)) == 1 and "ASAM" in text and "spread" in text and _png_width(_pngs(out)[0]) >= 560
    before = out.outputs
    ctl["τ range"].value = (0.2, 2.0)
    assert out.outputs != before and len(_pngs(out)) == 1
    ctl["biases"].value = "biases scaled"
    asam = [ln for ln in _texts(out).splitlines() if ln.strip().startswith("ASAM")][0]
    assert float(asam.split()[1]) > 1e-3             # weights-only ASAM is no longer constant (in %)
    ctl["T applies to"].value = "all"
    asam = [ln for ln in _texts(out).splitlines() if ln.strip().startswith("ASAM")][0]
    assert float(asam.split()[1]) < 1e-6
    ctl["p"].value = math.inf
    assert "SAMSON₂" not in _texts(out) and "SAMSON∞" in _texts(out)
    ctl["ρ"].value = 0.0
    assert _texts(out).startswith("Cannot draw: rho=0.0 is out of range")


def test_notebook02_explorer_callbacks_and_redraw_time():
    ui, out = widgets.perturbation_explorer()
    ctl = _controls(ui)
    first = _pngs(out)
    assert len(first) == 1 and "redrawn in" in _texts(out)
    assert ctl["c"].readout_format == ".3f" and ctl["c"].continuous_update
    times = []
    for c in (0.11, 0.12, 0.13):
        ctl["c"].value = c
        times.append(ui.timing["last_redraw_ms"])
    assert _pngs(out) != first
    ctl["p"].value = 4.0
    ctl["ρ"].value = 1.0
    assert len(_pngs(out)) == 1 and ui.redraws == 6
    assert min(times) < 1000, f"a c-slider redraw took {min(times):.0f} ms"   # loose: the CI box is shared
    with pytest.raises(ValueError, match="c="):
        widgets.perturbation_explorer(c=0.0)


def test_notebook03_explorer_runs_on_click_and_recalls_from_cache(tmp_path):
    study = variance_study.VarianceStudy("smoke", store=RunStore(tmp_path / "runs"), seeds=(0,), epochs=1,
                                         n_train=100, n_test=100, test_variances=(1.0, 30.0))
    ui, out = widgets.variance_explorer(study, train_variance=1.0)
    ctl = _controls(ui)
    assert "not computed yet" in _texts(out) and "a few seconds" in _texts(out) and not _pngs(out)
    ui.button.click()
    assert len(_pngs(out)) == 1 and "paired by seed" in _texts(out) and "trained 5 runs in" in _texts(out)
    assert _png_width(_pngs(out)[0]) >= 560
    assert ui.progress.outputs == ()                      # the progress bars are gone, the figure stays
    ctl["training σ²"].value = 5.0
    assert "not computed yet" in _texts(out) and "judging by the last Run" in _texts(out)
    ctl["training σ²"].value = 1.0
    assert len(_pngs(out)) == 1 and "trained" not in _texts(out)   # cached: drawn without a click
    ctl["p"].value = math.inf                        # SAMSON_inf is cached, p = inf needs nothing new
    assert len(_pngs(out)) == 1


# ------------------------------------------------------------------------------------------- notebook 04b

def test_rho_sweep_explorer_shows_the_chosen_sweep_and_redraws_once_per_change():
    row = dict(test_acc=80.04, test_acc_ci=1.25, train_acc=95.0, gap=14.96, gap_ci=0.8, calib_acc=79.5, n=3,
               train_time_s=2.04)
    summary = [dict(row, model="mlp", method="SGD", rho=0.0), dict(row, model="mlp", method="Adam", rho=0.0),
               dict(row, model="mlp", method="SAM", rho=0.05), dict(row, model="mlp", method="SAM", rho=0.1),
               dict(row, model="cnn", method="SAM", rho=0.2, test_acc=90.0)]
    ui, out = widgets.rho_sweep_explorer(summary)
    c = _controls(ui)
    assert (c["model"].value, c["method"].value) == ("mlp", "SAM")          # the third method, as the notebook had
    assert [o["output_type"] for o in out.outputs][:1] == ["display_data"] and "image/png" in out.outputs[0]["data"]
    assert ("rho 0.05  test  80.0 +- 1.2   train  95.0   gap  15.0   calibration  79.5   "
            "(3 seeds, 2.0 s per run)\n"
            "rho 0.1   test  80.0 +- 1.2   train  95.0   gap  15.0   calibration  79.5   "
            "(3 seeds, 2.0 s per run)") in _texts(out)
    fig, _ = widgets.rho_sweep.rho_sweep_figure(summary, "mlp", "SAM")
    labels = fig.axes[0].get_legend_handles_labels()[1] + [t.get_text() for lg in fig.legends for t in lg.get_texts()]
    assert any("SGD" in s for s in labels) and any("Adam" in s for s in labels) and any("SAM" in s for s in labels)
    before = ui.redraws
    c["model"].value = "cnn"
    assert ui.redraws == before + 1 and "rho 0.2   test  90.0" in _texts(out)
    c["method"].value = "Adam"                                               # cnn has no Adam row: said in one line
    assert "no summary rows for model='cnn' and method='Adam'" in _texts(out)
    with pytest.raises(ValueError, match="no rows"):
        widgets.rho_sweep_explorer([])
    ui.close()


def test_relabel_keeps_the_value_without_a_redraw():
    d = widgets.choice_selector([("a (not stored)", 1), ("b", 2)], 2, description="d")
    ui, out = widgets.interactive_figure(lambda d: f"drawn {d}", {"d": d})
    before = ui.redraws
    ui.relabel("d", [("a (stored)", 1), ("b", 2)])
    assert d.value == 2 and d.label == "b" and ui.redraws == before and d.options[0][0] == "a (stored)"
    with pytest.raises(ValueError, match="keeps the values"):
        ui.relabel("d", [("c", 3), ("b", 2)])


def test_robustness_explorer_clipping_label_follows_run(tmp_path):
    """Issue 19, item 4: after Run stored a c, its dropdown label still said "(not stored)"."""
    from samlab.experiments import robustness as R
    from samlab.experiments.seeds import Setting
    from samlab.runs import RunStore
    from samlab.train import train_all

    store = RunStore(tmp_path / "runs")
    configs = {k: v for k, v in R.population("smoke").items() if k in (Setting("SGD"), Setting("SGD", "clipping"))}
    train_all(list(configs.values()), store=store, progress=False)
    R.noise_curves(configs, R.noise_curve_spec("smoke"), store=store, progress=False)
    ui, out = widgets.robustness_explorer(configs, "smoke", store=store, pcm=False)
    label = dict((v, k) for k, v in ui.controls["c"].options)
    assert label[0.05] == "c = 0.05 (not stored)"
    ui.controls["c"].value = 0.05
    ui.button.click()
    label = dict((v, k) for k, v in ui.controls["c"].options)
    assert label[0.05] == "c = 0.05 (stored)" and ui.controls["c"].value == 0.05
    assert any("image/png" in o["data"] for o in out.outputs if "data" in o)
    ui.close()


def test_robustness_explorer_reads_the_store_once_per_c_and_redraws_only_what_changed(tmp_path, monkeypatch):
    """Issue 19 (notebook 05, 1.4 s per move): a move of the methods or of the sigma_c range reads nothing from
    the store, and a state seen before is shown without drawing."""
    from samlab.experiments import robustness as R
    from samlab.runs import RunStore
    from samlab.train import train_all
    from samlab.widgets import robustness as W05

    store = RunStore(tmp_path / "runs")
    configs = {k: v for k, v in R.population("smoke").items() if k.training != "clipping"}
    train_all(list(configs.values()), store=store, progress=False)
    R.noise_curves(configs, R.noise_curve_spec("smoke"), store=store, progress=False)
    reads, plots, built = [], [], []
    real_read = store.stored_measure

    class Counted(W05.RobustnessBoard):
        def __init__(self, *a, **k):
            built.append(1)
            super().__init__(*a, **k)

        def show(self, shown, front, sigma_range, time):
            plots.append(tuple(sigma_range))
            return super().show(shown, front, sigma_range, time)

    monkeypatch.setattr(store, "stored_measure", lambda *a, **k: reads.append(1) or real_read(*a, **k))
    monkeypatch.setattr(W05, "RobustnessBoard", Counted)
    ui, out = widgets.robustness_explorer(configs, "smoke", store=store, pcm=False)
    assert plots and _pngs(out) and built == [1]
    n_reads, n_plots = len(reads), len(plots)
    hi = ui.controls["sigma_range"].value[1]
    ui.controls["sigma_range"].value = (0.0, hi / 2)
    assert len(reads) == n_reads and len(plots) == n_plots + 1 and plots[-1] == (0.0, hi / 2) and _pngs(out)
    ui.controls["sigma_range"].value = (0.0, hi / 4)
    assert len(reads) == n_reads and len(plots) == n_plots + 2
    ui.controls["methods"].value = ui.controls["methods"].options[:1]     # one figure, reused: no new board
    assert len(reads) == n_reads and len(plots) == n_plots + 3 and built == [1] and _pngs(out)
    ui.controls["methods"].value = ui.controls["methods"].options
    ui.controls["sigma_range"].value = (0.0, hi)          # seen before: no drawing at all
    assert len(plots) == n_plots + 3 and ui.timing["cached"] and len(reads) == n_reads
    ui.close()
