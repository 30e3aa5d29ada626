"""``samlab sweep``: the command line of :mod:`samlab.sweep` (flags, the status table, the dry run).

    samlab sweep --preset samson-table1-resnet34-cifar10 --grid seed=0,1,2 --executor local --parallel 2
    samlab sweep --model resnet18 --method sam --grid rho=0.05,0.1 --grid seed=0,1,2 \\
        --executor slurm --partition gpu --time 720 --gpus-per-node 1 --cpus-per-task 8 --mem-gb 32 \\
        --array-parallelism 8 --runs-dir /shared/samlab/runs
    samlab sweep ... --status        # missing / queued / running / partial / finished / failed (+ log tail)
    samlab sweep ... --dry-run       # what would be submitted (and the sbatch script for SLURM)
"""
from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import time
from typing import Any, Callable

from . import papers
from .extras import MissingExtraError
from .runs import config_to_dict, run_key
from .train import TrainConfig

__all__ = ["add_sweep_parser", "cmd_sweep"]

_SLURM_FLAGS = {  # flag dest -> submitit SlurmExecutor parameter
    "partition": "partition", "time": "time", "gpus_per_node": "gpus_per_node", "cpus_per_task": "cpus_per_task",
    "mem_gb": "mem", "array_parallelism": "array_parallelism", "account": "account", "qos": "qos",
    "constraint": "constraint", "setup": "setup", "sbatch": "additional_parameters",
}


def add_sweep_parser(sub: Any, add_train_flags: Callable[[argparse.ArgumentParser], None],
                     number: Callable[..., Any]) -> argparse.ArgumentParser:
    """The ``sweep`` subparser (``number`` is the CLI's range-checked argparse type factory).

    Without the cluster extra (submitit) the subcommand is still listed and says in one line what to install,
    so ``samlab --help``, ``train`` and the rest work with the core alone.
    """
    try:
        from . import sweep  # optional dependency: samlab.sweep needs submitit (the cluster extra)
    except MissingExtraError as err:
        # every word after "sweep" is taken as a plain argument (no option prefix), so any flags reach the message
        sw = sub.add_parser("sweep", help="sweeps through submitit (needs the cluster extra)", prefix_chars="\0",
                            add_help=False)
        sw.add_argument("ignored", nargs="*", help=argparse.SUPPRESS)
        sw.set_defaults(subparser=sw, missing_extra=str(err))
        return sw

    sw = sub.add_parser("sweep", help="submit a grid of runs through submitit (local subprocesses or SLURM)",
                        description="Train many runs through submitit into one results store; finished runs are "
                                    "skipped, partial ones resume, preempted SLURM jobs requeue and resume.")
    sw.add_argument("--preset", help="start from a named paper setting (its configs x the grid)")
    sw.add_argument("--grid", action="append", default=[], metavar="FIELD=V1,V2",
                    help="a TrainConfig field and its values (repeatable): --grid rho=0.05,0.1 --grid seed=0,1,2")
    sw.add_argument("--executor", default="local", choices=sweep.EXECUTORS,
                    metavar="{" + ",".join(sweep.EXECUTORS) + "}",
                    help="local: subprocesses on this machine; slurm: one array task per run")
    sw.add_argument("--runs-dir", help="the results store (a shared folder on a cluster; default $SAMLAB_RUNS "
                                       "or data/runs); the sweep manifest and job logs go under its _sweeps/")
    sw.add_argument("--name", default="sweep", help="sweep name (manifest folder <runs-dir>/_sweeps/<name>)")
    sw.add_argument("--status", action="store_true", help="show each run's state and exit (submits nothing)")
    sw.add_argument("--dry-run", action="store_true", help="show what would be submitted and exit")
    sw.add_argument("--wait", action="store_true", help="wait for the submitted jobs and report how they ended")
    sw.add_argument("--threads", type=number("threads", low=1, integer=True), help="torch threads per job")
    sw.add_argument("--timeout-min", type=number("timeout_min", low=1, integer=True),
                    help="job time limit in minutes (local: default one week; SLURM: same as --time)")
    loc = sw.add_argument_group("local executor")
    loc.add_argument("--parallel", type=number("parallel", low=1, integer=True), default=1,
                     help="subprocesses at once (each trains its share of the runs in turn)")
    sl = sw.add_argument_group("SLURM executor (sbatch options)")
    sl.add_argument("--partition")
    sl.add_argument("--time", type=number("time", low=1, integer=True), help="minutes per job (sbatch --time)")
    sl.add_argument("--gpus-per-node", type=number("gpus_per_node", low=0, integer=True))
    sl.add_argument("--cpus-per-task", type=number("cpus_per_task", low=1, integer=True))
    sl.add_argument("--mem-gb", type=number("mem_gb", low=1, integer=True), help="memory per job in GB")
    sl.add_argument("--array-parallelism", type=number("array_parallelism", low=1, integer=True),
                    help="array tasks running at once (default 256)")
    sl.add_argument("--account")
    sl.add_argument("--qos")
    sl.add_argument("--constraint")
    sl.add_argument("--setup", action="append", metavar="CMD",
                    help="shell line run before the job (repeatable), e.g. 'module load cuda'")
    sl.add_argument("--sbatch", action="append", metavar="NAME[=VALUE]",
                    help="any other sbatch long option (repeatable), e.g. --sbatch mail-type=END --sbatch requeue")
    add_train_flags(sw)
    sw.set_defaults(subparser=sw)
    return sw


def _slurm_options(args: argparse.Namespace, parser: argparse.ArgumentParser) -> dict[str, Any]:
    given = {dest: getattr(args, dest) for dest in _SLURM_FLAGS if getattr(args, dest) is not None}
    if args.executor != "slurm":
        if given:
            flags = ", ".join("--" + d.replace("_", "-") for d in given)
            parser.error(f"{flags}: SLURM option(s) apply only to --executor slurm")
        return {}
    out: dict[str, Any] = {}
    for dest, value in given.items():
        if dest == "sbatch":
            extra = {}
            for item in value:
                name, sep, val = item.partition("=")
                if not re.fullmatch(r"[a-z][a-z0-9-]*", name):
                    parser.error(f"--sbatch {item!r}: expected NAME or NAME=VALUE with a long sbatch option name")
                extra[name] = val if sep else True
            out["additional_parameters"] = extra
        elif dest == "mem_gb":
            out["mem"] = f"{value}GB"
        else:
            out[_SLURM_FLAGS[dest]] = value
    return out


def _configs(args: argparse.Namespace, parser: argparse.ArgumentParser) -> list[Any]:
    from . import sweep  # optional dependency: samlab.sweep needs submitit (the cluster extra)

    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)
             if getattr(args, f.name, None) is not None and f.name != "device"}
    try:
        axes = sweep.parse_grid(args.grid)
    except ValueError as err:
        parser.error(f"argument --grid: {err}")
    try:
        if args.preset is None:
            return sweep.expand(given, axes)
        return sweep.expand(sweep.expand(list(papers.preset(args.preset)), {k: [v] for k, v in given.items()}), axes)
    except ValueError as err:
        parser.error(str(err))
    raise AssertionError("unreachable")


def _describe(configs: list[Any]) -> Callable[[Any], str]:
    """The fields that differ between the configs, as 'rho=0.05 seed=1'."""
    dicts = [config_to_dict(c) for c in configs]
    varying = [k for k in dicts[0] if len({repr(d.get(k)) for d in dicts}) > 1] if dicts else []
    return lambda c: " ".join(f"{k}={getattr(c, k)}" for k in varying) or c.model


def cmd_sweep(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``samlab sweep``: status, dry run, or submit (then optionally wait)."""
    if getattr(args, "missing_extra", None):
        print(f"samlab sweep: {args.missing_extra}", file=sys.stderr)
        return 2
    from . import sweep  # optional dependency: samlab.sweep needs submitit (the cluster extra)

    slurm = _slurm_options(args, parser)
    have_grid = args.preset is not None or bool(args.grid) or any(
        getattr(args, f.name, None) is not None for f in dataclasses.fields(TrainConfig) if f.name != "device")
    if args.status:
        configs = _configs(args, parser) if have_grid else None
        rows = sweep.sweep_status(args.runs_dir, args.name, configs)
        if not rows:
            print(f"no runs in sweep {args.name!r} ({sweep.sweep_folder(args.runs_dir, args.name)})")
            return 0
        show = _describe([r["config"] for r in rows])
        for r in rows:
            job = f"job {r['job_id']}" if r["job_id"] else ""
            print(f"{r['state']:9s} {r['key']}  {r['label']:12s} {show(r['config']):30s} {job}")
            if r["log"]:
                print("    " + r["log"].replace("\n", "\n    "))
        counts = {s: sum(r["state"] == s for r in rows) for s in sweep.STATES}
        print(", ".join(f"{n} {s}" for s, n in counts.items() if n))
        return 0
    configs = _configs(args, parser)
    try:
        sub = sweep.submit(configs, executor=args.executor, runs_dir=args.runs_dir, name=args.name,
                           parallel=args.parallel, timeout_min=args.timeout_min, slurm=slurm or None,
                           device=args.device or "auto", threads=args.threads, dry_run=args.dry_run)
    except ValueError as err:
        parser.error(str(err))
    show = _describe(configs)
    for c in configs:
        key = run_key(c)
        what = (f"skip ({sub.skipped[key]})" if key in sub.skipped else
                ("would submit" if args.dry_run else f"submitted as job {sub.submitted[key]}"))
        print(f"{key}  {c.label:12s} {show(c):30s} {what}")
    print(f"{len(sub.submitted)} run(s) {'to submit' if args.dry_run else 'submitted'}, {len(sub.skipped)} skipped "
          f"({args.executor}; store {args.runs_dir or 'default'}; manifest {sub.folder / 'manifest.json'})")
    if args.dry_run and args.executor == "slurm" and sub.submitted:
        print("\nsbatch script:\n" + sweep.sbatch_preview(len(sub.submitted), sub.folder / "jobs", slurm))
    if args.wait and sub.jobs:
        failed = 0
        for job in sub.jobs:
            while not job.done():
                time.sleep(2)
            try:
                job.result()
            except Exception as err:  # noqa: BLE001 - report every job
                failed += 1
                print(f"job {job.job_id} failed: {str(err).strip().splitlines()[-1]}", file=sys.stderr)
        return 1 if failed else 0
    return 0
