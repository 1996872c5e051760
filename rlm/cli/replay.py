"""``rlm replay TRACE``: print a past run, or export it (``--export official FILE``)."""

from __future__ import annotations

import shutil
import sys

from rlm.cli.main import EXIT_BAD_INPUT, EXIT_OK, fail
from rlm.errors import ConfigError, RLMError

EXPORT_FORMATS = ("official",)


def replay_command(args) -> int:
    try:
        trace = args.trace or _latest()
        if args.export:
            return _export(trace, *args.export)
        from rlm.cli.progress import is_terminal
        from rlm.trace.replay import ReplayOptions, open_trace, render_replay

        header, builder = open_trace(trace)
        use_colour = is_terminal(sys.stdout)
        width = shutil.get_terminal_size((100, 30)).columns - 1 if use_colour else 100
        sys.stdout.write(render_replay(header, builder,
                                       ReplayOptions(use_colour=use_colour, width=width)))
        return EXIT_OK
    except RLMError as exc:
        return fail(exc, EXIT_BAD_INPUT)
    except OSError as exc:
        return fail(f"cannot read or write a file: {exc}", EXIT_BAD_INPUT)


def _latest() -> str:
    from rlm.paths import latest_trace, traces_dir

    path = latest_trace()
    if path is None:
        raise ConfigError(f"No trace given and none found in {traces_dir()}. Run "
                          f"`rlm run ...` first, or give the path of a trace file.")
    return str(path)


def _export(trace: str, kind: str, out: str) -> int:
    if kind not in EXPORT_FORMATS:
        raise ConfigError(f"Unknown export format {kind!r}; known: "
                          f"{', '.join(EXPORT_FORMATS)} (rlm replay TRACE --export official FILE).")
    from rlm.trace.replay import export_official

    count = export_official(trace, out)
    print(f"rlm: wrote {out}: a metadata line and {count} iterations of the root agent "
          f"(child agents nested). Open it in the official RLM visualizer.", file=sys.stderr)
    return EXIT_OK
