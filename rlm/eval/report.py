"""The report: score per arm per length (per suite and over all), and per arm its tokens,
cost and time, as a plain-text table for the terminal."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rlm.eval.arms import ARMS
from rlm.eval.tasks import length_label
from rlm.usage import human_tokens

ALL = "all"


@dataclass
class ArmTotals:
    """One arm's totals over the lines of a report."""

    arm: str
    models: set[str] = field(default_factory=set)
    runs: int = 0
    score: float = 0.0
    tokens: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0
    failed: int = 0
    cut: int = 0

    @property
    def mean(self) -> float:
        return self.score / self.runs if self.runs else 0.0


@dataclass
class Summary:
    """Scores gathered by (suite, length, arm); ``suite`` ``all`` holds every suite."""

    arms: list[str]
    suites: list[str]
    lengths: list[int]
    scores: dict[tuple[str, int, str], list[float]]
    totals: dict[str, ArmTotals]

    def mean(self, suite: str, length: int, arm: str) -> float | None:
        values = self.scores.get((suite, length, arm))
        return sum(values) / len(values) if values else None

    def count(self, suite: str, length: int, arm: str) -> int:
        return len(self.scores.get((suite, length, arm), ()))


def summarize(lines: Iterable[Mapping[str, Any]]) -> Summary:
    """Gather result lines (one per key: the latest) into a ``Summary``."""
    scores: dict[tuple[str, int, str], list[float]] = defaultdict(list)
    totals: dict[str, ArmTotals] = {}
    suites: dict[str, None] = {}
    for line in lines:
        arm, task = line["arm"], line["task"]
        suite, length = task["suite"], int(task["length"])
        suites.setdefault(suite)
        if line.get("score") is not None:
            scores[(suite, length, arm)].append(float(line["score"]))
            scores[(ALL, length, arm)].append(float(line["score"]))
        _add(totals.setdefault(arm, ArmTotals(arm)), line)
    order = {name: i for i, name in enumerate(ARMS)}
    arms = sorted(totals, key=lambda a: (order.get(a, len(order)), a))
    lengths = sorted({length for _, length, _ in scores})
    return Summary(arms, list(suites), lengths, dict(scores), totals)


def _add(totals: ArmTotals, line: Mapping[str, Any]) -> None:
    totals.models.add(str(line.get("model")))
    totals.runs += 1
    totals.score += float(line.get("score") or 0.0)
    totals.tokens += int(line.get("tokens") or 0)
    totals.cost_usd += float(line.get("cost_usd") or 0.0)
    totals.seconds += float(line.get("seconds") or 0.0)
    totals.failed += line.get("status") == "failed"
    totals.cut += bool(line.get("cut"))


def format_report(summary: Summary) -> str:
    """The two tables: scores by suite and length, then each arm's totals."""
    if not summary.totals:
        return "No results yet."
    return "\n\n".join([_score_table(summary), _totals_table(summary)])


def _score_table(summary: Summary) -> str:
    head = ["suite", "length", *summary.arms]
    rows = []
    suites = summary.suites + ([ALL] if len(summary.suites) > 1 else [])
    for suite in suites:
        for length in summary.lengths:
            cells = [_cell(summary, suite, length, arm) for arm in summary.arms]
            if any(cell != "-" for cell in cells):
                rows.append([suite, length_label(length), *cells])
    return ("score (mean over tasks, tasks in brackets)\n"
            + _table(head, rows, right=range(1, len(head))))


def _cell(summary: Summary, suite: str, length: int, arm: str) -> str:
    mean = summary.mean(suite, length, arm)
    if mean is None:
        return "-"
    return f"{mean:.2f} ({summary.count(suite, length, arm)})"


def _totals_table(summary: Summary) -> str:
    head = ["arm", "model", "runs", "score", "tokens", "cost", "time", "failed", "cut"]
    rows = []
    for arm in summary.arms:
        t = summary.totals[arm]
        rows.append([arm, ", ".join(sorted(t.models)), str(t.runs), f"{t.mean:.2f}",
                     human_tokens(t.tokens), f"${t.cost_usd:.4f}", duration(t.seconds),
                     str(t.failed), str(t.cut) if arm == "base" else "-"])
    return "per arm\n" + _table(head, rows, right=range(2, len(head)))


def _table(head: list[str], rows: list[list[str]], right: Iterable[int] = ()) -> str:
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    right = set(right)

    def fmt(row: list[str]) -> str:
        return "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w)
                         for i, (c, w) in enumerate(zip(row, widths, strict=True))).rstrip()

    return "\n".join([fmt(head), *(fmt(r) for r in rows)])


def duration(seconds: float) -> str:
    """``200`` -> ``3m20s``."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
