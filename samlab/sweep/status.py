"""What a sweep's runs are doing: missing, queued, running, partial, finished or failed (with its log's tail)."""

import json
import os
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import submitit

from ..paths import runs_dir as default_runs_dir
from ..runs import RunStore, config_from_dict, run_key
from ..train import TrainConfig


STATES = ("missing", "queued", "running", "partial", "finished", "failed")


def sweep_folder(runs_dir: str | Path | None = None, name: str = "sweep") -> Path:
    """``<runs_dir>/_sweeps/<name>``: the manifest and submitit's job folder (``jobs/``)."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", str(name)):
        raise ValueError(f"name={name!r} must be letters, digits, '_', '.', '-' (a folder name)")
    return Path(runs_dir if runs_dir is not None else default_runs_dir()) / "_sweeps" / name


def _read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / "manifest.json"
    if not path.is_file():
        return {"runs": {}}
    return json.loads(path.read_text())


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
