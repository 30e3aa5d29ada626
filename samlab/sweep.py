"""Sweeps: many runs dispatched through submitit (this machine's subprocesses, or SLURM), one results store.

    samlab sweep --model resnet18 --method sam --grid rho=0.05,0.1 --grid seed=0,1,2 \\
                 --executor slurm --partition gpu --time 720 --gpus-per-node 1 --runs-dir /shared/samlab/runs
    samlab sweep --grid rho=0.05,0.1 --grid seed=0,1,2 --runs-dir /shared/samlab/runs --status

A sweep is a list of :class:`~samlab.train.TrainConfig` (a preset, a grid, or a list built in Python). Every job
calls the one training entry point, :func:`samlab.train.train`, against the same :class:`~samlab.runs.RunStore`
(a shared folder on a cluster), so results land in one place whoever ran them:

* runs already finished are not submitted; partial runs resume from their per-epoch checkpoint;
* a job is a :class:`SweepJob`, a ``submitit.helpers.Checkpointable``: when SLURM preempts it or its time runs
  out, submitit calls ``checkpoint()``, which resubmits the same job; it resumes from the store's last checkpoint
  (at most one epoch is lost);
* ``executor="slurm"`` submits one SLURM array task per run (``array_parallelism`` at once);
  ``executor="local"`` starts ``parallel`` subprocesses (submitit's LocalExecutor), each training its share of the
  runs one after the other (the LocalExecutor has no queue of its own; a share is the parallelism limit without a
  home-made scheduler);
* a small manifest, ``<runs_dir>/_sweeps/<name>/manifest.json``, records the job id of every run key (and its
  config), so :func:`sweep_status` can tell queued, running and failed jobs (with the last lines of their logs)
  from missing, partial and finished runs. submitit's logs live next to it, in ``jobs/``.
"""
from __future__ import annotations

import dataclasses
import datetime
import itertools
import json
import math
import os
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import submitit

from .checks import check_choice, check_int
from .paths import runs_dir as default_runs_dir
from .runs import RunStore, config_from_dict, config_to_dict, run_key
from .runs.store import atomic_write_text
from .train import TrainConfig

__all__ = ["EXECUTORS", "STATES", "SLURM_OPTIONS", "parse_grid", "expand", "SweepJob", "make_executor", "submit",
           "Submission", "sweep_status", "sweep_folder", "sbatch_preview"]

EXECUTORS = ("local", "slurm")
STATES = ("missing", "queued", "running", "partial", "finished", "failed")
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
_NOT_GRIDDABLE = {"device": "device is not part of a run's identity (give it with --device)"}


# ------------------------------------------------------------------------------------------------ grids
def _field_types() -> dict[str, str]:
    return {f.name: str(f.type) for f in dataclasses.fields(TrainConfig)}


def _parse_value(name: str, kind: str, text: str) -> Any:
    """One grid value, typed as the TrainConfig field ``name`` (annotation ``kind``)."""
    t = text.strip()
    if "None" in kind and t.lower() in ("none", "null"):
        return None
    base = kind.replace("| None", "").strip()
    try:
        if base == "bool":
            low = t.lower()
            if low not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return low in ("true", "1", "yes")
        if base == "int":
            value = float(t)
            if not value.is_integer():
                raise ValueError
            return int(value)
        if base == "float":
            value = float(t)
            if math.isnan(value):
                raise ValueError
            return value
    except ValueError:
        raise ValueError(f"--grid {name}: {text!r} is not a{'n' if base == 'int' else ''} {base}"
                         f"{' (or none)' if 'None' in kind else ''}") from None
    if not t:
        raise ValueError(f"--grid {name}: an empty value is not allowed")
    return t


def parse_grid(specs: Iterable[str]) -> dict[str, list[Any]]:
    """``["rho=0.05,0.1", "seed=0,1,2"]`` -> ``{"rho": [0.05, 0.1], "seed": [0, 1, 2]}``, typed per TrainConfig field.

    ValueError naming the argument for a malformed spec, a field TrainConfig lacks, or a value of the wrong type.
    """
    types = _field_types()
    axes: dict[str, list[Any]] = {}
    for spec in specs:
        name, sep, values = str(spec).partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name or not values.strip():
            raise ValueError(f"--grid {spec!r} must look like FIELD=V1,V2,... (e.g. rho=0.05,0.1)")
        if name in _NOT_GRIDDABLE:
            raise ValueError(f"--grid {name}: {_NOT_GRIDDABLE[name]}")
        if name not in types:
            allowed = ", ".join(n for n in types if n not in _NOT_GRIDDABLE)
            raise ValueError(f"--grid {name}: TrainConfig has no field {name!r}; allowed: {allowed}")
        if name in axes:
            raise ValueError(f"--grid {name} is given twice; list all its values in one --grid")
        axes[name] = list(dict.fromkeys(_parse_value(name, types[name], v) for v in values.split(",")))
    return axes


def _with(base: TrainConfig | Mapping[str, Any], over: Mapping[str, Any]) -> TrainConfig:
    if isinstance(base, Mapping):
        return TrainConfig(**{**base, **over})
    over = dict(over)
    if "method" in over and over["method"] != base.method:  # the new method's own defaults, not base's
        for k in ("rho", "eta", "beta", "gamma", "adaptive_params"):
            over.setdefault(k, None)
        over.setdefault("p", 2.0)
    return dataclasses.replace(base, **over)


def expand(bases: TrainConfig | Mapping[str, Any] | Sequence[TrainConfig | Mapping[str, Any]],
           axes: Mapping[str, Sequence[Any]] | None = None) -> list[TrainConfig]:
    """Every base (a TrainConfig, or a dict of fields) crossed with every combination of ``axes``, deduplicated.

    A combination TrainConfig refuses raises ValueError naming the combination.
    """
    if isinstance(bases, (TrainConfig, Mapping)):
        bases = [bases]
    axes = dict(axes or {})
    types = _field_types()
    for name in axes:
        if name not in types or name in _NOT_GRIDDABLE:
            raise ValueError(f"grid axis {name!r} is not a TrainConfig field that identifies a run")
    names = list(axes)
    out: list[TrainConfig] = []
    for base in bases:
        for values in itertools.product(*(axes[n] for n in names)):
            combo = dict(zip(names, values))
            try:
                out.append(_with(base, combo))
            except ValueError as err:
                raise ValueError(f"grid point {combo}: {err}") from None
    return list(dict.fromkeys(out))


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
        import torch

        from .train import train

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


def sweep_folder(runs_dir: str | Path | None = None, name: str = "sweep") -> Path:
    """``<runs_dir>/_sweeps/<name>``: the manifest and submitit's job folder (``jobs/``)."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", str(name)):
        raise ValueError(f"name={name!r} must be letters, digits, '_', '.', '-' (a folder name)")
    return Path(runs_dir if runs_dir is not None else default_runs_dir()) / "_sweeps" / name


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


# ------------------------------------------------------------------------------------------------ submit
@dataclass
class Submission:
    """What :func:`submit` did: run keys submitted (with job ids), skipped (with the reason), and the jobs."""

    folder: Path
    submitted: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    jobs: list[Any] = field(default_factory=list)


def _read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / "manifest.json"
    if not path.is_file():
        return {"runs": {}}
    return json.loads(path.read_text())


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


# ------------------------------------------------------------------------------------------------ status
def _pid_alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    if stat.is_file():
        try:
            return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except (OSError, IndexError):
            return False
    try:
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    return True


def _tail(paths: Any, lines: int) -> str:
    if lines <= 0:
        return ""
    for p in (paths.stderr, paths.stdout):
        try:
            text = [ln for ln in Path(p).read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            continue
        if text:
            return "\n".join(text[-lines:])
    return ""


def _job_state(entry: Mapping[str, Any], jobs_folder: Path) -> tuple[str, Any]:
    """(scheduler view: 'queued' | 'running' | 'error' | 'done' | 'gone' | 'unknown', the job's paths)."""
    from submitit.core.utils import JobPaths

    job_id = entry["job_id"]
    paths = JobPaths(jobs_folder, job_id=job_id, task_id=0)
    if paths.result_pickle.is_file():
        try:
            outcome = submitit.core.utils.pickle_load(paths.result_pickle)[0]
        except Exception:  # noqa: BLE001 - a half-written pickle: treat as still running
            return "running", paths
        return ("error" if outcome == "error" else "done"), paths
    if entry.get("executor") == "local":
        try:
            return ("running" if _pid_alive(int(job_id)) else "gone"), paths
        except ValueError:
            return "unknown", paths
    try:
        state = submitit.SlurmJob(jobs_folder, job_id).state.upper()
    except Exception:  # noqa: BLE001 - no sacct here
        return "unknown", paths
    if state.startswith(("PENDING", "REQUEUE", "CONFIGURING", "SUSPENDED")):
        return "queued", paths
    if state.startswith(("RUNNING", "COMPLETING")):
        return "running", paths
    if state.startswith("COMPLETED"):
        return "done", paths
    if state.startswith(("FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED",
                         "BOOT_FAIL", "DEADLINE")):
        return "error", paths
    return "unknown", paths


def sweep_status(runs_dir: str | Path | None = None, name: str = "sweep",
                 configs: Sequence[TrainConfig] | None = None, log_lines: int = 5) -> list[dict[str, Any]]:
    """One row per run (``configs``, or every run in the sweep's manifest): key, label, config, state (one of
    :data:`STATES`), job id, and for a failed job the last ``log_lines`` lines of its log."""
    runs_root = Path(runs_dir if runs_dir is not None else default_runs_dir())
    folder = sweep_folder(runs_root, name)
    manifest = _read_manifest(folder)["runs"]
    store = RunStore(runs_root)
    if configs is None:
        configs = [config_from_dict(TrainConfig, e["config"]) for e in manifest.values()]
    rows = []
    for c in dict.fromkeys(configs):
        key = run_key(c)
        stored = store.status(c)
        entry = manifest.get(key)
        row = {"key": key, "label": c.label, "config": c, "stored": stored, "job_id": None, "log": ""}
        state = stored
        if entry is not None and stored != "finished":
            row["job_id"] = entry["job_id"]
            job, paths = _job_state(entry, folder / "jobs")
            if job == "queued":
                state = "queued"
            elif job == "running":  # a local job trains its share in order: runs not begun yet are queued
                state = "running" if stored == "partial" or entry.get("executor") != "local" else "queued"
            elif job in ("error", "gone"):
                state = "failed"
                row["log"] = _tail(paths, log_lines)
        row["state"] = state
        rows.append(row)
    return rows
