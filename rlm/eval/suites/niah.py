"""S-NIAH: one needle (a key and its value) in a haystack of filler prose.

As RULER's single-needle task (which the paper uses): the model must return the value,
scored by exact match. The needle sits at a random depth between two sentences.
"""

from __future__ import annotations

from rlm.eval.suites.text import fill, filler_sentence, tokens_of
from rlm.eval.tasks import Task, TaskSpec
from rlm.llm.tokens import count_tokens

GENERATOR = "rlm.eval.suites.niah/1"
ADJECTIVES = ("amber", "silent", "crimson", "hollow", "gentle", "frozen", "golden", "rapid",
              "velvet", "distant", "bitter", "lucky", "northern", "pale", "restless", "wild")
NOUNS = ("falcon", "harbor", "lantern", "meadow", "compass", "orchard", "glacier", "violin",
         "canyon", "beacon", "thistle", "quarry", "saddle", "comet", "walrus", "juniper")


def generate(spec: TaskSpec) -> Task:
    """The S-NIAH task of ``spec``."""
    rng = spec.rng()
    key = f"{rng.choice(ADJECTIVES)}-{rng.choice(NOUNS)}"
    value = str(rng.randrange(1_000_000, 10_000_000))
    needle = f"The special magic number for {key} is {value}."
    sentences = fill(rng, spec.length - tokens_of(needle), filler_sentence)
    depth = rng.randrange(len(sentences) + 1)
    sentences.insert(depth, needle)
    context = " ".join(sentences)
    question = (f"What is the special magic number for {key} mentioned in the text? "
                f"Answer with the number only.")
    return Task(spec=spec, generator=GENERATOR, question=question, context=context,
                answer=value, scoring="exact", kind="single_needle",
                tokens=count_tokens(context),
                extra={"depth": round(depth / max(1, len(sentences) - 1), 3)})
