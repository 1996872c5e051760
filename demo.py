"""Needle in a haystack: an RLM finds one magic number in about a million lines.

    RLM_MODEL=ollama/llama3 uv run demo.py              # one huge text, one magic number
    RLM_MODEL=ollama/llama3 uv run demo.py --lines 20000
    RLM_MODEL=ollama/llama3 uv run demo.py --multi      # one child agent per document

The haystack is generated (seeded, so a run can be repeated), written to a temporary file,
and given to the RLM as its context. Progress shows on stderr; at the end the demo prints
the answer, whether it is right, and what the run took. Exit code: 0 right answer, 1 wrong
or no answer, 2 no usable model (the message says what to do), 130 cancelled.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SYLLABLES = ("ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "ve", "da", "zu", "fe", "gor",
             "bal", "tin", "mur", "sel", "qua", "xo", "ph", "ent", "ar", "il", "on")
CODENAMES = ("Albatross", "Basilisk", "Cormorant", "Dragonfly", "Egret", "Falcon", "Gannet",
             "Heron", "Ibis", "Jackdaw", "Kestrel", "Lapwing")
SINGLE_QUESTION = ("Somewhere in the context is one line that gives the magic number. "
                   "What is the magic number? Answer with the number only.")
MULTI_QUESTION = ("The context is a dict of project reports, one per document. Each report "
                  "names its project's codename and states its final budget somewhere in "
                  "it. For every document give the codename and the final budget, then say "
                  "which project has the largest final budget.")


@dataclass
class Haystack:
    """A generated context and what a right answer must contain."""

    path: Path
    question: str
    expected: list[str]
    description: str


def word_pool(rng: random.Random, size: int = 2000) -> list[str]:
    return ["".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 3)))
            for _ in range(size)]


def noise_lines(rng: random.Random, count: int, pool_size: int = 20_000) -> list[str]:
    """``count`` lines of random words; drawn from a pool of lines, which keeps it fast."""
    words = word_pool(rng)
    pool = [" ".join(rng.choices(words, k=rng.randint(5, 12))) for _ in range(pool_size)]
    return rng.choices(pool, k=count)


def build_single(folder: Path, lines: int, seed: int) -> Haystack:
    """One text of ``lines`` lines with one magic number between 10% and 90% of the way."""
    rng = random.Random(seed)
    text = noise_lines(rng, max(lines - 1, 1))
    number = str(rng.randint(1_000_000, 9_999_999))
    at = rng.randint(len(text) // 10, max(len(text) * 9 // 10, 0))
    text.insert(at, f"The magic number is {number}.")
    path = folder / "haystack.txt"
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return Haystack(path, SINGLE_QUESTION, [number],
                    f"{len(text):,} lines, magic number {number} at line {at + 1:,}")


def build_multi(folder: Path, lines: int, seed: int, docs: int) -> Haystack:
    """``docs`` reports (a folder of files) with a codename and a final budget each."""
    rng = random.Random(seed)
    names = rng.sample(CODENAMES, min(docs, len(CODENAMES)))
    budgets = rng.sample(range(100, 999), len(names))
    reports = folder / "reports"
    reports.mkdir()
    per_doc = max(lines // len(names), 20)
    for i, (name, budget) in enumerate(zip(names, budgets, strict=True), start=1):
        body = noise_lines(rng, per_doc, pool_size=2000)
        body.insert(rng.randint(0, per_doc // 3), f"Project codename: {name}.")
        body.insert(rng.randint(per_doc // 2, per_doc), f"Final budget: {budget} thousand "
                                                        f"dollars.")
        body.insert(rng.randint(1, per_doc // 2), f"Draft budget: {budget + 37} thousand "
                                                  f"dollars (superseded).")
        (reports / f"report-{i}.txt").write_text("\n".join(body) + "\n", encoding="utf-8")
    largest = names[budgets.index(max(budgets))]
    expected = [*names, *(str(b) for b in budgets), largest]
    return Haystack(reports, MULTI_QUESTION, expected,
                    f"{len(names)} reports of {per_doc:,} lines; largest budget: {largest} "
                    f"({max(budgets)})")


def is_right(answer: str, expected: list[str]) -> bool:
    """Every expected piece appears in the answer (numbers as whole numbers)."""
    numbers = set(re.findall(r"\d+", answer.replace(",", "")))
    return all((item in numbers) if item.isdigit() else (item.lower() in answer.lower())
               for item in expected)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Needle-in-a-haystack demo of rlm.", epilog=__doc__.split("\n\n")[1],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=1_000_000,
                        help="lines of generated text (default 1,000,000)")
    parser.add_argument("--multi", action="store_true",
                        help="several documents; one child agent per document")
    parser.add_argument("--docs", type=int, default=5, help="documents with --multi (max 12)")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the haystack")
    parser.add_argument("--model", help="model (default: RLM_MODEL, else a pulled Ollama model)")
    parser.add_argument("--max-steps", type=int, help="model calls per agent")
    parser.add_argument("--trace", help="trace file (default: a new one in the data folder)")
    parser.add_argument("-v", "--verbose", action="store_true", help="every agent's steps")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.lines < 1 or not 1 <= args.docs <= len(CODENAMES):
        print(f"demo: --lines must be >= 1 and --docs between 1 and {len(CODENAMES)}.",
              file=sys.stderr)
        return 2
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    from dotenv import load_dotenv

    load_dotenv()
    with tempfile.TemporaryDirectory(prefix="rlm-demo-") as folder:
        started = time.monotonic()
        hay = (build_multi(Path(folder), args.lines, args.seed, args.docs) if args.multi
               else build_single(Path(folder), args.lines, args.seed))
        print(f"demo: built {hay.description} in {time.monotonic() - started:.1f} s",
              file=sys.stderr)
        return run(hay, args)


def run(hay: Haystack, args: argparse.Namespace) -> int:
    from rlm import RLM
    from rlm.cli.progress import Progress
    from rlm.cli.run import CancelOnSignal
    from rlm.errors import RLMError
    from rlm.paths import new_trace_path

    progress = Progress(sys.stderr, verbose=args.verbose)
    try:
        rlm = RLM(model=args.model, max_steps=args.max_steps, on_event=progress,
                  trace=args.trace or new_trace_path(prefix="demo"))
        with CancelOnSignal(rlm, progress):
            result = rlm.completion(hay.question, hay.path)
    except RLMError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    finally:
        progress.close()
    return report(result, hay)


def report(result, hay: Haystack) -> int:
    right = bool(result.answer) and is_right(result.answer, hay.expected)
    usage = result.usage
    steps = sum(agent.steps for agent in result.agents)
    print(f"Answer:  {result.answer or '(none: ' + (result.error or result.status) + ')'}")
    print(f"Right:   {'yes' if right else 'no'} (expected: {', '.join(hay.expected)})")
    print(f"Status:  {result.status}" + (f" (limit: {result.limit_hit})" if result.limit_hit
                                         else ""))
    print(f"Agents:  {len(result.agents)}")
    print(f"Steps:   {steps}")
    print(f"Tokens:  {usage.total_tokens:,} ({usage.prompt_tokens:,} prompt + "
          f"{usage.completion_tokens:,} completion, {usage.calls} calls)")
    print(f"Cost:    ${usage.cost_usd:.4f}")
    print(f"Time:    {result.seconds:.1f} s")
    print(f"Trace:   {result.trace_path}  (uv run rlm replay {result.trace_path})")
    if result.status == "cancelled":
        return 130
    return 0 if right else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # while the haystack is built, before Ctrl-C cancels a run
        print("\ndemo: cancelled.", file=sys.stderr)
        sys.exit(130)
