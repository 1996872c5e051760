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


def status_kb(pid: int) -> tuple[int, int] | None:
    """(VmRSS, VmHWM) of one process in kB: its resident size now and at its peak."""
    rss = hwm = None
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
    except (OSError, ValueError):
        return None
    return (rss, hwm) if rss is not None and hwm is not None else None


def pss_kb(pid: int) -> int | None:
    """PSS of one process in kB (its RSS where the kernel has no smaps_rollup; None when
    the process is gone)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except FileNotFoundError:
        status = status_kb(pid)
        return status[0] if status else None
    except (OSError, ValueError):
        return None
    return None


@dataclass
class Sample:
    t: float                      # time.monotonic() once every process was read
    total_kb: int                 # PSS of the whole tree
    per_pid: dict[int, int] = field(default_factory=dict)      # PSS per process
    rss_kb: int = 0               # RSS of the whole tree
    hwm: dict[int, int] = field(default_factory=dict)          # VmHWM per process
    began: float = 0.0            # time.monotonic() before the first process was read


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
            began = time.monotonic()
            per_pid, rss, hwm = {}, 0, {}
            for pid in tree_pids(self.pid):
                kb, status = pss_kb(pid), status_kb(pid)
                if kb is not None and status is not None:
                    per_pid[pid] = kb
                    rss += status[0]
                    hwm[pid] = status[1]
            if per_pid:
                self.samples.append(Sample(time.monotonic(), sum(per_pid.values()), per_pid,
                                           rss, hwm, began))
            self._stop.wait(self.period)


def window(samples: list[Sample], start: float, end: float) -> list[Sample]:
    return [s for s in samples if start <= s.t <= end]


def read_within(samples: list[Sample], start: float, end: float) -> list[Sample]:
    """Samples read entirely between ``start`` and ``end`` (none of their readings is
    older than ``start``: a peak before the run, or before the driver reset VmHWM, stays
    out)."""
    return [s for s in samples if start <= s.began and s.t <= end]


def before(samples: list[Sample], t: float, span: float = 0.15) -> int | None:
    """Median tree PSS (kB) over the ``span`` seconds before ``t``."""
    picked = sorted(s.total_kb for s in window(samples, t - span, t))
    return picked[len(picked) // 2] if picked else None


def rss_before(samples: list[Sample], t: float, span: float = 0.15) -> int | None:
    """Median tree RSS (kB) over the ``span`` seconds before ``t``."""
    picked = sorted(s.rss_kb for s in window(samples, t - span, t))
    return picked[len(picked) // 2] if picked else None


def peak_hwm(samples: list[Sample], start: float, end: float) -> int | None:
    """Sum over the tree's processes of each one's highest VmHWM seen up to ``end``
    (kB): an upper bound of the tree's simultaneous peak RSS that no sampling gap can
    miss, provided the measured process reset its own peak at ``start``."""
    best: dict[int, int] = {}
    for s in read_within(samples, start, end + 0.5):
        for pid, kb in s.hwm.items():
            best[pid] = max(best.get(pid, 0), kb)
    return sum(best.values()) if best else None


def peak(samples: list[Sample], start: float, end: float) -> int | None:
    picked = [s.total_kb for s in read_within(samples, start, end)]
    return max(picked) if picked else None


def resting(samples: list[Sample], start: float, end: float) -> int | None:
    """Median tree PSS (kB) of the samples read while the tree rests between ``start`` and
    ``end`` (the model thinking on the last request), or the last sample before ``end``.
    (The last sample before a request may hold readings from before the action that
    needed the context: with the sandbox loading while the model thinks, it could still
    see the context half loaded.)"""
    picked = sorted(s.total_kb for s in read_within(samples, start, end))
    if picked:
        return picked[len(picked) // 2]
    last = at(samples, end)
    return last.total_kb if last else None


def at(samples: list[Sample], t: float) -> Sample | None:
    """The last sample at or before ``t``."""
    picked = [s for s in samples if s.t <= t]
    return picked[-1] if picked else None
