"""The results store: keys, atomic writes, status, get_or_compute (the trainer's resume tests are in test_train)."""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field, replace

import pytest
import torch

from samlab import runs
from samlab.runs import FORMAT_VERSION, RunStore, run_key


@dataclass(frozen=True)
class ToyCfg:
    rho: float = 0.5
    p: float = 2.0
    name: str = "a"
    sizes: tuple[int, ...] = (1, 2)
    device: str = field(default="cpu", metadata={"key": False})


@dataclass(frozen=True)
class OuterCfg:
    inner: ToyCfg = ToyCfg()
    n: int = 3


def test_key_is_stable_and_short():
    k = run_key(ToyCfg())
    assert k == run_key(ToyCfg()) and len(k) == 16 and int(k, 16) >= 0


def test_every_field_changes_the_key_except_excluded_ones():
    base = ToyCfg()
    keys = {run_key(base), run_key(replace(base, rho=0.05)), run_key(replace(base, p=math.inf)),
            run_key(replace(base, name="b")), run_key(replace(base, sizes=(1, 3)))}
    assert len(keys) == 5
    assert run_key(replace(base, device="cuda")) == run_key(base)


def test_kind_and_format_version_enter_the_key(monkeypatch):
    @dataclass(frozen=True)
    class OtherCfg:
        rho: float = 0.5
        p: float = 2.0
        name: str = "a"
        sizes: tuple[int, ...] = (1, 2)

    assert run_key(OtherCfg()) != run_key(ToyCfg())
    before = run_key(ToyCfg())
    monkeypatch.setattr(runs, "FORMAT_VERSION", FORMAT_VERSION + 1)
    assert run_key(ToyCfg()) != before


def test_infinity_serialises_deterministically_and_round_trips(tmp_path):
    cfg = ToyCfg(p=math.inf)
    text = runs.canonical_json(runs.config_to_dict(cfg))
    assert "Infinity" not in text and json.loads(text)["p"] == {"__float__": "inf"}
    assert run_key(cfg) == run_key(ToyCfg(p=float("inf")))
    store = RunStore(tmp_path)
    store.get_or_compute(cfg, lambda: {"x": 1})
    (listed,) = store.list_runs()
    assert listed.config == cfg  # rebuilt from config.json: inf and the tuple come back


def test_nested_configs_round_trip():
    cfg = OuterCfg(inner=ToyCfg(p=math.inf, sizes=(4,)), n=5)
    assert runs.config_from_dict(OuterCfg, runs.config_to_dict(cfg)) == cfg
    assert run_key(cfg) != run_key(OuterCfg())


def test_default_root_is_runs_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SAMLAB_RUNS", str(tmp_path / "elsewhere"))
    assert RunStore().root == tmp_path / "elsewhere"


def test_get_or_compute_computes_once_and_returns_equal_values(tmp_path):
    store = RunStore(tmp_path)
    calls = []

    def fn():
        calls.append(1)
        return {"acc": [0.5, 0.75], "p": math.inf, "pair": (1, 2), "t": torch.tensor(2.5)}

    cfg = ToyCfg()
    assert store.status(cfg) == "missing"
    first = store.get_or_compute(cfg, fn)
    second = store.get_or_compute(cfg, fn)
    assert calls == [1]
    assert first == second == {"acc": [0.5, 0.75], "p": math.inf, "pair": [1, 2], "t": 2.5}
    assert store.status(cfg) == "finished"
    assert store.path(cfg) == tmp_path / f"ToyCfg-{run_key(cfg)}"
    assert RunStore(tmp_path).get_or_compute(cfg, lambda: pytest.fail("recomputed")) == first
    other = store.get_or_compute(replace(cfg, rho=0.1), lambda: {"acc": 0})
    assert other == {"acc": 0} and len(store.list_runs()) == 2


def test_get_or_compute_failure_leaves_nothing_finished(tmp_path):
    store = RunStore(tmp_path)

    def boom():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.get_or_compute(ToyCfg(), boom)
    assert store.status(ToyCfg()) == "missing"
    with pytest.raises(TypeError, match="JSON"):
        store.get_or_compute(ToyCfg(), lambda: {"x": object()})
    assert store.status(ToyCfg()) == "missing"
    with pytest.raises(TypeError, match="dict"):
        store.get_or_compute(ToyCfg(), lambda: [1, 2])


def test_half_written_file_never_looks_finished(tmp_path, monkeypatch):
    """Die inside the write of summary.json: the run stays partial and no stray file remains."""
    store = RunStore(tmp_path)
    cfg = ToyCfg()
    store.begin(cfg)
    store.write_metrics(cfg, [{"epoch": 1}])
    real_replace = os.replace

    def dying_replace(src, dst):
        if str(dst).endswith("summary.json"):
            raise KeyboardInterrupt  # killed after writing the temp file, before the rename
        return real_replace(src, dst)

    monkeypatch.setattr(runs.os, "replace", dying_replace)
    with pytest.raises(KeyboardInterrupt):
        store.finish(cfg, {"test_acc": 1.0})
    monkeypatch.setattr(runs.os, "replace", real_replace)
    assert store.status(cfg) == "partial"
    assert sorted(p.name for p in store.path(cfg).iterdir()) == ["config.json", "metrics.jsonl"]
    result = store.load(cfg)
    assert result.status == "partial" and not result.finished and result.summary is None
    assert result.metrics == [{"epoch": 1}]


def test_metrics_reader_ignores_a_torn_last_line(tmp_path):
    store = RunStore(tmp_path)
    cfg = ToyCfg()
    folder = store.begin(cfg)
    (folder / "metrics.jsonl").write_text('{"epoch": 1}\n{"epoch": 2}\n{"epo')
    assert store.load(cfg).metrics == [{"epoch": 1}, {"epoch": 2}]


def test_finish_stores_tensors_only_state_dict_and_checkpoint(tmp_path):
    store = RunStore(tmp_path)
    cfg = ToyCfg(name="net")
    model = torch.nn.Linear(3, 2)
    store.begin(cfg)
    store.save_checkpoint(cfg, {"epoch": 1, "model": model.state_dict(), "rng": torch.get_rng_state()})
    assert store.load_checkpoint(cfg)["epoch"] == 1
    result = store.finish(cfg, {"test_acc": 0.5}, model.state_dict())
    assert result.finished and result.summary == {"test_acc": 0.5}
    sd = torch.load(result.path / "state_dict.pt", weights_only=True)
    assert torch.equal(sd["weight"], model.weight) and torch.equal(result.state_dict()["bias"], model.bias)
    meta = json.loads((result.path / "config.json").read_text())
    assert meta["format"] == FORMAT_VERSION and meta["kind"] == "ToyCfg" and meta["key"] == run_key(cfg)
    assert "device" not in meta["config"]


def test_list_runs_filters_by_kind_and_skips_foreign_folders(tmp_path):
    store = RunStore(tmp_path)
    store.get_or_compute(ToyCfg(), lambda: {"a": 1})
    store.begin(OuterCfg())  # partial
    (tmp_path / "not-a-run").mkdir()
    (tmp_path / "stray.txt").write_text("x")
    assert {r.kind for r in store.list_runs()} == {"ToyCfg", "OuterCfg"}
    (partial,) = store.list_runs("OuterCfg")
    assert partial.status == "partial" and partial.config == OuterCfg()
    assert [r.summary for r in store.list_runs("ToyCfg")] == [{"a": 1}]
    assert RunStore(tmp_path / "empty").list_runs() == []


def test_unimportable_config_class_stays_a_dict(tmp_path):
    store = RunStore(tmp_path)
    store.get_or_compute(ToyCfg(), lambda: {"a": 1})
    path = store.path(ToyCfg()) / "config.json"
    meta = json.loads(path.read_text())
    meta["class"] = "nowhere.Gone"
    path.write_text(json.dumps(meta))
    (r,) = store.list_runs()
    assert r.config == {"rho": 0.5, "p": 2.0, "name": "a", "sizes": [1, 2]}


def test_delete_removes_the_run(tmp_path):
    store = RunStore(tmp_path)
    store.get_or_compute(ToyCfg(), lambda: {"a": 1})
    store.delete(ToyCfg())
    assert store.status(ToyCfg()) == "missing"
