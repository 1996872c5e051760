"""OOLONG-Pairs-style: questions whose answer is a set of pairs of records.

Kinds, in turn by task index: pairs of records of one user that both have label X; pairs
of records of one user where one has label X and the other label Y; pairs of records of one
user with the same label. A pair is two record ids, the smaller first; scored by F1 over
the pairs. Every task has at least one pair.
"""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from collections.abc import Callable

from rlm.eval.suites.records import LABEL_HELP, LABELS, Record, context_of, make_records
from rlm.eval.tasks import Task, TaskSpec
from rlm.llm.tokens import count_tokens

GENERATOR = "rlm.eval.suites.pairs/2"  # 2: never an empty set of pairs
KINDS = ("same_user_both", "same_user_cross", "same_user_same_label")
TRIES = 50
ANSWER_FORMAT = ("List every such pair as (a, b) with the smaller record id first, "
                 "separated by commas; answer none if there is no such pair.")

Condition = Callable[[Record, Record], bool]


def generate(spec: TaskSpec) -> Task:
    """The OOLONG-Pairs-style task of ``spec``: drawn again while no pair matches, since an
    empty answer would score 1 for saying nothing (short contexts have few pairs)."""
    rng = spec.rng()
    kind = KINDS[spec.index % len(KINDS)]
    for _ in range(TRIES):
        records = make_records(rng, spec.length)
        question, condition = CONDITIONS[kind](rng)
        answer = matching_pairs(records, condition)
        if answer:
            break
    context = context_of(records)
    return Task(spec=spec, generator=GENERATOR, context=context, answer=answer,
                question=f"{LABEL_HELP}\n\n{question} {ANSWER_FORMAT}", scoring="pairs",
                kind=kind, tokens=count_tokens(context), extra={"records": len(records)})


def matching_pairs(records: list[Record], condition: Condition) -> list[list[int]]:
    """Every pair ``[a, b]`` (a < b) of records of one user that meets ``condition``."""
    by_user: dict[int, list[Record]] = defaultdict(list)
    for record in records:
        by_user[record.user].append(record)
    return sorted([a.rid, b.rid] for group in by_user.values()
                  for a, b in itertools.combinations(group, 2) if condition(a, b))


def _both(rng: random.Random) -> tuple[str, Condition]:
    label = rng.choice(LABELS)
    return (f"Which pairs of records come from the same user and both have the label "
            f"{label}?", lambda a, b: a.label == b.label == label)


def _cross(rng: random.Random) -> tuple[str, Condition]:
    first, second = rng.sample(LABELS, 2)
    return (f"Which pairs of records come from the same user, where one record has the "
            f"label {first} and the other the label {second}?",
            lambda a, b: {a.label, b.label} == {first, second})


def _same_label(rng: random.Random) -> tuple[str, Condition]:
    return ("Which pairs of records come from the same user and have the same label?",
            lambda a, b: a.label == b.label)


CONDITIONS = {"same_user_both": _both, "same_user_cross": _cross,
              "same_user_same_label": _same_label}
