"""Command line of ``rlm-tui`` (parsed before anything heavy is imported)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from rlm.config import add_setting_flags


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
    add_setting_flags(parser, ("model", "max_depth", "max_steps"))  # as in `rlm run`
    parser.add_argument("--replay", metavar="TRACE",
                        help="open a past run from its trace file (no model needed)")
    return parser.parse_args(argv)
