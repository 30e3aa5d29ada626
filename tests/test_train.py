"""The trainer: config validation, the results store round trip, resume after a real interruption, presets."""
from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
import torch

from samlab import methods, papers, runs
from samlab.experiments import cifar
from samlab.train import loop, throughput
from samlab import train as T
from samlab.runs import RunStore, run_key
from samlab.train import TrainConfig

TIMING = {"train_time_s", "eval_time_s", "images_per_s"}


def tiny(**kw) -> TrainConfig:
    """A seconds-long run on the offline digits: 96 training images, batch 32, 3 epochs."""
    base = dict(model="small_cnn", dataset="digits", epochs=3, batch_size=32, max_train_samples=96,
                max_test_samples=64, lr=0.05, schedule="cosine", augment=True)
    base.update(kw)
    return TrainConfig(**base)


def numbers(rows):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in rows]


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


# ------------------------------------------------------------------------------------------------ config
@pytest.mark.parametrize("kw, match", [
    (dict(model="resnet1000"), r"model='resnet1000'.*'resnet18'.*'small_cnn'"),
    (dict(model="table2_mlp"), r"model='table2_mlp' is not allowed"),
    (dict(dataset="imagenet"), r"dataset='imagenet'.*'cifar10'.*'cifar100'.*'digits'"),
    (dict(method="lookahead"), r"method='lookahead'.*'base'.*'sam'.*'asam'.*'samson'.*'esam'"),
    (dict(base="rmsprop"), r"base='rmsprop'.*'sgd'.*'adam'"),
    (dict(schedule="poly"), r"schedule='poly'.*'step'.*'cosine'"),
    (dict(epochs=0), r"epochs=0.*>= 1"),
    (dict(epochs=-3), r"epochs=-3"),
    (dict(epochs=1.5), r"epochs=1.5 must be an integer"),
    (dict(batch_size=0), r"batch_size=0"),
    (dict(lr=0), r"lr=0"),
    (dict(momentum=1.0), r"momentum=1.0"),
    (dict(method="base", rho=0.05), r"rho=0.05 is not allowed for method 'base'.*'sam', 'asam', 'samson' or 'esam'"),
    (dict(method="sam", rho=0.0), r"rho=0.0 is not allowed for method 'sam'.*use method 'base'"),
    (dict(method="asam", rho=-1), r"rho=-1"),
    (dict(method="sam", rho=math.nan), r"rho=nan"),
    (dict(method="sam", p=math.inf), r"p=inf applies only to method 'samson'"),
    (dict(method="samson", p=0.5), r"p=0.5.*\[1.0, inf\]"),
    (dict(method="sam", beta=0.5), r"only with method 'esam'"),
    (dict(method="esam", beta=1.0, gamma=1.0), r"plain SAM"),
    (dict(method="esam", gamma=0.0), r"gamma=0.0"),
    (dict(method="sam", eta=0.1), r"eta=0.1 applies only to methods 'asam' and 'samson'"),
    (dict(clip=0), r"clip=0"),
    (dict(device="tpu"), r"device='tpu'.*'auto', 'cpu', 'cuda'"),
    (dict(max_train_samples=0), r"max_train_samples=0"),
])
def test_bad_config_is_refused_naming_allowed_values(kw, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kw)


def test_paper_defaults_are_filled_so_equal_runs_share_a_key():
    assert TrainConfig(method="sam") == TrainConfig(method="sam", rho=0.05)
    assert TrainConfig(method="asam").rho == 0.5 and TrainConfig(method="asam").eta == 0.01
    assert TrainConfig(method="samson", p=2) == TrainConfig(method="samson", p=2.0, rho=0.5, eta=0.0)
    esam = TrainConfig(method="esam")
    assert (esam.rho, esam.beta, esam.gamma) == (0.05, 0.6, 0.5)
    assert TrainConfig().rho == 0.0 and TrainConfig(epochs=3.0).epochs == 3
    assert run_key(TrainConfig(method="samson", p=2)) == run_key(TrainConfig(method="samson", p=2.0))


def test_key_ignores_device_but_not_method_fields():
    c = tiny(method="samson", p=math.inf)
    assert run_key(replace(c, device="cpu")) == run_key(c)
    others = [replace(c, p=2.0), replace(c, rho=0.2), replace(c, seed=1), replace(c, epochs=4),
              replace(c, max_train_samples=64), replace(c, method="asam", p=2.0, eta=0.01), replace(c, clip=0.2)]
    assert len({run_key(o) for o in others} | {run_key(c)}) == len(others) + 1


def test_labels():
    assert [c.label for c in cifar.notebook_configs("smoke").values()] == [
        "SGD", "SAM", "ASAM", "SAMSON_2", "SAMSON_inf", "ESAM"]
    assert methods.run_label(TrainConfig(method="samson", p=math.inf)) == "SAMSON$_{\\infty}$"
    assert methods.run_label(TrainConfig(base="adam")) == "Adam"
    assert TrainConfig(method="esam", gamma=1.0).label == "ESAM-SWP (β=0.6)"
    assert TrainConfig(method="esam", beta=1.0, gamma=0.3).label == "ESAM-SDS (γ=0.3)"
    assert TrainConfig(method="sam", clip=0.2).label == "SAM + clip 0.2"
    assert methods.method_key(TrainConfig(method="samson", p=math.inf)) == "samson_inf"


# ------------------------------------------------------------------------------------------------ training
def test_train_stores_a_complete_run(tmp_path):
    store = RunStore(tmp_path)
    cfg = tiny(method="esam", epochs=2)
    result = T.train(cfg, store=store, progress=False)
    assert result.finished and store.status(cfg) == "finished"
    assert [r["epoch"] for r in result.metrics] == [1, 2]
    row = result.metrics[-1]
    for k in ("lr", "train_loss", "train_acc", "test_loss", "test_acc", "images_per_s", "train_time_s"):
        assert math.isfinite(row[k]), k
    assert 0 <= row["test_acc"] <= 1 and row["images"] == 96
    s = result.summary
    assert s["test_acc"] == row["test_acc"] and s["epochs"] == 2 and s["label"] == "ESAM"
    assert s["data"]["name"] == "digits" and s["data"]["is_fallback"] is False and s["data"]["n_test"] == 64
    assert 0 <= s["train_eval_acc"] <= 1 and math.isfinite(s["train_eval_loss"])
    files = sorted(p.name for p in result.path.iterdir())
    assert files == ["config.json", "metrics.jsonl", "state_dict.pt", "summary.json"]  # no checkpoint once finished
    sd = torch.load(result.path / "state_dict.pt", weights_only=True)
    model = __import__("samlab.models", fromlist=["x"]).create_model("small_cnn", num_classes=10)
    model.load_state_dict(sd)
    assert json.loads((result.path / "config.json").read_text())["config"]["method"] == "esam"
    assert len((result.path / "metrics.jsonl").read_text().splitlines()) == 2


def test_finished_run_is_returned_without_training(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    cfg = tiny(epochs=1)
    first = T.train(cfg, store=store, progress=False)

    def no_training(*a, **k):
        raise AssertionError("a finished run must not load data or train")

    monkeypatch.setattr(loop, "run_data", no_training)
    monkeypatch.setattr(loop, "train_epoch", no_training)
    again = T.train(cfg, store=store, progress=False)
    assert again.summary == first.summary and again.metrics == first.metrics
    with pytest.raises(AssertionError, match="must not"):
        T.train(replace(cfg, seed=1), store=store, progress=False)  # a changed config never returns the old run


def test_changed_config_trains_into_its_own_folder(tmp_path):
    store = RunStore(tmp_path)
    a = T.train(tiny(epochs=1), store=store, progress=False)
    b = T.train(tiny(epochs=1, seed=1), store=store, progress=False)
    assert a.path != b.path and a.key != b.key
    assert numbers(a.metrics) != numbers(b.metrics)
    assert len(store.list_runs("TrainConfig")) == 2


def test_same_seed_same_numbers(tmp_path):
    cfg = tiny(method="samson", p=math.inf, epochs=1)
    a = T.train(cfg, store=RunStore(tmp_path / "a"), progress=False)
    b = T.train(cfg, store=RunStore(tmp_path / "b"), progress=False)
    assert numbers(a.metrics) == numbers(b.metrics)
    assert_same_weights(a.state_dict(), b.state_dict())


class Interrupt(BaseException):
    """Stands in for Ctrl-C / a killed kernel (not an Exception: nothing may catch it)."""


@pytest.mark.parametrize("method_kw", [dict(method="esam"), dict(method="base")], ids=["esam", "base"])
def test_resume_after_interruption_is_bit_identical(tmp_path, monkeypatch, method_kw):
    """Interrupt at three moments (after an epoch, mid-epoch, between checkpoint and metrics); resume each time."""
    cfg = tiny(**method_kw)
    reference = T.train(cfg, store=RunStore(tmp_path / "ref"), progress=False)

    store = RunStore(tmp_path / "cut")

    def stop_after_epoch_1(epoch, row):
        if epoch == 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        T.train(cfg, store=store, progress=False, callback=stop_after_epoch_1)
    assert store.status(cfg) == "partial"
    assert [r["epoch"] for r in store.load(cfg).metrics] == [1]

    # mid-epoch: die in the third forward pass of epoch 2 (the model is left half-updated in memory)
    real_epoch = T.train_epoch

    def dying_epoch(model, *args, **kwargs):
        calls = []

        def hook(*_):
            calls.append(1)
            if len(calls) == 3:
                raise Interrupt

        handle = model.register_forward_pre_hook(hook)
        try:
            return real_epoch(model, *args, **kwargs)
        finally:
            handle.remove()

    monkeypatch.setattr(loop, "train_epoch", dying_epoch)
    with pytest.raises(Interrupt):
        T.train(cfg, store=store, progress=False)
    monkeypatch.setattr(loop, "train_epoch", real_epoch)
    assert store.status(cfg) == "partial" and len(store.load(cfg).metrics) == 1

    # between the checkpoint of epoch 2 and the metrics log: the log lags, the checkpoint is the truth
    real_write = runs.RunStore.write_metrics

    def dying_write(self, config, rows):
        if len(rows) == 2:
            raise Interrupt
        return real_write(self, config, rows)

    monkeypatch.setattr(runs.RunStore, "write_metrics", dying_write)
    with pytest.raises(Interrupt):
        T.train(cfg, store=store, progress=False)
    monkeypatch.setattr(runs.RunStore, "write_metrics", real_write)
    assert store.status(cfg) == "partial" and store.load_checkpoint(cfg)["epoch"] == 2

    epochs_run = []
    monkeypatch.setattr(loop, "train_epoch", lambda *a, **k: epochs_run.append(1) or real_epoch(*a, **k))
    resumed = T.train(cfg, store=store, progress=False)
    assert resumed.finished and len(epochs_run) == 1  # it resumed: only epoch 3 was trained
    assert numbers(resumed.metrics) == numbers(reference.metrics)
    assert [r["epoch"] for r in resumed.metrics] == [1, 2, 3]  # no duplicated rows
    assert {k: v for k, v in resumed.summary.items() if k not in ("images_per_s", "train_time_s")} == \
        {k: v for k, v in reference.summary.items() if k not in ("images_per_s", "train_time_s")}
    assert_same_weights(resumed.state_dict(), reference.state_dict())


def test_first_epoch_interruption_restarts_cleanly(tmp_path, monkeypatch):
    cfg = tiny(epochs=1)
    reference = T.train(cfg, store=RunStore(tmp_path / "ref"), progress=False)
    store = RunStore(tmp_path / "cut")
    real_epoch = T.train_epoch
    monkeypatch.setattr(loop, "train_epoch", lambda *a, **k: (_ for _ in ()).throw(Interrupt()))
    with pytest.raises(Interrupt):
        T.train(cfg, store=store, progress=False)
    monkeypatch.setattr(loop, "train_epoch", real_epoch)
    assert store.status(cfg) == "partial" and store.load_checkpoint(cfg) is None
    again = T.train(cfg, store=store, progress=False)
    assert numbers(again.metrics) == numbers(reference.metrics)


def test_retrain_and_train_all_report_what_they_do(tmp_path, capsys):
    store = RunStore(tmp_path)
    cfgs = [tiny(epochs=1), tiny(epochs=1, method="sam")]
    T.train(cfgs[0], store=store, progress=False)
    capsys.readouterr()
    results = T.train_all(cfgs, store=store, progress=False)
    out = capsys.readouterr().out
    assert f"loaded 1 run from {tmp_path}" in out and "training 1 run" in out
    assert [r.config for r in results] == cfgs and all(r.finished for r in results)
    T.train_all(cfgs, store=store, progress=False)
    assert "loaded 2 runs" in capsys.readouterr().out


def test_progress_bar_and_adam_base(tmp_path, capsys):
    cfg = tiny(epochs=1, base="adam", lr=1e-3, method="asam")
    result = T.train(cfg, store=RunStore(tmp_path), progress=True)
    assert result.summary["label"] == "ASAM (Adam)"
    assert "epoch" in capsys.readouterr().err


def test_sgd_with_clipping_clips_weights(tmp_path):
    result = T.train(tiny(epochs=1, clip=0.05), store=RunStore(tmp_path), progress=False)
    weights = [v for k, v in result.state_dict().items() if k.endswith("weight") and v.ndim > 1]
    assert weights and max(w.abs().max().item() for w in weights) <= 0.05 + 1e-7


def test_one_clip_rule_and_sam_knows_its_model():
    from samlab.models import create_model
    from samlab.optim import SAM

    model = create_model("small_cnn", num_classes=10, seed=0)
    opt = T.make_optimizer(tiny(clip=0.05), model)
    assert type(opt) is torch.optim.SGD and len(opt._optimizer_step_post_hooks) == 1  # plain SGD + clip hook
    with torch.no_grad():
        for w in model.parameters():
            w.fill_(1.0)
    for w in model.parameters():
        w.grad = torch.zeros_like(w)
    opt.step()
    for name, w in model.named_parameters():  # conv/linear weights clamped; BN and biases left alone
        clamped = name.endswith("weight") and w.ndim > 1
        assert w.max().item() == pytest.approx(0.05 if clamped else 1.0 - 0.05 * 5e-4 * 1.0, abs=1e-6), name
    sam = T.make_optimizer(tiny(method="esam"), model)
    assert isinstance(sam, SAM) and sam.model is model  # BN statistics from the pass at w only


def test_missing_cifar_is_refused_with_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv("SAMLAB_DATA", str(tmp_path / "nodata"))
    assert T.available_dataset("cifar10") == "digits"
    with pytest.raises(RuntimeError, match="samlab data cifar10"):
        T.train(tiny(dataset="cifar10", epochs=1), store=RunStore(tmp_path), progress=False)


def test_train_leaves_the_global_rng_alone_and_loads_data_once(tmp_path, capsys):
    """The RNG rule: training never draws from or reseeds torch's global RNG (init runs in a forked, seeded RNG)."""
    from samlab.data import clear_dataset_cache

    clear_dataset_cache()
    torch.manual_seed(1234)
    state = torch.get_rng_state()
    store = RunStore(tmp_path)
    a = T.train(tiny(epochs=1, method="esam"), store=store, progress=False)
    b = T.train(tiny(epochs=1, method="sam"), store=store, progress=False)
    assert torch.equal(torch.get_rng_state(), state)
    assert capsys.readouterr().out.count("samlab: loaded digits") == 1  # read once per process, said once
    # and the seed alone fixes the numbers, whatever the caller's global RNG holds
    torch.manual_seed(99)
    again = T.train(tiny(epochs=1, method="esam"), store=RunStore(tmp_path / "again"), progress=False)
    assert numbers(again.metrics) == numbers(a.metrics)
    assert_same_weights(again.state_dict(), a.state_dict())
    assert b.finished


# ------------------------------------------------------------------------------------------------ presets
def test_samson_presets_use_the_tables_rho():
    group = papers.preset("samson-table1-resnet34-cifar10")
    assert [c.label for c in group] == ["SGD", "SAM", "ASAM", "SAMSON_2", "SAMSON_inf"]
    assert [c.rho for c in group] == [0.0, 0.05, 0.5, 0.5, 0.5]
    assert all((c.epochs, c.batch_size, c.lr, c.schedule, c.lr_step_every, c.lr_decay)
               == (200, 128, 0.1, "step", 50, 0.1) for c in group)
    c100 = papers.preset("samson-table2-vgg13_bn-cifar100")
    assert [c.rho for c in c100] == [0.0, 0.1, 1.0, 1.0, 1.0]
    (single,) = papers.preset("samson-table1-densenet40-cifar10-samsoninf")
    assert single.method == "samson" and math.isinf(single.p)
    esam = papers.preset("esam-table1-resnet18-cifar10")
    assert [c.label for c in esam] == ["SGD", "SAM", "ESAM"]
    assert esam[2].beta == 0.6 and esam[2].gamma == 0.5 and esam[2].schedule == "cosine"
    with pytest.raises(ValueError, match="samson-table1"):
        papers.preset("samson-table1-resnet1000")


def test_every_preset_names_a_zoo_model_and_has_a_paper_number():
    for name in papers.preset_names():
        for cfg in papers.preset(name):
            assert cfg.model in T.IMAGE_MODELS
            if name.startswith(("samson-", "esam-table1")):
                assert papers.paper_results(model=cfg.model, dataset=cfg.dataset, method=methods.method_name(cfg)), (name, cfg.label)
    t1 = papers.paper_results(source="SAMSON paper, Table 1", model="resnet34")
    assert {r.method: r.acc for r in t1}["SAMSON_2"] == 95.96
    assert papers.paper_results(source="ESAM", model="resnet18", dataset="cifar10", method="ESAM")[0].images_per_s == 2409


@pytest.mark.parametrize("scale", ["smoke", "quick", "paper"])
def test_scale_configs(scale):
    configs = cifar.notebook_configs(scale)
    assert list(configs) == ["SGD", "SAM", "ASAM", "SAMSON_2", "SAMSON_inf", "ESAM"]
    grid = cifar.esam_grid_configs(scale)
    assert all(c.beta < 1 and c.gamma == 1 for c in grid["SWP"]) and all(c.gamma < 1 for c in grid["SDS"])
    if scale != "paper":
        assert all(c.model == "small_cnn" for c in configs.values())
    with pytest.raises(ValueError, match="scale='huge'"):
        cifar.notebook_configs("huge")


def test_swp_that_leaves_every_tensor_out_takes_a_plain_step(tmp_path):
    """beta = 0.01: most ascent passes perturb nothing; the run must still train (eps = 0 there)."""
    result = T.train(tiny(method="esam", beta=0.01, gamma=1.0, epochs=1), store=RunStore(tmp_path), progress=False)
    assert result.finished and math.isfinite(result.summary["train_loss"])


def test_measure_throughput_is_stored_and_interleaved(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    configs = [tiny(batch_size=8), tiny(method="sam", batch_size=8), tiny(batch_size=8)]
    speeds = throughput.measure_throughput(configs, steps=2, warmup=1, rounds=2, store=store, progress=False)
    assert list(speeds) == configs[:2] and all(v > 0 for v in speeds.values())
    (stored,) = store.list_runs("ThroughputConfig")
    assert stored.config.runs == tuple(configs[:2]) and len(stored.summary["rounds"][0]) == 2
    assert speeds.rounds[configs[0]] == stored.summary["rounds"][0]  # every round kept: the spread
    lo, hi = speeds.spread(configs[1])
    assert lo <= speeds[configs[1]] <= hi
    monkeypatch.setattr(throughput, "train_epoch", lambda *a, **k: pytest.fail("measured again"))
    assert throughput.measure_throughput(configs, steps=2, warmup=1, rounds=2, store=store, progress=False) == speeds


# ------------------------------------------------------------------------------------------------ notebook 04's study
def test_paper_scale_compares_one_protocol_and_honours_the_dataset():
    for dataset, table, rho in (("cifar10", "table1", 0.05), ("cifar100", "table2", 0.1)):
        configs = cifar.notebook_configs("paper", dataset)
        assert list(configs) == ["SGD", "SAM", "ASAM", "SAMSON_2", "SAMSON_inf", "ESAM"]
        assert {c.dataset for c in configs.values()} == {dataset}
        sam, esam = configs["SAM"], configs["ESAM"]
        assert all(methods.same_protocol(c, sam) for c in configs.values())  # "% of SAM" compares like with like
        assert sam.model == "resnet34" and sam.rho == rho and (esam.beta, esam.gamma) == (0.6, 0.5)
        assert replace(esam, method="sam", beta=None, gamma=None) == sam
        assert list(configs.values())[:5] == list(papers.preset(f"samson-{table}-resnet34-{dataset}"))
        grid = cifar.esam_grid_configs("paper", dataset)
        assert all(methods.same_protocol(c, sam) for c in grid["SWP"] + grid["SDS"])
        assert [c.beta for c in grid["SWP"]] == [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    assert cifar.notebook_configs("paper")["SAM"].dataset == "cifar10"
    assert {c.dataset for c in cifar.notebook_configs("quick", "cifar100").values()} == {"cifar100"}
    digits = cifar.notebook_configs("paper", "digits")
    assert {(c.dataset, c.augment) for c in digits.values()} == {("digits", False)}
    with pytest.raises(ValueError, match="dataset='mnist'"):
        cifar.notebook_configs("paper", "mnist")


def _fake_runs(store, speeds=None):
    """Finished runs with hand-written summaries (no training): label -> RunResult."""
    out = {}
    for label, cfg in cifar.notebook_configs("smoke", "digits").items():
        store.begin(cfg)
        ips = {"SGD": 200.0, "SAM": 100.0, "ESAM": 120.0}.get(label, 90.0)
        out[label] = store.finish(cfg, {"test_acc": 0.5, "train_acc": 0.6, "train_eval_acc": 0.7,
                                        "best_test_acc": 0.55, "images_per_s": ips})
    return out


def test_tables_tolerate_runs_of_unknown_kinds(tmp_path):
    store = RunStore(tmp_path)
    results = _fake_runs(store)
    ghost_cfg = tiny(epochs=1, seed=7)
    store.begin(ghost_cfg)
    store.finish(ghost_cfg, {"test_acc": 0.25, "images_per_s": 50.0})
    meta_path = store.path(ghost_cfg) / "config.json"
    meta = json.loads(meta_path.read_text())
    meta.update(kind="GoneConfig", **{"class": "nowhere.GoneConfig"})
    meta_path.write_text(json.dumps(meta))
    (store.path(ghost_cfg)).rename(tmp_path / f"GoneConfig-{meta['key']}")
    toy = store.get_or_compute(throughput.ThroughputConfig(runs=()), lambda: {"x": 1})
    listed = {f"{r.kind}-{r.key}": r for r in store.list_runs()}
    ghost = next(r for r in listed.values() if r.kind == "GoneConfig")
    assert isinstance(ghost.config, dict) and toy == {"x": 1}
    mixed = {**results, "ghost": ghost, **{k: r for k, r in listed.items() if r.kind == "ThroughputConfig"}}
    table = cifar.accuracy_table(mixed)
    assert "ghost" in table.index and table.loc["ghost", "test acc %"] == 25.0 and len(table) == 7
    rows = cifar.throughput_rows(mixed)
    assert {r["name"]: r["ratio"] for r in rows}["ghost"] == 0.5
    cifar.throughput_table(mixed)
    cifar.summary_points(mixed, labels=("SAM", "ghost"))
    cifar.learning_curve(ghost)
    study = cifar.esam_study({"SWP": [ghost, results["ESAM"]]}, sam=results["SAM"])
    assert study["SWP"]["x"] == [1.0, 0.6, 1.0]


def test_throughput_rows_state_the_spread_over_rounds(tmp_path):
    results = _fake_runs(RunStore(tmp_path))
    cfg = {k: r.config for k, r in results.items()}
    # three interleaved rounds; ratios to SAM by hand: SGD 2.0, 2.0, 2.0 (clear); ESAM 1.2, 0.9, 1.05 (within spread)
    rounds = {cfg["SAM"]: [100.0, 100.0, 80.0], cfg["SGD"]: [200.0, 200.0, 160.0], cfg["ESAM"]: [120.0, 90.0, 84.0]}
    speeds = throughput.Speeds(rounds)
    assert speeds[cfg["ESAM"]] == 90.0 and speeds.spread(cfg["ESAM"]) == (84.0, 120.0)
    assert speeds.ratio(cfg["ESAM"], cfg["SAM"]) == pytest.approx((1.05, 0.9, 1.2))
    rows = {r["name"]: r for r in cifar.throughput_rows({k: results[k] for k in ("SGD", "SAM", "ESAM")},
                                                         speeds=speeds)}
    assert rows["SGD"]["ratio"] == 2.0 and rows["SGD"]["clear"] is True and rows["SAM"]["clear"] is None
    esam = rows["ESAM"]
    assert esam["ratio"] == pytest.approx(1.05) and (esam["ratio_min"], esam["ratio_max"]) == pytest.approx((0.9, 1.2))
    assert esam["clear"] is False and esam["rounds"] == 3
    assert (esam["images_per_s"], esam["images_per_s_min"], esam["images_per_s_max"]) == (90.0, 84.0, 120.0)
    table = cifar.throughput_table({k: results[k] for k in ("SGD", "SAM", "ESAM")}, speeds=speeds)
    assert table.loc["ESAM", "% of SAM range"] == "90-120" and table.loc["ESAM", "beyond spread"] == "no"
    plain = {r["name"]: r for r in cifar.throughput_rows(results)}  # no rounds: the runs' own speeds, no spread
    assert plain["ESAM"]["ratio"] == 1.2 and plain["ESAM"]["clear"] is None


def test_swp_normalization_reaches_the_optimizer_and_keeps_old_keys():
    """The field defaults to the ESAM code's rule (no key change for stored runs); 'paper' is a new run."""
    official = TrainConfig(model="small_cnn", dataset="digits", method="esam")
    paper = replace(official, swp_normalization="paper")
    assert run_key(official) != run_key(paper)
    assert "swp_normalization" not in runs.key_dict(official)
    opt = T.make_optimizer(paper, torch.nn.Linear(2, 2))
    assert opt.swp_normalization == "paper"
    with pytest.raises(ValueError, match="swp_normalization"):
        TrainConfig(method="sam", swp_normalization="paper")
    with pytest.raises(ValueError, match="swp_normalization"):
        TrainConfig(method="esam", swp_normalization="biased")


# Keys of stored runs, computed at 5c5693b (before the baselines were named method "base"): a stored run must
# keep its key, so naming the baseline "base" (and reading samlab 0.1's "sgd") retrains nothing.
_STORED_KEYS = [
    (dict(), "2e52d4b5885a635d"),                                                     # the SGD baseline
    (dict(method="base", epochs=2, seed=3), "05ac2acf9e5ffe93"),
    (dict(model="mnist1d_cnn", method="base", **papers.MNIST1D_PROTOCOL["adam"]), "d3c012a54d782970"),  # Adam
    (dict(method="sam", base="adam", lr=1e-3), "602be52aac0efb1e"),
    (dict(method="samson", p=math.inf), "b6a1b12469eebb8d"),
    (dict(method="esam"), "212abe24341012fd"),
    (dict(method="base", clip=0.1), "d3fbd7340d750bb1"),
]


@pytest.mark.parametrize("fields,key", _STORED_KEYS)
def test_naming_the_baseline_base_keeps_the_keys_of_stored_runs(fields, key):
    assert run_key(TrainConfig(**fields)) == key
    if fields.get("method") == "base":     # samlab 0.1 wrote "sgd" into config.json: read back as the same run
        old = TrainConfig(**{**fields, "method": "sgd"})
        assert old == TrainConfig(**fields) and old.method == "base" and run_key(old) == key


def test_the_adam_baseline_is_named_by_its_optimizer():
    adam = TrainConfig(model="mnist1d_cnn", method="base", **papers.MNIST1D_PROTOCOL["adam"])
    assert (adam.method, adam.base, adam.label) == ("base", "adam", "Adam") and TrainConfig().label == "SGD"
    assert TrainConfig(method="sam", base="adam").label == "SAM (Adam)"
