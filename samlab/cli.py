"""The command line: ``python -m samlab {train,sweep,runs,data,reproduce,doctor}`` (also installed as ``samlab``).

    samlab train --model resnet20 --dataset cifar10 --method samson --p inf --rho 0.5 --epochs 200
    samlab train --preset samson-table1-resnet34-cifar10          # the table column's five methods
    samlab train --list-presets
    samlab sweep --grid rho=0.05,0.1 --grid seed=0,1,2 --executor slurm --partition gpu   # see samlab.cli_sweep
    torchrun --nproc-per-node 4 -m samlab train --model resnet18 --batch-size 512     # one run, DDP
    samlab runs                                                   # what the results store holds
    samlab data cifar10                                           # download (needs a network)
    samlab reproduce --scale quick [--only 01,04]                 # run the notebooks headless
    samlab doctor                                                 # check the setup (exit 1 on a real problem)

Every ``TrainConfig`` field is a flag; with ``--preset`` the flags given override the preset's values.
Bad values are refused before anything is loaded, with the allowed values named.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import os
import pathlib
import sys
import time
from typing import Any, Sequence

import torch

from . import __version__, course, data, ledger, notebooks, papers, paths, site, train
from .checks import SCALES
from .cli_sweep import add_sweep_parser, cmd_sweep
from .data import IMAGE_DATASETS, MNIST1D_DATASETS
from .doctor import main as doctor_main
from .methods import BASES, TRAIN_METHODS
from .perturbation import SWP_NORMALIZATIONS
from .perturbation import ADAPTIVE_PARAMS
from .runs import RunStore, run_key
from .train.distributed import check_world_config, env_world_size
from .train.precision import AMP_MODES, describe_split

__all__ = ["main", "build_parser"]

# Flags of the train subcommand: TrainConfig field -> (type, help). Choices come from samlab.train.
_HELP = {
    "model": "network (see samlab.models)", "dataset": "data set ('digits' is the offline stand-in)",
    "method": "base = the base optimizer alone (--base sgd|adam); sam/asam/samson; esam = SAM + SWP + SDS",
    "rho": "neighbourhood size (default: the method's paper value; 0 only for base)",
    "p": "SAMSON's norm order (2, ..., inf)", "eta": "ASAM/SAMSON's eta (default 0.01 ASAM, 0 SAMSON)",
    "adaptive_params": "which tensors ASAM/SAMSON rescale", "beta": "ESAM SWP fraction of tensors perturbed",
    "gamma": "ESAM SDS fraction of samples kept", "clip": "clip conv/linear weights to [-c, c] after each step",
    "base": "base optimizer", "lr": "initial learning rate", "momentum": "SGD momentum (Adam's beta1)",
    "weight_decay": "L2 weight decay", "epochs": "training epochs", "batch_size": "batch size",
    "schedule": "lr schedule: step (/10 every --lr-step-every epochs), cosine, constant",
    "lr_step_every": "epochs between lr steps", "lr_decay": "lr factor at each step", "augment": "crop+flip",
    "seed": "seed of weights, batch order, augmentation, ESAM draws",
    "max_train_samples": "train on a fixed subset of this many images",
    "max_test_samples": "test on a fixed subset of this many images", "device": "auto, cpu or cuda (not in the key)",
    "amp": "mixed precision: bf16 autocast, or fp16 with a gradient scaler (two-pass aware)",
    "accumulate": "micro-batches per step (the ascent uses their accumulated gradient)",
    "ascent_splits": "m-sharpness: eps per 1/S of the global batch (torchrun default: one per process; 1 = "
                     "all-reduce the first pass too)",
}


def _number(name: str, *, low: float | None = None, integer: bool = False, allow_inf: bool = False):
    """An argparse type that refuses bad numbers with the allowed range in the message."""
    def parse(text: str) -> float | int:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if math.isnan(value) or (math.isinf(value) and not allow_inf):
            raise argparse.ArgumentTypeError(f"{text!r} must be a finite number")
        if integer:
            if not value.is_integer():
                raise argparse.ArgumentTypeError(f"{text!r} must be an integer")
            value = int(value)
        if low is not None and value < low:
            raise argparse.ArgumentTypeError(f"{text!r} is out of range; allowed: >= {low}")
        return value
    parse.__name__ = name
    return parse


def _add_train_flags(parser: argparse.ArgumentParser) -> None:
    choices = {"model": train.IMAGE_MODELS, "dataset": (*IMAGE_DATASETS, *MNIST1D_DATASETS), "method": TRAIN_METHODS,
               "base": BASES, "schedule": train.SCHEDULES, "adaptive_params": ADAPTIVE_PARAMS, "device": train.DEVICES,
               "swp_normalization": SWP_NORMALIZATIONS, "amp": AMP_MODES}
    ints = {"epochs": 1, "batch_size": 1, "lr_step_every": 1, "seed": 0, "max_train_samples": 1,
            "max_test_samples": 1, "accumulate": 1, "ascent_splits": 1}
    group = parser.add_argument_group("run settings (TrainConfig fields; default: the preset's, else TrainConfig's)")
    for f in dataclasses.fields(train.TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        kw: dict[str, Any] = dict(dest=f.name, default=None, help=_HELP.get(f.name, ""))
        if f.name in choices:
            kw.update(choices=choices[f.name], metavar="{" + ",".join(choices[f.name]) + "}")
        elif f.name == "augment":
            kw.update(action=argparse.BooleanOptionalAction)
        elif f.name in ints:
            kw.update(type=_number(f.name, low=ints[f.name], integer=True))
        else:
            kw.update(type=_number(f.name, low=0.0, allow_inf=f.name == "p"))
        if f.name == "p":
            kw["help"] += "; 'inf' for SAMSON_inf"
        group.add_argument(flag, **kw)


def build_parser() -> argparse.ArgumentParser:
    """The ``samlab`` argument parser (subcommands train, runs, data, reproduce)."""
    parser = argparse.ArgumentParser(prog="samlab", description="Sharpness-aware training: train, list runs, "
                                     "fetch data, reproduce the notebooks.")
    parser.add_argument("--version", action="version", version=f"samlab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{train,sweep,runs,data,reproduce,course,site,doctor}")

    tr = sub.add_parser("train", help="train one run or a preset (resumes or returns stored runs)",
                        description="Train (or resume, or load) runs into the results store (data/runs).")
    tr.add_argument("--preset", help="a named paper setting (see --list-presets); flags override its values")
    tr.add_argument("--list-presets", action="store_true", help="list the preset names and exit")
    tr.add_argument("--retrain", action="store_true", help="delete the stored run(s) first")
    tr.add_argument("--no-progress", action="store_true", help="no progress bars")
    tr.add_argument("--dry-run", action="store_true", help="show the configs and their status, train nothing")
    tr.add_argument("--threads", type=_number("threads", low=1, integer=True), help="torch CPU threads")
    _add_train_flags(tr)
    tr.set_defaults(subparser=tr)

    add_sweep_parser(sub, _add_train_flags, _number)

    rn = sub.add_parser("runs", help="list the results store", description="Table of the runs in the store.")
    rn.add_argument("--kind", help="only runs of this config class (e.g. TrainConfig)")
    rn.add_argument("--root", help="store folder (default: $SAMLAB_RUNS or data/runs)")

    da = sub.add_parser("data", help="download a data set", description="Download CIFAR-10/100 into data/.")
    da.add_argument("name", choices=IMAGE_DATASETS, metavar="{" + ",".join(IMAGE_DATASETS) + "}")

    rp = sub.add_parser("reproduce", help="run every notebook headless at a scale",
                        description="Execute the notebooks top to bottom (papermill); print each one's wall time.")
    rp.add_argument("--scale", default="quick", choices=SCALES, metavar="{" + ",".join(SCALES) + "}")
    rp.add_argument("--only", help="comma-separated notebook numbers or names, e.g. 01,04")
    rp.add_argument("--threads", type=_number("threads", low=1, integer=True), help="kernel OMP/MKL threads")
    rp.set_defaults(subparser=rp)

    co = sub.add_parser("course", help="write the student and instructor editions of the notebooks",
                        description="From the notebooks (the instructor edition): OUT/student (cells tagged "
                        "'solution' removed) and OUT/instructor, outputs stripped.")
    co.add_argument("--out", default="build/course", help="output folder (default build/course)")

    si = sub.add_parser("site", help="build the static site from the executed notebooks",
                        description="The HTML site of the suite (Sphinx): the notebooks as `make reproduce` executed "
                                    "them, their student edition, the claims ledger, installing, the API reference.")
    si.add_argument("--notebooks", default=None, help="folder of executed notebooks (default notebooks/_executed)")
    si.add_argument("--out", default="build/site", help="output folder (default build/site)")
    sub.add_parser("doctor", help="check the setup (widgets, aihwkit, torch, data, folders)",
                   description="One screen: what works, what does not and what to do; exit status 1 on a real problem.")
    return parser


# ------------------------------------------------------------------------------------------------ train
def _configs_from_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> list[Any]:
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(train.TrainConfig)
             if getattr(args, f.name) is not None}
    try:
        if args.preset is None:
            return [train.TrainConfig(**given)]
        out = []
        for cfg in papers.preset(args.preset):
            over = dict(given)
            if "method" in over and over["method"] != cfg.method:  # the method's own defaults, not the preset's
                for k in ("rho", "eta", "beta", "gamma"):
                    over.setdefault(k, None)
                over.setdefault("p", 2.0)
            out.append(dataclasses.replace(cfg, **over))
        return list(dict.fromkeys(out))
    except ValueError as err:
        parser.error(str(err))
    raise AssertionError("unreachable")


def _torchrun_configs(configs: list[Any], args: argparse.Namespace, parser: argparse.ArgumentParser) -> list[Any]:
    """Under torchrun (WORLD_SIZE > 1): ``--ascent-splits`` defaults to one group per process for the sharpness-aware
    methods (the original SAM's m-sharpness), and a config the processes cannot split is refused before training."""
    world = env_world_size()
    if world <= 1:
        return configs
    if os.environ.get("RANK", "0") != "0":
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - rank 0 reports; the others train quietly
    if args.ascent_splits is None:
        configs = [c if c.method == "base" else dataclasses.replace(c, ascent_splits=world) for c in configs]
    try:
        for c in configs:
            check_world_config(c, world)
    except ValueError as err:
        parser.error(f"torchrun with {world} processes: {err}")
    for c in configs:
        print(f"DDP {c.label}: " + describe_split(c.batch_size, world=world, ascent_splits=c.ascent_splits,
                                                  accumulate=c.accumulate, sharpness_aware=c.method != "base"))
    return configs


def _fmt_acc(value: Any) -> str:
    return f"{100 * value:.2f}" if isinstance(value, (int, float)) else "-"


def _cmd_train(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.list_presets:
        for name in papers.preset_names():
            labels = ", ".join(c.label for c in papers.preset(name))
            print(f"{name:45s} {labels}")
        return 0
    configs = _torchrun_configs(_configs_from_args(args, parser), args, parser)
    if args.threads:
        torch.set_num_threads(args.threads)
    store = RunStore()
    print(f"samlab: {paths.describe()}", flush=True)
    if args.dry_run:
        for c in configs:
            print(f"{c.label:22s} {c.model:12s} {c.dataset:9s} rho={c.rho:g} epochs={c.epochs} "
                  f"key={run_key(c)} status={store.status(c)}")
        return 0
    try:
        results = train.train_all(configs, store=store, retrain=args.retrain, progress=not args.no_progress,
                                  device=args.device)
    except RuntimeError as err:  # data not available, CUDA missing...
        print(f"samlab train: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: the run resumes from its last finished epoch when started again", file=sys.stderr)
        return 130
    for r in results:
        s = r.summary
        print(f"{s['label']:22s} test acc {_fmt_acc(s['test_acc'])}%  train acc {_fmt_acc(s['train_acc'])}%  "
              f"{s['images_per_s']:.0f} images/s  -> {r.path}")
    return 0


# ------------------------------------------------------------------------------------------------ runs
def runs_table(store: Any, kind: str | None = None) -> list[dict[str, str]]:
    """One row per stored run: kind, key, status, model, dataset, method, rho, epochs done/total, test acc."""
    rows = []
    for r in store.list_runs(kind):
        cfg = r.config
        get = (lambda k: getattr(cfg, k, None)) if not isinstance(cfg, dict) else cfg.get
        label = cfg.label if hasattr(cfg, "label") else (get("method") or "")
        rho = get("rho")
        total = get("epochs")
        done = len(r.metrics)
        acc = (r.summary or {}).get("test_acc") if r.finished else (r.metrics[-1].get("test_acc") if r.metrics
                                                                    else None)
        rows.append({"kind": r.kind, "key": r.key, "status": r.status, "model": str(get("model") or "-"),
                     "dataset": str(get("dataset") or "-"), "method": str(label or "-"),
                     "rho": f"{rho:g}" if isinstance(rho, (int, float)) else "-",
                     "epochs": f"{done}/{total}" if total is not None else "-", "test_acc": _fmt_acc(acc)})
    return rows


def _cmd_runs(args: argparse.Namespace) -> int:
    store = RunStore(args.root)
    rows = runs_table(store, args.kind)
    if not rows:
        print(f"no runs in {store.root}")
        return 0
    cols = list(rows[0])
    width = {c: max(len(c), *(len(r[c]) for r in rows)) for c in cols}
    print("  ".join(c.ljust(width[c]) for c in cols))
    for r in rows:
        print("  ".join(r[c].ljust(width[c]) for c in cols))
    print(f"{len(rows)} run{'s' * (len(rows) != 1)} in {store.root}")
    return 0


# ------------------------------------------------------------------------------------------------ data, reproduce
def _cmd_data(args: argparse.Namespace) -> int:
    try:
        path = data.download_dataset(args.name)
    except RuntimeError as err:
        print(f"samlab data: {err}", file=sys.stderr)
        return 1
    print(f"{args.name} is ready in {path}")
    return 0


def _select_notebooks(only: str | None, parser: argparse.ArgumentParser) -> list[Any]:
    try:
        return notebooks.select_notebooks(only)
    except ValueError as err:
        parser.error(str(err))


def _cmd_reproduce(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    chosen = _select_notebooks(args.only, parser)
    print(f"samlab: {paths.describe()}", flush=True)
    failed, total = [], time.perf_counter()
    for path in chosen:
        t0 = time.perf_counter()
        print(f"{path.name}: running at {args.scale} scale ...", flush=True)
        try:
            out = notebooks.run_notebook(path, scale=args.scale, threads=args.threads, progress=False)
            print(f"{path.name}: {time.perf_counter() - t0:.1f} s  -> {out}", flush=True)
        except Exception as err:  # noqa: BLE001 - report and carry on with the other notebooks
            failed.append(path.name)
            print(f"{path.name}: FAILED after {time.perf_counter() - t0:.1f} s: {type(err).__name__}: "
                  f"{str(err).strip().splitlines()[-1] if str(err).strip() else ''}", file=sys.stderr, flush=True)
    print(f"{len(chosen) - len(failed)}/{len(chosen)} notebooks ran in {time.perf_counter() - total:.1f} s")
    stored = ledger.load()
    if stored:
        counts = ledger.verdict_counts(f for rows in stored.values() for f in rows)
        print(f"claims ledger ({', '.join(f'{n} {v}' for v, n in counts.items())}; rows of notebooks "
              f"{', '.join(stored)}) -> {ledger.write_ledger()}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def _cmd_course(args: argparse.Namespace) -> int:
    written = course.build_editions(args.out)
    for edition, paths in written.items():
        print(f"{edition} edition: {len(paths)} notebooks -> {paths[0].parent if paths else args.out}")
    return 0


def _cmd_site(args: argparse.Namespace) -> int:
    folder = args.notebooks or paths.notebooks_dir() / "_executed"
    try:
        built = site.build_site(folder, args.out)
    except FileNotFoundError as err:
        print(f"samlab site: {err}", file=sys.stderr)
        return 2
    out = pathlib.Path(args.out)
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 2 ** 20
    print(f"site: {len(built['pages']['notebooks'])} notebooks (and their student edition), the ledger, the API "
          f"-> {out / 'index.html'} ({built['seconds']:.0f} s, {size:.0f} MiB, "
          f"{len(built['warnings'])} Sphinx warnings)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m samlab`` and the ``samlab`` script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "train":
        return _cmd_train(args, args.subparser)
    if args.command == "sweep":
        return cmd_sweep(args, args.subparser)
    if args.command == "runs":
        return _cmd_runs(args)
    if args.command == "data":
        return _cmd_data(args)
    if args.command == "doctor":
        return doctor_main()
    if args.command == "course":
        return _cmd_course(args)
    if args.command == "site":
        return _cmd_site(args)
    return _cmd_reproduce(args, args.subparser)
