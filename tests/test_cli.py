"""The command line: flags map to TrainConfig, bad input is refused naming allowed values, runs/data/reproduce."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from samlab import cli, paths
from samlab.runs import RunStore

TINY = ["--model", "small_cnn", "--dataset", "digits", "--epochs", "1", "--max-train-samples", "64",
        "--max-test-samples", "32", "--batch-size", "32", "--no-progress"]


def run(capsys, *argv):
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("argv, match", [
    (["train", "--model", "resnet1000"], "invalid choice: 'resnet1000' (choose from 'resnet18'"),
    (["train", "--dataset", "mnist"], "choose from 'cifar10', 'cifar100', 'digits'"),
    (["train", "--method", "adamw"], "choose from 'base', 'sam', 'asam', 'samson', 'esam'"),
    (["train", "--epochs", "0"], "--epochs: '0' is out of range; allowed: >= 1"),
    (["train", "--epochs", "2.5"], "must be an integer"),
    (["train", "--rho", "nan", "--method", "sam"], "must be a finite number"),
    (["train", "--method", "base", "--rho", "0.1"], "rho=0.1 is not allowed for method 'base'"),
    (["train", "--method", "sam", "--p", "inf"], "p=inf applies only to method 'samson'"),
    (["train", "--preset", "samson-table9"], "preset='samson-table9' is not known"),
    (["reproduce", "--scale", "huge"], "choose from 'smoke', 'quick', 'paper'"),
    (["data", "imagenet"], "choose from 'cifar10', 'cifar100', 'digits'"),
])
def test_bad_input_is_refused_before_training(capsys, argv, match, monkeypatch):
    from samlab.train import loop

    monkeypatch.setattr(loop, "run_data", lambda *a: pytest.fail("loaded data despite bad input"))
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    assert match in capsys.readouterr().err


def test_list_presets_and_dry_run(capsys):
    code, out, _ = run(capsys, "train", "--list-presets")
    assert code == 0 and "samson-table1-resnet34-cifar10 " in out and "esam-table1-resnet18-cifar10 " in out
    code, out, _ = run(capsys, "train", "--preset", "samson-table2-resnet50-cifar100", "--dry-run")
    where, *lines = out.strip().splitlines()
    assert where.startswith("samlab: data: ") and " results: " in where  # where results go, said first
    assert code == 0 and len(lines) == 5
    assert [line.split()[0] for line in lines] == ["SGD", "SAM", "ASAM", "SAMSON_2", "SAMSON_inf"]
    assert "rho=1" in lines[2] and "status=missing" in lines[0]


def test_flags_override_a_preset(capsys):
    code, out, _ = run(capsys, "train", "--preset", "samson-table1-vgg13_bn-cifar10-sam", "--epochs", "3",
                       "--dry-run")
    assert code == 0 and "epochs=3" in out and "rho=0.05" in out
    code, out, _ = run(capsys, "train", "--preset", "samson-table1-vgg13_bn-cifar10-sam", "--method", "asam",
                       "--dry-run")
    assert "ASAM" in out and "rho=0.5" in out  # the new method's own default rho, not SAM's


def test_train_then_runs_lists_it(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("SAMLAB_RUNS", str(tmp_path))
    code, out, _ = run(capsys, "train", *TINY, "--method", "samson", "--p", "inf", "--rho", "0.5")
    assert code == 0 and "training 1 run" in out and "SAMSON_inf" in out and "test acc" in out
    assert out.splitlines()[0] == f"samlab: {paths.describe()}" and f"results: {tmp_path}" in out
    code, out, _ = run(capsys, "train", *TINY, "--method", "samson", "--p", "inf", "--rho", "0.5")
    assert "loaded 1 run" in out and "training" not in out
    (result,) = RunStore(tmp_path).list_runs()
    assert result.config.p == float("inf") and result.config.model == "small_cnn"
    code, out, _ = run(capsys, "runs")
    header, row, footer = out.strip().splitlines()
    assert header.split() == ["kind", "key", "status", "model", "dataset", "method", "rho", "epochs", "test_acc"]
    assert row.split()[:8] == ["TrainConfig", result.key, "finished", "small_cnn", "digits", "SAMSON_inf", "0.5",
                               "1/1"]
    assert "1 run in" in footer


def test_runs_on_an_empty_store_and_partial_runs(capsys, tmp_path):
    code, out, _ = run(capsys, "runs", "--root", str(tmp_path))
    assert code == 0 and "no runs" in out
    from samlab.train import TrainConfig

    RunStore(tmp_path).begin(TrainConfig(model="small_cnn", dataset="digits", epochs=4))
    code, out, _ = run(capsys, "runs", "--root", str(tmp_path), "--kind", "TrainConfig")
    assert "partial" in out and "0/4" in out


def test_missing_data_exits_non_zero_with_a_message(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("SAMLAB_DATA", str(tmp_path))
    code, _, err = run(capsys, "train", *TINY[:2], "--dataset", "cifar10", "--epochs", "1", "--no-progress")
    assert code == 1 and "samlab data cifar10" in err and "dataset='digits'" in err

    def offline(name, root=None):
        raise RuntimeError(f"could not download {name}: no network")

    monkeypatch.setattr("samlab.data.download_dataset", offline)
    code, _, err = run(capsys, "data", "cifar100")
    assert code == 1 and "could not download cifar100: no network" in err
    monkeypatch.setattr("samlab.data.download_dataset", lambda name, root=None: tmp_path / name)
    code, out, _ = run(capsys, "data", "cifar10")
    assert code == 0 and "cifar10 is ready" in out


def test_reproduce_runs_the_chosen_notebooks_and_reports_times(capsys, tmp_path, monkeypatch):
    import samlab.notebooks as nb

    paths = [tmp_path / n for n in ("01_a.ipynb", "02_b.ipynb", "04_cifar_training.ipynb")]
    ran = []

    def fake_run(path, *, scale, threads=None, progress=True):
        ran.append((Path(path).name, scale))
        if "02" in Path(path).name:
            raise RuntimeError("cell 3 failed\nValueError: boom")
        return tmp_path / "out" / Path(path).name

    monkeypatch.setattr(nb, "notebook_paths", lambda: paths)
    monkeypatch.setattr(nb, "run_notebook", fake_run)
    code, out, _ = run(capsys, "reproduce", "--scale", "smoke", "--only", "01,04")
    from samlab.paths import describe
    assert out.splitlines()[0] == f"samlab: {describe()}"
    assert code == 0 and ran == [("01_a.ipynb", "smoke"), ("04_cifar_training.ipynb", "smoke")]
    assert "01_a.ipynb: " in out and " s  -> " in out and "2/2 notebooks ran" in out
    ran.clear()
    code, out, err = run(capsys, "reproduce")
    assert code == 1 and [r[1] for r in ran] == ["quick"] * 3
    assert "02_b.ipynb: FAILED" in err and "ValueError: boom" in err and "2/3 notebooks ran" in out
    with pytest.raises(SystemExit):
        cli.main(["reproduce", "--only", "07"])
    assert "choose from 01_a, 02_b, 04_cifar_training" in capsys.readouterr().err


def test_python_dash_m_samlab_works():
    proc = subprocess.run([sys.executable, "-m", "samlab", "train", "--epochs", "-1"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and "--epochs: '-1' is out of range" in proc.stderr
