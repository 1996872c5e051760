"""Scoring as the paper does: exact match, 0.75^|y - y_hat| for numbers, F1 over pairs.

Answers are read leniently in form and strictly in content: a leading ``Answer:`` or
``Final Answer:``, surrounding quotes, backticks, brackets and a final full stop are
dropped and case is ignored, but the rest must equal the right answer (no substring match:
"4817263 or 1234567" is wrong).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

NUMERIC_BASE = 0.75
PREFIX = re.compile(r"^\s*(final answer|answer)\s*[:\-]\s*", re.IGNORECASE)
EDGES = " \t\r\n\"'`*.,;:!()[]{}<>"
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
PAIR = re.compile(r"(\d+)\s*(?:,|-|and|&)\s*(\d+)")


def score(scoring: str, gold: Any, answer: str) -> float:
    """The score of ``answer`` against ``gold`` under ``scoring`` (0..1).

    Args:
        scoring: ``exact``, ``numeric`` or ``pairs``.
        gold: the right answer (str, number, or a list of ``[a, b]`` pairs).
        answer: the model's answer as it gave it.
    """
    if scoring == "exact":
        return exact(str(gold), answer)
    if scoring == "numeric":
        return numeric(float(gold), answer)
    if scoring == "pairs":
        return pairs_f1(gold, parse_pairs(answer))
    raise ValueError(f"unknown scoring {scoring!r}")


def normalize(text: str) -> str:
    """``'Final Answer: "Location".'`` -> ``location``."""
    text = PREFIX.sub("", text.strip())
    return " ".join(text.strip(EDGES).lower().split())


def exact(gold: str, answer: str) -> float:
    """1.0 when the normalized answer equals the normalized gold, else 0.0."""
    return 1.0 if normalize(answer) == normalize(gold) else 0.0


def parse_number(answer: str) -> float | None:
    """The first number in the answer (thousands separators allowed), or ``None``."""
    found = NUMBER.search(normalize(answer).replace(",", ""))
    return float(found.group()) if found else None


def numeric(gold: float, answer: str) -> float:
    """0.75 to the power of the absolute error; 0.0 when the answer has no number."""
    value = parse_number(answer)
    return 0.0 if value is None else NUMERIC_BASE ** abs(gold - value)


def parse_pairs(answer: str) -> set[tuple[int, int]]:
    """The pairs in an answer, each as (smaller, larger): ``(3, 12), (5, 9)``, ``3-12``,
    ``[[3, 12]]`` all read the same; ``none`` or no pair is the empty set."""
    return {_ordered(int(a), int(b)) for a, b in PAIR.findall(answer)}


def pairs_f1(gold: Iterable[Iterable[int]], predicted: set[tuple[int, int]]) -> float:
    """F1 of the predicted pairs against the gold ones (both empty: 1.0)."""
    truth = {_ordered(*pair) for pair in gold}
    if not truth and not predicted:
        return 1.0
    hits = len(truth & predicted)
    if hits == 0:
        return 0.0
    precision, recall = hits / len(predicted), hits / len(truth)
    return 2 * precision * recall / (precision + recall)


def _ordered(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a <= b else (b, a)
