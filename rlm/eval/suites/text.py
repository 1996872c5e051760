"""Filler prose and token budgets shared by the generators.

Lengths are counted with tiktoken's ``cl100k_base`` (``rlm.llm.tokens``), piece by piece:
the sum of the pieces' counts is within a few tokens per thousand of the whole text's count,
and counting pieces keeps generation linear (a 1M-token haystack takes about a second).
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable

from rlm.llm.tokens import count_tokens

SUBJECTS = ("The old miller", "A quiet student", "The harbour master", "Our neighbour",
            "The committee", "A travelling painter", "The night nurse", "My grandmother",
            "The baker's apprentice", "A young engineer", "The village council",
            "The lighthouse keeper", "An elderly farmer", "The new teacher", "The gardener",
            "A tired courier", "The librarian", "The ferry captain", "Two children",
            "The stonemason")
VERBS = ("repaired", "described", "carried", "painted", "counted", "forgot", "admired",
         "measured", "borrowed", "cleaned", "studied", "sold", "found", "sketched",
         "ordered", "packed", "watered", "checked", "moved", "remembered")
OBJECTS = ("the wooden fence", "a basket of apples", "the broken clock", "an old map",
           "the narrow bridge", "a stack of letters", "the green door", "the copper kettle",
           "a pair of boots", "the stone wall", "the winter coats", "a box of candles",
           "the garden path", "the long table", "a bundle of reeds", "the church bell",
           "the fishing nets", "a jar of honey", "the blue curtains", "the rusty gate")
ENDINGS = ("before the rain came", "after a long morning", "with great care",
           "while the kettle boiled", "near the market square", "on the first of the month",
           "without saying a word", "as the sun went down", "during the festival",
           "behind the mill", "in the spring", "for the third time", "at the edge of town",
           "by the river", "late in the evening", "under the old oak", "without any help",
           "early on Sunday", "in the small workshop", "as everyone watched")


def filler_sentence(rng: random.Random) -> str:
    """One plain sentence of filler (never mentions numbers, keys or labels)."""
    return (f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} "
            f"{rng.choice(ENDINGS)}.")


@functools.lru_cache(maxsize=65_536)
def tokens_of(piece: str, sep: str = " ") -> int:
    """Tokens of one piece of text after the separator that joins it to the one before
    (cl100k merges a leading space into the first word, so this is its cost in place)."""
    return count_tokens(sep + piece)


def fill(rng: random.Random, budget: int, make: Callable[[random.Random], str],
         sep: str = " ") -> list[str]:
    """Pieces from ``make`` until their tokens reach ``budget`` (at least one piece)."""
    pieces: list[str] = []
    used = 0
    while used < budget or not pieces:
        piece = make(rng)
        pieces.append(piece)
        used += tokens_of(piece, sep)
    return pieces
