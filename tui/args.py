"""Command line of ``rlm-tui`` (parsed before anything heavy is imported).

It takes the flags of ``rlm run`` that apply to it, declared once in ``rlm.config``, and
``--profile``; a flag means the same everywhere.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from rlm.config import add_setting_flags
from tui.settings import FLAG_SETTINGS, OWN

WEB_FLAGS = ("web", "host", "port", "public_url")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def app_argv(args: argparse.Namespace) -> list[str]:
    """The command line of the app ``--web`` serves: every flag given, but the web ones.

    Rebuilt from the parsed values (not cut out of ``sys.argv``), so an abbreviation such
    as ``--we`` can never reach the app and make it serve itself again.
    """
    argv: list[str] = []
    question = None
    for action in build_parser()._actions:
        value = getattr(args, action.dest, None)
        if action.dest in WEB_FLAGS or value is None or value == action.default:
            continue
        if not action.option_strings:
            question = value
        elif isinstance(action, argparse._StoreTrueAction):
            argv.append(action.option_strings[-1])
        else:
            argv += [action.option_strings[-1], str(value)]
    return argv + (["--", question] if question is not None else [])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rlm-tui",
        description="Ask a Recursive Language Model, watch the tree of agents live, and ask "
                    "follow-ups in the same conversation. With a QUESTION the run starts at "
                    "once.",
        epilog="Settings: flags > --profile > environment (RLM_MODEL, ...), as in `rlm run`. "
               "Keys: enter runs, ctrl+x cancels, f1 shows every key. Each conversation "
               "writes a trace to $XDG_DATA_HOME/rlm/traces (or ~/.local/share/rlm/traces).")
    parser.add_argument("question", nargs="?", help="the task to run at once")
    parser.add_argument("--context", metavar="PATH",
                        help="a text file or a folder of text files to pass as the context")
    add_setting_flags(parser)  # --model, --sub-model, --api-base, ...: as in `rlm run`
    parser.add_argument("--profile", metavar="NAME|FILE",
                        help="settings from a profile: local-only, hybrid, hosted, or a .toml "
                             "file")
    parser.add_argument("--replay", metavar="TRACE",
                        help="open a past run or conversation from its trace file (no model "
                             "needed)")
    web = parser.add_argument_group(
        "in a browser", "Serve the same app to a browser (textual-serve; pip install "
        "'rlm[web]'). Each visitor gets an app of their own, started with the flags above. "
        "There is no authentication: keep it on 127.0.0.1 and reach it from another "
        "machine through an SSH tunnel (ssh -L 8000:127.0.0.1:8000 HOST).")
    web.add_argument("--web", action="store_true", help="serve the app at http://HOST:PORT")
    web.add_argument("--host", default="127.0.0.1",
                     help="address to listen on (default 127.0.0.1: this machine only)")
    web.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    web.add_argument("--public-url", metavar="URL",
                     help="the address browsers use, when it is not http://HOST:PORT (a proxy, "
                          "or a host of 0.0.0.0)")
    return parser


def settings_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given as flags besides the app's own (``None``: not given)."""
    return {name: getattr(args, name, None) for name in FLAG_SETTINGS if name not in OWN}
