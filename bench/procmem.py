"""Memory of a whole process tree, read from /proc (Linux; no psutil needed).

``tree_pids(pid)`` lists a process and all its descendants (sandbox workers included: they
stay children of the engine, or of the engine as subreaper). ``Sampler`` reads the tree's
PSS (proportional set size: shared pages split between the processes sharing them, so
a library mapped by ten processes is not counted ten times) every ``period`` seconds in a
thread of the bench runner, never in the measured process.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field


def children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return kids
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids.extend(int(k) for k in f.read().split())
        except OSError:
            pass
    return kids


def tree_pids(pid: int) -> list[int]:
    """``pid`` and every descendant, parents first."""
    seen, todo = [], [pid]
    while todo:
        current = todo.pop(0)
        if current in seen:
            continue
        seen.append(current)
        todo.extend(children(current))
    return seen


def pss_kb(pid: int) -> int | None:
    """PSS of one process in kB (None when it is gone)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


@dataclass
class Sample:
    t: float                      # time.monotonic()
    total_kb: int                 # PSS of the whole tree
    per_pid: dict[int, int] = field(default_factory=dict)


class Sampler:
    """Samples a tree's PSS in a background thread until ``stop()``.

    Args:
        pid: the root of the tree (the measured engine's process).
        period: seconds between samples.
    """

    def __init__(self, pid: int, period: float = 0.02):
        self.pid = pid
        self.period = period
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="procmem")

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def stop(self) -> list[Sample]:
        self._stop.set()
        self._thread.join()
        return self.samples

    def _loop(self) -> None:
        while not self._stop.is_set():
            per_pid = {}
            for pid in tree_pids(self.pid):
                kb = pss_kb(pid)
                if kb is not None:
                    per_pid[pid] = kb
            if per_pid:
                self.samples.append(Sample(time.monotonic(), sum(per_pid.values()), per_pid))
            self._stop.wait(self.period)


def window(samples: list[Sample], start: float, end: float) -> list[Sample]:
    return [s for s in samples if start <= s.t <= end]


def before(samples: list[Sample], t: float, span: float = 0.15) -> int | None:
    """Median tree PSS (kB) over the ``span`` seconds before ``t``."""
    picked = sorted(s.total_kb for s in window(samples, t - span, t))
    return picked[len(picked) // 2] if picked else None


def peak(samples: list[Sample], start: float, end: float) -> int | None:
    picked = [s.total_kb for s in window(samples, start, end)]
    return max(picked) if picked else None


def at(samples: list[Sample], t: float) -> Sample | None:
    """The last sample at or before ``t``."""
    picked = [s for s in samples if s.t <= t]
    return picked[-1] if picked else None
