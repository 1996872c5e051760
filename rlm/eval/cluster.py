"""Running an eval on a Ray cluster: each (task, arm) a Ray task on a worker.

A worker builds its task from the spec (the context is never shipped), runs the arm with
its own sandboxes and its own model client (``Arm.client_for``, or the engine's: models are
reached through their api bases or a profile's deployments, from the worker), and returns
the result line; the driver writes each line to the results file as it arrives, so the
file fills in completion order and survives Ctrl-C like a local run. Provider keys and
``OLLAMA_HOST`` are read from the worker's environment, never shipped. Traces are written
on the worker, under the same path as here (the line's ``host`` says which machine).

Ray is the optional extra ``ray`` (``uv sync --extra ray``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rlm.errors import ConfigError
from rlm.eval.arms import Arm, run_one
from rlm.eval.results import ResultsFile
from rlm.eval.runner import Item, Tally
from rlm.eval.suites import build
from rlm.eval.tasks import TaskSpec

MISSING = ("--ray needs Ray: `uv sync --extra ray` (or `pip install 'rlm[ray]'`), the same "
           "version as the cluster's.")
POLL = 0.5   # seconds between checks for finished tasks (and for a cancel)


def run_on_worker(spec: TaskSpec, arm: Arm, trace_dir: str | None) -> dict[str, Any]:
    """One (task, arm) on a Ray worker: the task is built here from its spec."""
    return run_one(build(spec), arm, trace_dir=Path(trace_dir) if trace_dir else None)


class RayRunner:
    """Runs items as Ray tasks and writes each line as it comes back.

    Args:
        address: a cluster's address (``ray://host:10001``, ``host:6379``), ``auto`` (the
            cluster this machine belongs to) or ``local`` (start a throwaway one here).
        results: where each line goes as soon as it arrives.
        trace_dir: where workers write the RLM arms' traces.
        on_line: called with each written line and the tally.
        on_note: called with messages for the user (a task that raised).
        cpus_per_task: CPUs Ray reserves per task (a run is mostly waiting on its model).
    """

    def __init__(self, address: str, results: ResultsFile, *, trace_dir: Path | None = None,
                 on_line: Callable[[dict, Tally], None] | None = None,
                 on_note: Callable[[str], None] | None = None, cpus_per_task: float = 1.0):
        self.address = address
        self.results = results
        self.trace_dir = trace_dir
        self.on_line = on_line
        self.on_note = on_note
        self.cpus_per_task = cpus_per_task
        self.cancelled = False
        self.errors = 0

    def cancel(self) -> None:
        """Stop: tasks still running are cancelled (their lines are not written)."""
        self.cancelled = True

    def run(self, items: Sequence[Item], tally: Tally | None = None) -> Tally:
        """Run every item on the cluster (until cancelled); returns the tally."""
        tally = tally or Tally(len(items))
        if not items:
            return tally
        ray = _ray()
        started_here = self._connect(ray)
        try:
            remote = ray.remote(run_on_worker).options(num_cpus=self.cpus_per_task,
                                                       max_retries=0)
            trace_dir = str(self.trace_dir) if self.trace_dir else None
            pending = {remote.remote(item.spec, item.arm, trace_dir): item for item in items}
            self._collect(ray, pending, tally)
        finally:
            if started_here:
                ray.shutdown()
        return tally

    def _connect(self, ray) -> bool:
        """Join the cluster (or reuse this process's connection); whether we joined."""
        if ray.is_initialized():
            return False
        address = None if self.address == "local" else self.address
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False,
                     logging_level=logging.WARNING, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ConfigError(f"Cannot reach the Ray cluster at {self.address!r}: {exc}. "
                              f"Start one (ray start --head), give its address, or use "
                              f"--ray local.") from None
        return True

    def _collect(self, ray, pending: dict, tally: Tally) -> None:
        while pending:
            if self.cancelled:
                for ref in pending:
                    ray.cancel(ref, force=True)
                return
            ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=POLL)
            for ref in ready:
                item = pending.pop(ref)
                try:
                    line = ray.get(ref)
                except Exception as exc:  # noqa: BLE001  (a worker's error: say it, go on)
                    self.errors += 1
                    self._note(f"rlm eval: {item.spec.task_id} on {item.arm.name} raised on "
                               f"its worker (not written; a rerun tries it again): "
                               f"{_first_line(exc)}")
                    continue
                if line.get("status") == "cancelled":
                    continue
                self.results.append(line)
                tally.add(line)
                if self.on_line is not None:
                    self.on_line(line, tally)

    def _note(self, text: str) -> None:
        if self.on_note is not None:
            self.on_note(text)


def _ray():
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no report home from a CLI run
    # Under `uv run`, Ray would rebuild the project's environment on each worker from the
    # driver's folder (without extras: without Ray itself). Workers use their installed rlm.
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    try:
        import ray
    except ImportError:
        raise ConfigError(MISSING) from None
    return ray


def _first_line(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None) or exc
    text = str(cause).strip().splitlines()
    return text[-1] if text else type(cause).__name__
