"""``rlm-tui``'s start: its command line, a ``.env``, its settings checked before the
screen opens, then the app (``tui.app.RLMApp``) or its browser server (``tui.web``)."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``rlm-tui`` and ``python -m tui``."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    from tui.args import parse_args, settings_flags

    args = parse_args(argv)
    if args.web:
        from tui.web import serve

        return serve(args)
    _load_dotenv()
    from rlm.errors import ConfigError
    from rlm.paths import traces_dir
    from tui.settings import given, resolve

    try:  # a bad profile or value is a usage error, said before the screen opens
        resolve(args.profile, given(settings_flags(args), args.model, args.max_depth,
                                    args.max_steps))
    except ConfigError as exc:
        print(f"rlm-tui: {exc}", file=sys.stderr)
        return 2

    from tui.app import RLMApp

    # Everything imported so far lives as long as the app: out of the collector's way, so
    # that no full collection walks it while the first frame is built (one took ~15 ms of
    # the first frame), nor in each full collection after.
    gc.freeze()
    app = RLMApp(args.question, context=args.context, model=args.model,
                 max_depth=args.max_depth, max_steps=args.max_steps, profile=args.profile,
                 settings=settings_flags(args), replay=args.replay, trace_dir=traces_dir(),
                 preload=not args.replay)
    app.run()
    return app.return_code or 0


def _load_dotenv() -> None:
    """``dotenv.load_dotenv()``, which looks for a .env up from this file's folder (from
    the working folder when run interactively or under a debugger). Where neither has one
    there is nothing to load, and python-dotenv is not imported: ~2 ms of the first frame.
    """
    starts = [os.path.dirname(os.path.abspath(__file__))]
    try:
        starts.append(os.getcwd())
    except OSError:
        pass
    for start in starts:
        for folder in (Path(start), *Path(start).parents):
            if os.path.exists(folder / ".env"):
                import dotenv

                dotenv.load_dotenv()
                return
