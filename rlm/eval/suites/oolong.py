"""OOLONG-style aggregation: questions that need the label of every record.

Kinds, in turn by task index: how many records have label X (numeric), which label is the
most / the least frequent (exact), is X more or less common than Y (exact), how many records
after a date have label X (numeric). Numeric answers are scored 0.75^|y - y_hat|, others by
exact match, as the paper does.
"""

from __future__ import annotations

import datetime as dt
import random

from rlm.eval.suites.records import (
    DAYS,
    LABEL_HELP,
    LABELS,
    START,
    Record,
    context_of,
    label_counts,
    make_records,
)
from rlm.eval.tasks import Task, TaskSpec
from rlm.llm.tokens import count_tokens

GENERATOR = "rlm.eval.suites.oolong/1"
KINDS = ("count", "most_frequent", "least_frequent", "compare", "count_after")
TRIES = 200   # redraws until the most and least frequent labels are unique


def generate(spec: TaskSpec) -> Task:
    """The OOLONG-style task of ``spec``."""
    rng = spec.rng()
    records = _records_with_unique_extremes(rng, spec.length)
    kind = KINDS[spec.index % len(KINDS)]
    question, answer, scoring = QUESTIONS[kind](rng, records)
    context = context_of(records)
    return Task(spec=spec, generator=GENERATOR, context=context, answer=answer,
                question=f"{LABEL_HELP}\n\n{question}", scoring=scoring, kind=kind,
                tokens=count_tokens(context), extra={"records": len(records)})


def _records_with_unique_extremes(rng: random.Random, budget: int) -> list[Record]:
    for _ in range(TRIES):
        records = make_records(rng, budget)
        ranked = sorted(label_counts(records).values())
        if ranked[-1] != ranked[-2] and ranked[0] != ranked[1]:
            return records
    raise RuntimeError("could not draw records with a unique most and least frequent label")


def _count(rng: random.Random, records: list[Record]) -> tuple[str, int, str]:
    label = rng.choice(LABELS)
    return (f"How many records have the label {label}? Answer with a number only.",
            label_counts(records)[label], "numeric")


def _most(rng: random.Random, records: list[Record]) -> tuple[str, str, str]:
    counts = label_counts(records)
    return ("Which label is the most frequent among the records? Answer with the label only.",
            max(counts, key=counts.__getitem__), "exact")


def _least(rng: random.Random, records: list[Record]) -> tuple[str, str, str]:
    counts = label_counts(records)
    return ("Which label is the least frequent among the records? Answer with the label only.",
            min(counts, key=counts.__getitem__), "exact")


def _compare(rng: random.Random, records: list[Record]) -> tuple[str, str, str]:
    first, second = rng.sample(LABELS, 2)
    counts = label_counts(records)
    a, b = counts[first], counts[second]
    answer = "more common" if a > b else "less common" if a < b else "same frequency"
    return (f"Is the label {first} more common, less common, or of the same frequency as "
            f"the label {second}? Answer with one of: more common, less common, same "
            f"frequency.", answer, "exact")


def _count_after(rng: random.Random, records: list[Record]) -> tuple[str, int, str]:
    label = rng.choice(LABELS)
    day = START + dt.timedelta(days=rng.randrange(DAYS // 4, 3 * DAYS // 4))
    answer = sum(1 for r in records if r.label == label and r.date > day)
    return (f"How many records dated after {day.isoformat()} have the label {label}? "
            f"Answer with a number only.", answer, "numeric")


QUESTIONS = {"count": _count, "most_frequent": _most, "least_frequent": _least,
             "compare": _compare, "count_after": _count_after}
