"""The task suites: each a generator from a ``TaskSpec`` to a ``Task``.

``s-niah`` (one needle), ``oolong`` (aggregation over every record's inferred label) and
``oolong-pairs`` (sets of pairs of records). ``build(spec)`` makes any task again.
"""

from __future__ import annotations

from collections.abc import Callable

from rlm.eval.suites import niah, oolong, pairs
from rlm.eval.tasks import Task, TaskSpec

SUITES: dict[str, Callable[[TaskSpec], Task]] = {
    "s-niah": niah.generate,
    "oolong": oolong.generate,
    "oolong-pairs": pairs.generate,
}
DESCRIPTIONS = {
    "s-niah": "one key's value hidden in filler prose; exact match",
    "oolong": "counts and frequencies over every record's inferred label; "
              "numbers 0.75^|error|, labels exact",
    "oolong-pairs": "every pair of records meeting a condition on inferred labels; F1",
}


def build(spec: TaskSpec) -> Task:
    """The task of ``spec`` (the same on every machine)."""
    return SUITES[spec.suite](spec)
