"""``rlm eval run`` and ``rlm eval report``: paper-style suites, arms side by side.

``run`` builds the arms from the flags (a model or a profile per arm), checks every model
before the first task, runs what the results file does not hold yet (here, or on a Ray
cluster with ``--ray``), shows a progress bar on stderr, and ends with the table on stdout
and the chart in a PNG. ``report`` redraws both from a results file.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from rlm.cli.main import EXIT_CANCELLED, EXIT_OK, fail
from rlm.cli.plan import FLAG_SETTINGS
from rlm.errors import ConfigError, RLMError

DEFAULT_OUT = "rlm-eval.jsonl"


def eval_run_command(args) -> int:
    try:
        return _run(args)
    except RLMError as exc:
        from rlm.cli.run import exit_code_for

        return fail(exc, exit_code_for(exc))


def eval_report_command(args) -> int:
    from rlm.eval.results import ResultsFile

    results = ResultsFile(args.file)
    if not results.path.exists():
        return fail(f"No results file at {args.file}. Run `rlm eval run --out "
                    f"{args.file}` first.")
    try:
        return _report(results, args)
    except RLMError as exc:
        return fail(exc)


def _run(args) -> int:
    import asyncio

    from rlm.eval.arms import preflight_arms, resolve_models
    from rlm.eval.results import ResultsFile, trace_dir_for
    from rlm.eval.runner import Tally, plan_items
    from rlm.eval.tasks import parse_lengths, task_specs

    specs = task_specs(_suites(args.suites), parse_lengths(args.lengths), args.tasks, args.seed)
    arms = _arms(args)
    bar = _bar(args)
    for note in resolve_models(arms):  # before the keys: a result line names its model
        _say(bar, f"rlm eval: {note}")
    results = ResultsFile(args.out)
    items, done = plan_items(specs, arms, results, redo_failed=args.redo_failed)
    _say(bar, f"rlm eval: {len(specs)} tasks x {len(arms)} arms = {len(specs) * len(arms)} "
              f"runs; {done} already in {results.path}, {len(items)} to go")
    if items and not args.ray:  # a cluster's workers reach the models, not this machine
        asyncio.run(preflight_arms(arms))
    for arm in arms:
        _say(bar, f"rlm eval: arm {arm.name}: {arm.model}"
                  + (f" (profile {arm.profile})" if arm.profile else ""))
    tally = Tally(len(items))
    runner = _runner(args, results, trace_dir_for(args.out), bar)
    if bar is not None:
        bar.start(tally)
    from rlm.cli.run import CancelOnSignal

    with CancelOnSignal(runner, bar):
        try:
            runner.run(items, tally)
        finally:
            if bar is not None:
                bar.close()
    code = _report(results, args)
    if runner.cancelled:
        print(f"rlm eval: cancelled after {tally.done} of {tally.total}; every finished run "
              f"is in {results.path}. Run the same command again to go on.", file=sys.stderr)
        return EXIT_CANCELLED
    return code


def _runner(args, results, trace_dir: Path, bar):
    on_line = bar.finished if bar is not None else None
    if args.ray:
        from rlm.eval.cluster import RayRunner

        return RayRunner(args.ray, results, trace_dir=trace_dir, on_line=on_line,
                         on_note=bar.note if bar is not None else None)
    from rlm.eval.runner import LocalRunner

    return LocalRunner(results, trace_dir=trace_dir, on_line=on_line,
                       on_start=bar.started if bar is not None else None)


def _report(results, args) -> int:
    from rlm.eval.report import format_report, summarize

    summary = summarize(results.latest())
    print(format_report(summary))
    if not summary.totals or getattr(args, "no_chart", False):
        return EXIT_OK
    from rlm.eval.chart import chart_path_for, write_chart

    path = Path(args.chart) if args.chart else chart_path_for(results.path)
    try:
        written = write_chart(summary, path, title=f"rlm eval: {results.path.name}")
    except ConfigError as exc:
        print(f"rlm eval: no chart: {exc}", file=sys.stderr)
        return EXIT_OK
    print(f"rlm eval: chart: {written}", file=sys.stderr)
    return EXIT_OK


def _suites(text: str) -> list[str]:
    from rlm.eval.suites import SUITES

    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in names if s not in SUITES]
    if unknown or not names:
        raise ConfigError(f"Unknown suite(s) {', '.join(unknown) or '(none)'}: the suites "
                          f"are {', '.join(SUITES)}.")
    return names


def _arms(args) -> list:
    from rlm.eval.arms import make_arm

    names = [a.strip() for a in args.arms.split(",") if a.strip()]
    models = _per_arm(args.arm_model, "--arm-model")
    profiles = _per_arm(args.arm_profile, "--arm-profile")
    stray = (set(models) | set(profiles)) - set(names)
    if stray:
        raise ConfigError(f"--arm-model/--arm-profile name arm(s) not in --arms: "
                          f"{', '.join(sorted(stray))}.")
    flags: dict[str, Any] = {k: getattr(args, k, None) for k in FLAG_SETTINGS}
    return [make_arm(name, flags=flags, model=models.get(name),
                     profile=profiles.get(name) or args.profile) for name in names]


def _per_arm(values: list[str] | None, flag: str) -> dict[str, str]:
    pairs = {}
    for value in values or []:
        arm, sep, what = value.partition("=")
        if not sep or not arm.strip() or not what.strip():
            raise ConfigError(f"{flag} {value!r}: write it as ARM=VALUE, e.g. "
                              f"{flag} rlm=ollama/qwen2.5:7b.")
        pairs[arm.strip()] = what.strip()
    return pairs


def _bar(args):
    if args.quiet:
        return None
    from rlm.cli.evalbar import EvalBar

    return EvalBar(sys.stderr)


def _say(bar, text: str) -> None:
    if bar is not None:
        bar.note(text)

