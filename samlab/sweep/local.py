"""Many small runs on this machine at once: :func:`submit` with submitit's LocalExecutor, waited on with one bar.

The notebooks' MNIST-1D populations are dozens of runs of a few seconds each. A network that small does not use a
second CPU thread (measured on MNIST-1D's CNN on 2 cores: 4.2 s with 1 thread, 4.6 s with 2), so on a laptop the
runs go faster side by side, one thread each, than one after another. :func:`train_local` is that: the sweep's
local executor (``parallel`` subprocesses, each training its share of the runs one after the other into the same
results store) plus a progress bar over finished runs, then :func:`samlab.train.train_all` to load them. Nothing
here schedules anything: the shares and the processes are :func:`submit`'s, the processes are submitit's.
"""
from __future__ import annotations

import time
from typing import Any, Sequence

from ..checks import check_int, check_number
from ..runs import RunStore
from ..train import TrainConfig, train_all
from .jobs import submit
from .status import sweep_status

__all__ = ["train_local"]


def train_local(configs: Sequence[TrainConfig], *, workers: int = 2, store: RunStore | None = None,
                retrain: bool = False, progress: bool = True, name: str = "local", threads: int | None = None,
                poll_s: float = 0.5) -> list[Any]:
    """Train the missing runs of ``configs`` in ``workers`` local subprocesses and return every result in order.

    ``workers=1``, or a single missing run, trains in this process (:func:`samlab.train.train_all`, with its
    per-epoch bars). Otherwise the runs are submitted as sweep ``name`` (:func:`submit`, ``executor="local"``;
    torch threads per process: ``threads``, default the CPU count / ``workers``) and this call waits, showing how
    many have finished; the logs are in ``<runs_dir>/_sweeps/<name>/jobs``. An interrupt (Ctrl-C, the notebook's stop button) cancels
    the processes; every finished epoch is in the store and resumes on the next call. A failed process raises
    ``RuntimeError`` with the end of its log.
    """
    workers = check_int("workers", workers, low=1)
    poll_s = check_number("poll_s", poll_s, low=0.0, low_open=True)
    store = store if store is not None else RunStore()
    configs = list(configs)
    if retrain:
        for c in dict.fromkeys(configs):
            store.delete(c)
    todo = [c for c in dict.fromkeys(configs) if store.status(c) != "finished"]
    if workers > 1 and len(todo) > 1:
        _run_jobs(todo, workers, store, name, progress, poll_s, threads)
    return train_all(configs, store=store, progress=progress)


def _run_jobs(todo: list[TrainConfig], workers: int, store: RunStore, name: str, progress: bool,
              poll_s: float, threads: int | None) -> None:
    sub = submit(todo, executor="local", runs_dir=store.root, name=name, parallel=workers, threads=threads)
    waiting = [c for c in todo if store.status(c) != "finished"]
    if not sub.jobs:   # another process (a previous call still running) holds every run: wait for it as well
        print(f"{len(todo)} runs are queued or running in sweep {name!r} already: waiting for them")
    else:
        print(f"training {len(sub.submitted)} runs in {len(sub.jobs)} local processes (submitit; logs in "
              f"{sub.folder / 'jobs'})", flush=True)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), initial=len(todo) - len(waiting), desc=f"{len(sub.jobs)} processes",
                   unit="run")
    try:
        while True:
            done = [c for c in waiting if store.status(c) == "finished"]
            if bar is not None and done:
                bar.update(len(done))
            waiting = [c for c in waiting if c not in done]
            if not waiting or (sub.jobs and all(j.done() for j in sub.jobs)):
                break
            if not sub.jobs and not _still_running(todo, store, name):
                break
            time.sleep(poll_s)
    except KeyboardInterrupt:
        for job in sub.jobs:
            job.cancel(check=False)
        print(f"interrupted: cancelled {len(sub.jobs)} training processes; finished epochs are kept in "
              f"{store.root} and resume on the next call")
        raise
    finally:
        if bar is not None:
            bar.close()
    for job in sub.jobs:
        try:
            job.result()
        except Exception as err:  # noqa: BLE001 - submitit wraps the child's exception; say where its log is
            raise RuntimeError(f"a training process failed (log: {job.paths.stderr}):\n"
                               f"{str(err)[-2000:]}") from err


def _still_running(todo: list[TrainConfig], store: RunStore, name: str) -> bool:
    states = sweep_status(store.root, name, todo, log_lines=0)
    return any(s["state"] in ("queued", "running") for s in states)
