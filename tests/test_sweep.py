"""Sweeps through submitit: grids, bad input, a local sweep end to end (a job killed mid-run is resubmitted and
resumes), and the SLURM submission read back without a cluster (sbatch replaced by echo)."""
from __future__ import annotations

import json
import time

import pytest
import submitit

from samlab import sweep as S
from samlab.cli import main
from samlab.runs import RunStore, run_key
from samlab.train import TrainConfig

TIMING = {"train_time_s", "eval_time_s", "images_per_s"}


def tiny(**kw) -> TrainConfig:
    base = dict(model="small_cnn", dataset="digits", method="sam", epochs=1, batch_size=32, max_train_samples=64,
                max_test_samples=32, lr=0.05, schedule="constant", augment=False)
    base.update(kw)
    return TrainConfig(**base)


# ------------------------------------------------------------------------------------------------ grids, bad input
def test_grid_types_and_expansion():
    axes = S.parse_grid(["rho=0.05,0.1", "seed=0,1,2", "max_test_samples=none,32"])
    assert axes == {"rho": [0.05, 0.1], "seed": [0, 1, 2], "max_test_samples": [None, 32]}
    configs = S.expand(tiny(), axes)
    assert len(configs) == 12 and {c.rho for c in configs} == {0.05, 0.1}
    # a grid over the method takes each method's own defaults, not the base's
    methods = S.expand(tiny(method="base"), S.parse_grid(["method=base,sam,samson"]))
    assert [(c.method, c.rho) for c in methods] == [("base", 0.0), ("sam", 0.05), ("samson", 0.5)]


@pytest.mark.parametrize("spec, match", [
    (["nosuch=1,2"], r"--grid nosuch: TrainConfig has no field 'nosuch'; allowed: model, "),
    (["seed=a"], r"--grid seed: 'a' is not an int"),
    (["seed=1.5"], r"--grid seed: '1.5' is not an int"),
    (["rho=big"], r"--grid rho: 'big' is not a float"),
    (["augment=maybe"], r"--grid augment: 'maybe' is not a bool"),
    (["rho"], r"FIELD=V1,V2"),
    (["device=cpu"], r"device is not part of a run's identity"),
])
def test_bad_grid(spec, match):
    with pytest.raises(ValueError, match=match):
        S.parse_grid(spec)


def test_bad_grid_point_named():
    with pytest.raises(ValueError, match=r"grid point \{'rho': -1.0\}: rho=-1.0"):
        S.expand(tiny(), {"rho": [0.05, -1.0]})


@pytest.mark.parametrize("argv, match", [
    (["--executor", "pbs"], r"--executor: invalid choice: 'pbs'"),
    (["--partition", "gpu"], r"--partition: SLURM option\(s\) apply only to --executor slurm"),
    (["--executor", "slurm", "--sbatch", "frobnicate=1"], r"--sbatch frobnicate: not a known sbatch option"),
    (["--executor", "slurm", "--sbatch", "array=0-3"], r"--sbatch array: set it with samlab's own flag"),
    (["--executor", "slurm", "--gpus-per-node", "x"], r"--gpus-per-node: 'x' is not a number"),
    (["--grid", "nosuch=1"], r"argument --grid: --grid nosuch"),
    (["--grid", "seed=x"], r"argument --grid: --grid seed: 'x' is not an int"),
    (["--accumulate", "0"], r"--accumulate: '0' is out of range"),
    (["--accumulate", "3"], r"batch_size=32 does not split evenly"),
    (["--parallel", "0"], r"--parallel: '0' is out of range"),
])
def test_bad_cli_input_refused_before_submitting(argv, match, tmp_path, capsys):
    base = ["sweep", "--model", "small_cnn", "--dataset", "digits", "--batch-size", "32", "--runs-dir", str(tmp_path)]
    with pytest.raises(SystemExit) as exc:
        main(base + argv)
    assert exc.value.code == 2
    assert __import__("re").search(match, capsys.readouterr().err)
    assert not (tmp_path / "_sweeps").exists()  # nothing submitted, no folder made


# ------------------------------------------------------------------------------------------------ local, end to end
def _wait(job, timeout=300):
    t0 = time.time()
    while not job.done():
        assert time.time() - t0 < timeout, "job did not end"
        time.sleep(0.3)


def _rows(store, cfg):
    r = store.load(cfg)
    return [] if r is None else r.metrics


@pytest.mark.slow
def test_local_sweep_kill_resubmit_resume(tmp_path, capsys):
    """Two runs on the local executor (2 subprocesses); the long one is killed mid-run: its state reads failed
    (with the log's last lines), resubmitting skips the finished run and resumes the other from its checkpoint."""
    quick, slow = tiny(seed=0), tiny(seed=1, epochs=16, max_train_samples=128)
    store = RunStore(tmp_path)
    sub = S.submit([quick, slow], executor="local", runs_dir=tmp_path, parallel=2, threads=1, device="cpu")
    assert set(sub.submitted) == {run_key(quick), run_key(slow)} and len(sub.jobs) == 2
    manifest = json.loads((tmp_path / "_sweeps" / "sweep" / "manifest.json").read_text())
    assert {e["job_id"] for e in manifest["runs"].values()} == {j.job_id for j in sub.jobs}
    job_quick, job_slow = sub.jobs
    t0 = time.time()
    while len(_rows(store, slow)) < 2:  # let it train two epochs, then kill it
        assert time.time() - t0 < 300 and not job_slow.done(), "the long run ended before it was killed"
        time.sleep(0.2)
    states = {r["key"]: r["state"] for r in S.sweep_status(tmp_path)}
    assert states[run_key(slow)] == "running"
    job_slow.cancel()
    _wait(job_slow)
    _wait(job_quick)
    before = _rows(store, slow)
    assert 2 <= len(before) < slow.epochs and store.status(slow) == "partial"
    rows = {r["key"]: r for r in S.sweep_status(tmp_path)}
    assert rows[run_key(quick)]["state"] == "finished"
    assert rows[run_key(slow)]["state"] == "failed" and rows[run_key(slow)]["log"]
    assert main(["sweep", "--status", "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "finished" in out and "failed" in out and "seed=1" in out

    again = S.submit([quick, slow], executor="local", runs_dir=tmp_path, parallel=2, threads=1, device="cpu")
    assert again.skipped == {run_key(quick): "finished"} and list(again.submitted) == [run_key(slow)]
    _wait(again.jobs[0])
    assert again.jobs[0].result() == [run_key(slow)]
    after = store.load(slow)
    assert after.finished and len(after.metrics) == slow.epochs
    # the epochs trained before the kill were resumed, not retrained: their rows (timings included) are unchanged
    assert after.metrics[:len(before)] == before
    assert {r["state"] for r in S.sweep_status(tmp_path)} == {"finished"}


# ------------------------------------------------------------------------------------------------ SLURM, no cluster
def test_slurm_submission_inspected(tmp_path, monkeypatch, capsys):
    """The real submitit pipeline with sbatch replaced by echo: one array task per run, our flags in the script,
    the pickled job is a Checkpointable SweepJob (requeued on preemption/timeout and resuming from the store)."""
    monkeypatch.setattr(submitit.SlurmExecutor, "affinity", classmethod(lambda cls: 2))
    monkeypatch.setattr(submitit.SlurmExecutor, "_make_submission_command",
                        lambda self, path: ["echo", "Submitted batch job 4242"])
    configs = S.expand(tiny(), {"rho": [0.05, 0.1], "seed": [0, 1]})
    # a finished run is not submitted
    store = RunStore(tmp_path)
    store.begin(configs[0])
    store.finish(configs[0], {"test_acc": 0.5})
    assert main(["sweep", "--model", "small_cnn", "--dataset", "digits", "--method", "sam", "--epochs", "1",
                 "--batch-size", "32", "--max-train-samples", "64", "--max-test-samples", "32", "--lr", "0.05",
                 "--schedule", "constant", "--no-augment", "--grid", "rho=0.05,0.1", "--grid", "seed=0,1",
                 "--executor", "slurm", "--partition", "gpu", "--time", "90", "--gpus-per-node", "1",
                 "--cpus-per-task", "4", "--mem-gb", "16", "--array-parallelism", "2", "--sbatch", "mail-type=END",
                 "--setup", "module load cuda", "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "3 run(s) submitted, 1 skipped" in out
    manifest = json.loads((tmp_path / "_sweeps" / "sweep" / "manifest.json").read_text())["runs"]
    assert sorted(e["job_id"] for e in manifest.values()) == ["4242_0", "4242_1", "4242_2"]
    assert run_key(configs[0]) not in manifest
    jobs = tmp_path / "_sweeps" / "sweep" / "jobs"
    script = (jobs / "4242_submission.sh").read_text()  # one sbatch script for the array
    for line in ("#SBATCH --array=0-2%2", "#SBATCH --partition=gpu", "#SBATCH --time=90", "#SBATCH --gpus-per-node=1",
                 "#SBATCH --cpus-per-task=4", "#SBATCH --mem=16GB", "#SBATCH --mail-type=END",
                 "#SBATCH --signal=USR2@90", "module load cuda", "submitit.core._submit"):
        assert line in script, line
    job = submitit.SlurmJob(jobs, "4242_1")
    delayed = submitit.core.utils.DelayedSubmission.load(job.paths.submitted_pickle)
    task = delayed.function
    assert isinstance(task, S.SweepJob) and isinstance(task, submitit.helpers.Checkpointable)
    assert task.runs_dir == str(tmp_path.resolve()) and len(task.configs) == 1
    assert run_key(task.configs[0]) in manifest
    requeued = task.checkpoint()
    assert isinstance(requeued, submitit.core.utils.DelayedSubmission) and requeued.function is task
    # no sacct here: the scheduler's view is unknown, the store's state is shown; nothing is resubmitted twice
    rows = {r["key"]: r for r in S.sweep_status(tmp_path)}
    assert {r["job_id"] for r in rows.values()} == {"4242_0", "4242_1", "4242_2"}
    assert {r["state"] for r in rows.values()} <= set(S.STATES)


def test_dry_run_submits_nothing(tmp_path, capsys):
    assert main(["sweep", "--model", "small_cnn", "--dataset", "digits", "--batch-size", "32", "--grid",
                 "seed=0,1", "--executor", "slurm", "--partition", "gpu", "--dry-run", "--runs-dir",
                 str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("would submit") == 2 and "#SBATCH --array=0-1%2" in out
    assert not (tmp_path / "_sweeps").exists()


# ------------------------------------------------------------------------------------------------ train_local
def test_train_local_matches_training_in_process(tmp_path, capsys):
    """Three runs in two local processes: the same weights as trained here (one thread each), results in the
    order asked, a second call loads them all without starting a process; bad input is refused."""
    import torch

    from samlab.train import train_all

    configs = [tiny(seed=s, max_train_samples=96) for s in (0, 1, 2)]
    store = RunStore(tmp_path / "par")
    results = S.train_local(configs, workers=2, store=store, progress=False, threads=1)
    out = capsys.readouterr().out
    assert "training 3 runs in 2 local processes" in out
    assert [r.config for r in results] == configs and all(r.finished for r in results)
    torch.set_num_threads(1)
    serial = train_all(configs[:2], store=RunStore(tmp_path / "serial"), progress=False)
    for a, b in zip(results, serial):
        sa, sb = a.state_dict(), b.state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sb)
        assert a.summary["test_acc"] == b.summary["test_acc"]
    again = S.train_local(configs, workers=2, store=store, progress=False)
    out = capsys.readouterr().out
    assert "local processes" not in out and "loaded 3 runs" in out
    assert [r.summary["test_acc"] for r in again] == [r.summary["test_acc"] for r in results]
    with pytest.raises(ValueError, match="workers"):
        S.train_local(configs, workers=0, store=store)


def test_local_jobs_answer_cancel_when_sigint_is_ignored():
    """Started from a shell's background, pytest (and a notebook server) inherit SIGINT ignored and pass it on; the
    local jobs must still stop on cancel (SIGINT): children started inside the guard get Python's handler back."""
    import signal
    import subprocess
    import sys

    from samlab.sweep.jobs import _interruptible_children

    probe = [sys.executable, "-c", "import signal; print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)"]
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        assert subprocess.run(probe, capture_output=True, text=True).stdout.strip() == "True"  # the inherited state
        with _interruptible_children():
            assert subprocess.run(probe, capture_output=True, text=True).stdout.strip() == "False"
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # the caller's disposition comes back
    finally:
        signal.signal(signal.SIGINT, old)
