"""Sweep jobs on submitit: the checkpointable job, the local and SLURM executors, submission and its manifest."""

import contextlib
import datetime
import json
import os
import shlex
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import submitit
import torch

from ..checks import check_choice, check_int
from ..paths import runs_dir as default_runs_dir
from ..runs import RunStore, config_to_dict, run_key
from ..runs.store import atomic_write_text
from ..train import TrainConfig, train
from .status import _read_manifest, sweep_folder, sweep_status


EXECUTORS = ("local", "slurm")
#: SLURM settings samlab takes (names of submitit's SlurmExecutor parameters).
SLURM_OPTIONS = ("partition", "time", "gpus_per_node", "cpus_per_task", "mem", "array_parallelism", "account",
                 "qos", "constraint", "setup", "additional_parameters", "job_name")
#: Long sbatch options accepted as extra ``--sbatch NAME[=VALUE]`` (those submitit sets itself are refused).
SBATCH_EXTRA = frozenset("""acctg-freq batch bb begin chdir cluster-constraint clusters comment container contiguous
core-spec cores-per-socket cpu-freq cpus-per-gpu deadline delay-boot dependency distribution exclude exclusive export
export-file extra-node-info get-user-env gpu-bind gpu-freq gpus gpus-per-socket gpus-per-task gres gres-flags hint
hold licenses mail-type mail-user mcs-label mem-bind mem-per-cpu mem-per-gpu mincpus network nice no-kill
no-requeue nodefile nodelist ntasks-per-core ntasks-per-gpu ntasks-per-socket overcommit oversubscribe power prefer
priority profile propagate reboot requeue reservation sockets-per-node spread-job switches thread-spec
threads-per-core time-min tmp tres-per-task use-min-nodes wait-all-nodes wckey""".split())
_SBATCH_RESERVED = frozenset("array output error open-mode signal job-name partition time gpus-per-node "
                             "cpus-per-task mem account qos constraint nodes ntasks-per-node wrap".split())


# ------------------------------------------------------------------------------------------------ jobs
class SweepJob(submitit.helpers.Checkpointable):
    """One submitit job: train ``configs`` one after the other into the store at ``runs_dir`` (finished ones are
    returned at once, partial ones resume). ``checkpoint()`` (inherited) resubmits this same job on preemption
    or timeout."""

    def __init__(self, configs: Sequence[TrainConfig], runs_dir: str, device: str = "auto",
                 threads: int | None = None) -> None:
        self.configs = list(configs)
        self.runs_dir = str(runs_dir)
        self.device = device
        self.threads = threads

    def __call__(self) -> list[str]:
        if self.threads:
            torch.set_num_threads(self.threads)
        store = RunStore(self.runs_dir)
        keys = []
        for c in self.configs:
            key = run_key(c)
            print(f"{c.label} {key}: {store.status(c)}", flush=True)

            def log(epoch: int, row: dict, key: str = key) -> None:
                print(f"{key} epoch {epoch}: train acc {row['train_acc']:.4f} test acc {row['test_acc']:.4f}",
                      flush=True)
            result = train(c, store=store, progress=False, device=self.device, callback=log)
            print(f"{key}: finished, test acc {result.summary['test_acc']:.4f}", flush=True)
            keys.append(key)
        return keys


def _slurm_parameters(slurm: Mapping[str, Any] | None) -> dict[str, Any]:
    params = dict(slurm or {})
    for k in params:
        check_choice("slurm option", k, SLURM_OPTIONS)
    extra = dict(params.pop("additional_parameters", None) or {})
    for k in list(extra):
        flag = k.replace("_", "-")
        if flag in _SBATCH_RESERVED:
            raise ValueError(f"--sbatch {flag}: set it with samlab's own flag (or it is set by submitit), not --sbatch")
        if flag not in SBATCH_EXTRA:
            raise ValueError(f"--sbatch {flag}: not a known sbatch option; allowed: {', '.join(sorted(SBATCH_EXTRA))}")
    if extra:
        params["additional_parameters"] = extra
    for k in ("time", "gpus_per_node", "cpus_per_task", "array_parallelism"):
        if params.get(k) is not None:
            params[k] = check_int(k, params[k], low=1 if k != "gpus_per_node" else 0)
    return {k: v for k, v in params.items() if v is not None}


def _check_executor(executor: str, parallel: int, timeout_min: int | None, slurm: Mapping[str, Any] | None) -> None:
    check_choice("executor", executor, EXECUTORS)
    check_int("parallel", parallel, low=1)
    check_int("timeout_min", timeout_min, low=1, optional=True)
    if executor == "local" and slurm:
        raise ValueError(f"SLURM options {sorted(slurm)} apply only to executor 'slurm'")
    if executor == "slurm":
        _slurm_parameters(slurm)


def make_executor(executor: str, folder: str | Path, *, parallel: int = 1, timeout_min: int | None = None,
                  slurm: Mapping[str, Any] | None = None) -> Any:
    """A submitit executor writing into ``folder``: LocalExecutor or SlurmExecutor (parameters validated)."""
    _check_executor(executor, parallel, timeout_min, slurm)
    if executor == "local":
        ex = submitit.LocalExecutor(folder=str(folder))
        ex.update_parameters(timeout_min=check_int("timeout_min", timeout_min or 7 * 24 * 60, low=1))
        return ex
    params = _slurm_parameters(slurm)
    params.setdefault("job_name", "samlab")
    if timeout_min is not None:
        params.setdefault("time", check_int("timeout_min", timeout_min, low=1))
    ex = submitit.SlurmExecutor(folder=str(folder), max_num_timeout=3)
    ex.update_parameters(**params)
    return ex


def sbatch_preview(n_runs: int, folder: str | Path, slurm: Mapping[str, Any] | None = None) -> str:
    """The sbatch script a SLURM sweep of ``n_runs`` runs would submit (for ``--dry-run``; no cluster needed)."""
    from submitit.slurm.slurm import _make_sbatch_string  # submitit's own renderer

    params = _slurm_parameters(slurm)
    params.setdefault("job_name", "samlab")
    command = " ".join([shlex.quote(sys.executable), "-u -m submitit.core._submit", shlex.quote(str(folder))])
    return _make_sbatch_string(command=command, folder=str(folder),
                               map_count=n_runs if n_runs > 1 else None, **params)


@contextlib.contextmanager
def _interruptible_children() -> Iterator[None]:
    """Let the local jobs started inside answer the executor's cancel (SIGINT).

    A process started from a shell's background (``cmd &``) inherits SIGINT *ignored*, passes that on to every
    child, and Python then never installs its KeyboardInterrupt handler: submitit's local controller would ignore
    ``job.cancel()`` and the run go on. A Python-level handler, unlike "ignore", is reset to the default in a
    child, so one is set for the moment the jobs start (main thread only; nothing changes when SIGINT is handled).
    """
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN or threading.current_thread() is not threading.main_thread():
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


# ------------------------------------------------------------------------------------------------ submit
@dataclass
class Submission:
    """What :func:`submit` did: run keys submitted (with job ids), skipped (with the reason), and the jobs."""

    folder: Path
    submitted: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    jobs: list[Any] = field(default_factory=list)


def submit(configs: Sequence[TrainConfig], *, executor: str = "local", runs_dir: str | Path | None = None,
           name: str = "sweep", parallel: int = 1, timeout_min: int | None = None,
           slurm: Mapping[str, Any] | None = None, device: str = "auto", threads: int | None = None,
           dry_run: bool = False) -> Submission:
    """Submit the runs of ``configs`` that are not finished (nor queued/running in this sweep's manifest).

    Everything is validated before the first job is submitted. ``parallel``: local subprocesses at once;
    ``threads``: torch threads per job (default: local, the CPU count / ``parallel``; SLURM, torch's default).
    """
    configs = list(dict.fromkeys(configs))
    for c in configs:
        if not isinstance(c, TrainConfig):
            raise ValueError(f"a sweep is a list of TrainConfig, got {type(c).__name__}")
    if not configs:
        raise ValueError("the sweep has no runs")
    check_int("threads", threads, low=1, optional=True)
    _check_executor(executor, parallel, timeout_min, slurm)
    runs_root = Path(runs_dir if runs_dir is not None else default_runs_dir()).resolve()
    folder = sweep_folder(runs_root, name)
    states = {s["key"]: s["state"] for s in sweep_status(runs_root, name, configs, log_lines=0)}
    out = Submission(folder=folder)
    todo = []
    for c in configs:
        key, state = run_key(c), states[run_key(c)]
        if state in ("finished", "queued", "running"):
            out.skipped[key] = state
        else:
            todo.append(c)
    if dry_run:
        out.submitted.update({run_key(c): "(dry run)" for c in todo})
        return out
    if not todo:
        return out
    ex = make_executor(executor, folder / "jobs", parallel=parallel, timeout_min=timeout_min, slurm=slurm)
    if executor == "local":
        shares = [todo[i::parallel] for i in range(min(parallel, len(todo)))]
        per_job_threads = threads or max(1, (os.cpu_count() or 1) // len(shares))
        with _interruptible_children():
            jobs = [ex.submit(SweepJob(share, str(runs_root), device, per_job_threads)) for share in shares]
        owners = [(c, j) for share, j in zip(shares, jobs) for c in share]
    else:
        with ex.batch():
            jobs = [ex.submit(SweepJob([c], str(runs_root), device, threads)) for c in todo]
        owners = list(zip(todo, jobs))
    manifest = _read_manifest(folder)
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    for c, job in owners:
        key = run_key(c)
        manifest["runs"][key] = {"job_id": str(job.job_id), "executor": executor, "submitted": now,
                                 "label": c.label, "config": config_to_dict(c)}
        out.submitted[key] = str(job.job_id)
    atomic_write_text(folder / "manifest.json", json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    out.jobs = jobs
    return out
