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
  from missing, partial and finished runs. submitit's logs live next to it, in ``jobs/``;
* :func:`train_local` is the notebooks' way in: the local executor for a population of small runs, one progress
  bar, then every result loaded (``workers=1`` trains in the calling process).
"""
from __future__ import annotations

from ..extras import require_extra

require_extra("cluster", "samlab.sweep (sweeps through submitit)")  # one clear line when the extra is missing

from .grid import expand, parse_grid
from .jobs import EXECUTORS, SLURM_OPTIONS, Submission, SweepJob, make_executor, sbatch_preview, submit
from .local import train_local
from .status import STATES, sweep_folder, sweep_status

__all__ = ["EXECUTORS", "STATES", "SLURM_OPTIONS", "parse_grid", "expand", "SweepJob", "make_executor", "submit",
           "Submission", "sweep_status", "sweep_folder", "sbatch_preview", "train_local"]
