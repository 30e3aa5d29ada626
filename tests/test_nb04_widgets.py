"""Notebook 04's pieces headless: the stored-run explorer callbacks, the tables and the figures."""
from __future__ import annotations

import math

import pytest

import samlab as sl
from samlab.runs import RunStore
from samlab.train import TrainConfig, train


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """Four finished 1-epoch runs on the digits (SGD, SAM, SAMSON_2 at two rhos, SAMSON_inf, ESAM)."""
    store = RunStore(tmp_path_factory.mktemp("runs"))
    base = dict(model="small_cnn", dataset="digits", epochs=1, batch_size=32, max_train_samples=64,
                max_test_samples=32, schedule="cosine", augment=False)
    configs = {"SGD": TrainConfig(method="sgd", **base), "SAM": TrainConfig(method="sam", **base),
               "SAMSON_2": TrainConfig(method="samson", p=2.0, **base),
               "SAMSON_2 rho 1": TrainConfig(method="samson", p=2.0, rho=1.0, **base),
               "SAMSON_inf": TrainConfig(method="samson", p=math.inf, **base),
               "ESAM": TrainConfig(method="esam", **base)}
    return {k: train(c, store=store, progress=False) for k, c in configs.items()}


def text_of(out):
    return "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in out.outputs)


def test_explorer_redraws_on_every_control_and_never_trains(stored, monkeypatch):
    from samlab import train as T

    monkeypatch.setattr(T, "train", lambda *a, **k: pytest.fail("the explorer must not train"))
    ui, out = sl.widgets.stored_run_explorer(list(stored.values()), title="test")
    method, rho, p = ui.children[0].children
    assert "SGD: test" in text_of(out) and any("image/png" in o.get("data", {}) for o in out.outputs)
    method.value = "samson"  # rho and p follow to a stored samson run
    first = text_of(out)
    assert first.startswith("SAMSON") and rho.value in (0.5, 1.0)
    p.value = math.inf
    assert text_of(out).startswith("SAMSON_inf") and text_of(out) != first
    p.value = 2.0
    rho.value = 1.0
    assert "SAMSON_2" in text_of(out) and "rho" not in text_of(out)
    method.value = "sam"
    assert text_of(out).startswith("SAM: test")
    rho.value = 1.0  # SAM was never trained at rho = 1: a message, not an exception, and no training
    msg = text_of(out)
    assert "no stored run with method='sam', rho=1" in msg and "python -m samlab train --method sam" in msg


def test_explorer_refuses_an_empty_store():
    with pytest.raises(ValueError, match="no finished training run"):
        sl.widgets.stored_run_explorer([])


def test_tables_and_figures(stored, tmp_path, monkeypatch):
    results = {k: stored[k] for k in ("SGD", "SAM", "SAMSON_2", "SAMSON_inf", "ESAM")}
    table = sl.experiments.cifar.accuracy_table(results)
    assert list(table.index) == list(results)
    paper_cols = [c for c in table.columns if c.startswith("paper:")]
    assert len(paper_cols) == 2 and table.loc["SAMSON_2", paper_cols[0]] == "95.96 ± 0.34"
    assert table.loc["ESAM", paper_cols[0]] == "-" and table.loc["ESAM", paper_cols[1]] == "96.56 ± 0.08"
    gap = table["gap (train - test)"] - (table["train acc %"] - table["test acc %"])
    assert gap.abs().max() <= 0.011  # each column rounded to 0.01
    tp = sl.experiments.cifar.throughput_table(results)
    assert tp.loc["SAM", "% of SAM"] == 100.0 and tp.loc["ESAM", "paper % of SAM"] == pytest.approx(140.3, abs=0.05)
    with pytest.raises(ValueError, match="reference='ASAM'"):
        sl.experiments.cifar.throughput_table(results, reference="ASAM")
    study = sl.experiments.cifar.esam_study({"SWP": [stored["ESAM"]], "SDS": [stored["ESAM"]]}, sam=stored["SAM"])
    assert study["SWP"]["x"] == [0.6, 1.0] and study["SDS"]["x"] == [0.5, 1.0]
    assert study["SDS"]["acc"][-1] == stored["SAM"].summary["test_acc"]
    monkeypatch.setenv("SAMLAB_FIGURES", str(tmp_path))
    figs = {"curves": sl.plots.plot_learning_curves([sl.experiments.cifar.learning_curve(r) for r in results.values()]),
            "speed": sl.plots.plot_throughput(sl.experiments.cifar.throughput_rows(results), title="t"),
            "esam": sl.plots.plot_esam_study(study, references=sl.experiments.cifar.summary_points(results))}
    for name, fig in figs.items():
        sl.plots.save_figure(fig, name)
        assert (tmp_path / f"{name}.png").stat().st_size > 1000
