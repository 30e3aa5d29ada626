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
    monkeypatch.setattr(runs.keys, "FORMAT_VERSION", FORMAT_VERSION + 1)
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

    monkeypatch.setattr(runs.store.os, "replace", dying_replace)
    with pytest.raises(KeyboardInterrupt):
        store.finish(cfg, {"test_acc": 1.0})
    monkeypatch.setattr(runs.store.os, "replace", real_replace)
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


# --------------------------------------------------------------------------- keys: defaults left out
def _versions():
    """Two versions of one config class (same kind): v2 adds a field with a default."""
    from dataclasses import make_dataclass

    v1 = make_dataclass("Versioned", [("rho", float, field(default=0.5)), ("n", int, field(default=3))], frozen=True)
    v2 = make_dataclass("Versioned", [("rho", float, field(default=0.5)), ("n", int, field(default=3)),
                                      ("clip", object, field(default=None))], frozen=True)
    return v1, v2


def test_adding_a_defaulted_field_keeps_old_keys(tmp_path):
    v1, v2 = _versions()
    store = RunStore(tmp_path)
    old = v1(rho=0.1)
    store.get_or_compute(old, lambda: {"acc": 0.9})
    assert run_key(v2(rho=0.1)) == run_key(old)
    assert store.status(v2(rho=0.1)) == "finished"
    assert store.get_or_compute(v2(rho=0.1), lambda: pytest.fail("retrained an old run")) == {"acc": 0.9}
    assert run_key(v2(rho=0.1, clip=0.2)) != run_key(old)
    assert store.status(v2(rho=0.1, clip=0.2)) == "missing"
    # what enters the hash, by hand: only the fields away from their defaults
    assert runs.key_dict(v2(rho=0.1)) == {"rho": 0.1} and runs.key_dict(v2()) == {}
    assert runs.key_dict(OuterCfg(inner=ToyCfg(p=3.0))) == {"inner": {"p": 3.0}}
    payload = {"format": FORMAT_VERSION, "kind": "Versioned", "config": {"rho": 0.1}}
    import hashlib
    assert run_key(old) == hashlib.sha256(runs.canonical_json(payload).encode()).hexdigest()[:16]


def test_a_field_set_to_its_default_is_the_same_run():
    assert run_key(ToyCfg(rho=0.5)) == run_key(ToyCfg())
    assert run_key(ToyCfg(sizes=(1, 2))) == run_key(ToyCfg()) and run_key(ToyCfg(sizes=(1,))) != run_key(ToyCfg())


def test_folders_of_another_format_are_not_listed(tmp_path):
    """A folder whose config.json has another format version is not this store's run: list_runs leaves it out."""
    store = RunStore(tmp_path)
    store.get_or_compute(ToyCfg(rho=0.1), lambda: {"acc": 0.7})
    folder = tmp_path / "ToyCfg-0123456789abcdef"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"format": 1, "kind": "ToyCfg", "key": "0123456789abcdef",
                                                    "config": runs.config_to_dict(ToyCfg(rho=0.2))}))
    assert [r.config.rho for r in store.list_runs()] == [0.1]


# --------------------------------------------------------------------------- registry of config classes
def test_a_moved_class_is_found_by_its_kind(tmp_path):
    from dataclasses import make_dataclass

    moved = runs.register_config(make_dataclass("MovedCfg", [("a", int, field(default=1))], frozen=True))
    store = RunStore(tmp_path)
    store.get_or_compute(moved(a=2), lambda: {"x": 1})
    path = store.path(moved(a=2)) / "config.json"
    meta = json.loads(path.read_text())
    meta["class"] = "an.old.module.MovedCfg"  # where it lived when stored
    path.write_text(json.dumps(meta))
    (r,) = store.list_runs()
    assert r.config == moved(a=2) and runs.config_class("MovedCfg") is moved
    clash = make_dataclass("MovedCfg", [("b", int, field(default=1))], frozen=True)
    clash.__module__ = "another.module"
    with pytest.raises(ValueError, match="already registered"):
        runs.register_config(clash)


def test_samlab_kinds_resolve_from_their_stored_import_path():
    from samlab.experiments.variance_generalization import ToyRunConfig
    from samlab.train import ThroughputConfig, TrainConfig

    assert runs.config_class("TrainConfig", "samlab.train.config.TrainConfig") is TrainConfig
    assert runs.config_class("ThroughputConfig") is ThroughputConfig  # registered on import
    assert runs.config_class("ToyRunConfig", "samlab.experiments.variance_generalization.ToyRunConfig") is ToyRunConfig
    assert runs.config_class("NoSuchKind", "nowhere.NoSuchKind") is None


def test_removed_names_are_gone():
    assert not hasattr(runs, "STATUSES") and not hasattr(RunStore, "__iter__")


# --------------------------------------------------------------------------- finished runs, derived results
def test_finish_drops_the_checkpoint_unless_asked(tmp_path):
    store = RunStore(tmp_path)
    model = torch.nn.Linear(3, 2)
    for keep, cfg in ((False, ToyCfg(name="a")), (True, ToyCfg(name="b"))):
        store.begin(cfg)
        store.save_checkpoint(cfg, {"epoch": 1, "model": model.state_dict()})
        result = store.finish(cfg, {"test_acc": 0.5}, model.state_dict(), keep_checkpoint=keep)
        assert (result.path / "checkpoint.pt").exists() == keep and (result.path / "state_dict.pt").is_file()


@dataclass(frozen=True)
class NoiseSpec:
    sigma: float = 0.1
    samples: int = 4


def test_measurements_follow_their_run(tmp_path):
    store = RunStore(tmp_path)
    src = ToyCfg(name="src")
    with pytest.raises(ValueError, match="not finished"):
        store.measure(src, NoiseSpec(), lambda: {"acc": 0})
    assert store.stored_measure(src, NoiseSpec()) is None
    store.begin(src)
    store.finish(src, {"test_acc": 0.5})
    calls = []

    def compute(value):
        return lambda: calls.append(value) or {"acc": value}

    assert store.stored_measure(src, NoiseSpec()) is None  # only what is stored: None, nothing computed
    assert store.measure(src, NoiseSpec(), compute(1)) == {"acc": 1}
    assert store.stored_measure(src, NoiseSpec()) == {"acc": 1}
    assert store.measure(src, NoiseSpec(), compute(2)) == {"acc": 1} and calls == [1]
    assert store.measure(src, NoiseSpec(sigma=0.2), compute(3)) == {"acc": 3}
    meta = json.loads((store.path(src) / "derived" / f"NoiseSpec-{run_key(NoiseSpec())}" / "config.json").read_text())
    assert meta["run"]["key"] == run_key(src) and meta["run"]["kind"] == "ToyCfg"
    assert sorted(r.config.sigma for r in store.list_measures(src, "NoiseSpec")) == [0.1, 0.2]
    assert store.list_measures(src, "OtherSpec") == []
    # another source config: its own derived results
    store.finish(replace(src, rho=0.1), {"test_acc": 0.4})
    assert store.measure(replace(src, rho=0.1), NoiseSpec(), compute(4)) == {"acc": 4}
    # the same config retrained (summary rewritten): stale results are recomputed, not served
    store.delete(src)
    store.begin(src)
    store.finish(src, {"test_acc": 0.6})
    assert store.list_measures(src) == [] and store.stored_measure(src, NoiseSpec()) is None
    assert store.measure(src, NoiseSpec(), compute(5)) == {"acc": 5}
    (store.path(src) / "summary.json").write_text('{"test_acc": 0.7}')
    assert store.list_measures(src) == []  # a rewritten run invalidates what was measured on it
    assert store.stored_measure(src, NoiseSpec()) is None
    assert store.measure(src, NoiseSpec(), compute(6)) == {"acc": 6}
    assert calls == [1, 3, 4, 5, 6]
