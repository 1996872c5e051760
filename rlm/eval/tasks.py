"""What a task is, how it is named, and how one is made again from its spec.

A task is generated from a ``TaskSpec`` (suite, length, seed, index) and nothing else, so a
result line that records the spec (and the generator's name and version) can be reproduced
on any machine, and a Ray worker builds its task from the spec instead of receiving the
whole context.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from rlm.errors import ConfigError

MIN_LENGTH = 512          # tokens: below this a haystack is hardly a haystack
SCORINGS = ("exact", "numeric", "pairs")


@dataclass(frozen=True)
class TaskSpec:
    """Everything a task is generated from."""

    suite: str
    length: int    # tokens of context asked for (cl100k_base)
    seed: int
    index: int     # which task of this suite, length and seed

    @property
    def task_id(self) -> str:
        return f"{self.suite}-{length_label(self.length)}-s{self.seed}-{self.index}"

    def rng(self) -> random.Random:
        """The task's own generator: the same spec gives the same task everywhere (a str
        seed is hashed with SHA-512, not with Python's salted ``hash``)."""
        return random.Random(f"{self.suite}/{self.length}/{self.seed}/{self.index}")


@dataclass(frozen=True)
class Task:
    """One generated task: the question, its context and the right answer.

    Attributes:
        spec: what it was generated from.
        generator: the generator's name and version (``rlm.eval.suites.niah/1``).
        question: what the model is asked.
        context: the long input.
        answer: the right answer: a ``str``, an ``int``, or a list of ``[a, b]`` pairs.
        scoring: ``exact``, ``numeric`` (0.75^|y - y_hat|) or ``pairs`` (F1).
        kind: the question's kind within its suite (``count``, ``most_frequent``, ...).
        tokens: the context's length in tokens (cl100k_base).
    """

    spec: TaskSpec
    generator: str
    question: str
    context: str
    answer: Any
    scoring: str
    kind: str = ""
    tokens: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def task_id(self) -> str:
        return self.spec.task_id

    def meta(self) -> dict[str, Any]:
        """The task as a result line keeps it: everything but the context."""
        return {"id": self.task_id, **asdict(self.spec), "generator": self.generator,
                "kind": self.kind, "question": self.question, "gold": self.answer,
                "scoring": self.scoring, "tokens": self.tokens, **self.extra}


def task_specs(suites: Sequence[str], lengths: Sequence[int], per_suite: int,
               seed: int) -> list[TaskSpec]:
    """The specs of a run, shortest lengths first (the first results come soonest)."""
    return [TaskSpec(suite, length, seed, index) for length in sorted(lengths)
            for suite in suites for index in range(per_suite)]


def length_label(tokens: int) -> str:
    """``8192`` -> ``8k``, ``1048576`` -> ``1m``; other numbers as they are."""
    if tokens % (1 << 20) == 0:
        return f"{tokens >> 20}m"
    if tokens % 1024 == 0:
        return f"{tokens >> 10}k"
    return str(tokens)


def parse_lengths(text: str | Iterable[str]) -> list[int]:
    """``"8k,32k,1m"`` -> ``[8192, 32768, 1048576]`` (k = 1024 tokens, m = 1024k).

    Raises:
        ConfigError: a length that is not a number with an optional k or m, or too small.
    """
    parts = text.split(",") if isinstance(text, str) else list(text)
    lengths = []
    for part in (p.strip().lower() for p in parts if p.strip()):
        match = re.fullmatch(r"(\d+(?:\.\d+)?)([km]?)", part)
        if not match:
            raise ConfigError(f"Length {part!r} is not a number of tokens: write 8k, 32k, "
                              f"128k, 1m or a plain number.")
        tokens = int(float(match[1]) * {"": 1, "k": 1024, "m": 1 << 20}[match[2]])
        if tokens < MIN_LENGTH:
            raise ConfigError(f"Length {part!r} is below {MIN_LENGTH} tokens.")
        lengths.append(tokens)
    if not lengths:
        raise ConfigError("No lengths given: write them like --lengths 8k,32k,128k.")
    return sorted(set(lengths))
