"""Running an eval on this machine: every (task, arm) not yet in the results file, in turn.

Tasks are built once and run on each arm before the next task (so partial results compare
arms on the same tasks). Each line is written as soon as its run ends; ``cancel()`` (from a
signal handler's thread) stops the current run, which is then not written.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlm.eval.arms import Arm, result_key, run_one
from rlm.eval.results import ResultsFile
from rlm.eval.suites import build
from rlm.eval.tasks import Task, TaskSpec
from rlm.llm import Model


@dataclass(frozen=True)
class Item:
    """One (task, arm) to run."""

    spec: TaskSpec
    arm: Arm

    @property
    def key(self) -> str:
        return result_key(self.spec.task_id, self.arm.name, self.arm.model)


def plan_items(specs: Sequence[TaskSpec], arms: Sequence[Arm], results: ResultsFile, *,
               redo_failed: bool = False) -> tuple[list[Item], int]:
    """The items still to run, and how many were already done in ``results``."""
    done = results.done(redo_failed=redo_failed)
    items = [Item(spec, arm) for spec in specs for arm in arms]
    todo = [item for item in items if item.key not in done]
    return todo, len(items) - len(todo)


@dataclass
class Tally:
    """What a progress display needs: counts, time, and the running score per arm."""

    total: int
    done: int = 0
    started: float = field(default_factory=time.monotonic)
    scores: dict[str, list[float]] = field(default_factory=dict)

    def add(self, line: Mapping[str, Any]) -> None:
        self.done += 1
        if line.get("score") is not None:
            self.scores.setdefault(line["arm"], []).append(float(line["score"]))

    def eta(self) -> float | None:
        """Seconds left at the pace so far (``None`` before the first result)."""
        if not self.done:
            return None
        elapsed = time.monotonic() - self.started
        return elapsed / self.done * (self.total - self.done)

    def mean(self, arm: str) -> float | None:
        values = self.scores.get(arm)
        return sum(values) / len(values) if values else None


class LocalRunner:
    """Runs items one after another in this process.

    Args:
        results: where each line goes as soon as its run ends.
        client: a model client for every arm (tests); else each arm builds its own.
        trace_dir: where the RLM arms' traces go.
        env: the environment settings are read from.
        on_line: called with each written line and the tally.
        on_start: called with each item as it starts.
    """

    def __init__(self, results: ResultsFile, *, client: Model | None = None,
                 trace_dir: Path | None = None, env: Mapping[str, str] | None = None,
                 on_line: Callable[[dict, Tally], None] | None = None,
                 on_start: Callable[[Item], None] | None = None):
        self.results = results
        self.client = client
        self.trace_dir = trace_dir
        self.env = env
        self.on_line = on_line
        self.on_start = on_start
        self.cancelled = False
        self._cancel_current: Callable[[], None] | None = None
        self._lock = threading.Lock()

    def cancel(self) -> None:
        """Stop: the current run is cancelled and not written; no other starts."""
        with self._lock:
            self.cancelled = True
            cancel = self._cancel_current
        if cancel is not None:
            cancel()

    def _started(self, cancel: Callable[[], None]) -> None:
        with self._lock:
            self._cancel_current = cancel
            if not self.cancelled:
                return
        cancel()  # cancelled while it was starting

    def run(self, items: Sequence[Item], tally: Tally | None = None) -> Tally:
        """Run every item (until cancelled); returns the tally."""
        tally = tally or Tally(len(items))
        tasks: dict[TaskSpec, Task] = {}
        for item in items:
            if self.cancelled:
                break
            if self.on_start is not None:
                self.on_start(item)
            task = tasks.get(item.spec) or build(item.spec)
            tasks = {item.spec: task}  # keep one context in memory, not all of them
            line = run_one(task, item.arm, client=self.client, trace_dir=self.trace_dir,
                           env=self.env, on_start=self._started)
            self._cancel_current = None
            if line["status"] == "cancelled":
                break
            self.results.append(line)
            tally.add(line)
            if self.on_line is not None:
                self.on_line(line, tally)
        return tally
