"""Command line of ``rlm-tui`` (parsed before anything heavy is imported)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="rlm-tui",
        description="Run a task with a Recursive Language Model and watch the tree of agents "
                    "live. With a QUESTION the run starts at once.",
        epilog="Keys: enter runs, ctrl+x cancels, f1 shows every key. Each run writes a trace "
               "to $XDG_DATA_HOME/rlm/traces (or ~/.local/share/rlm/traces).")
    parser.add_argument("question", nargs="?", help="the task to run at once")
    parser.add_argument("--context", metavar="PATH",
                        help="a text file or a folder of text files to pass as the context")
    parser.add_argument("--model", metavar="M",
                        help="litellm model string (default: RLM_MODEL, else a pulled Ollama "
                             "model)")
    parser.add_argument("--max-depth", type=_natural(0), metavar="N",
                        help="deepest an agent may sit (0 = no child agents; default 2)")
    parser.add_argument("--max-steps", type=_natural(1), metavar="N",
                        help="model calls per agent (default 20)")
    parser.add_argument("--replay", metavar="TRACE",
                        help="open a past run from its trace file (no model needed)")
    return parser.parse_args(argv)


def _natural(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {minimum} or more, got {value}")
        return value
    return parse
