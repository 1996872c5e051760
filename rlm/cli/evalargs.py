"""The arguments of ``rlm eval run`` and ``rlm eval report`` (argparse only: ``rlm --help``
stays instant; the eval itself loads after parsing)."""

from __future__ import annotations

import argparse

from rlm.config import add_setting_flags

EVAL_DESCRIPTION = """\
Does an RLM help your model, on your machine, and from what context length on? Generates
paper-style tasks here from a seed (no download), runs each on the arms (base: the whole
context in one prompt, cut to the model's running window; rlm; rlm-no-sub: the REPL without
sub-calls), scores them as the paper does, and keeps one JSON line per (task, arm)."""

EVAL_EPILOG = """\
suites:
  s-niah        one key's value hidden in filler prose (exact match)
  oolong        counts and frequencies over every record's inferred label
                (numbers 0.75^|error|, labels exact match)
  oolong-pairs  every pair of records meeting a condition on inferred labels (F1)

examples:
  rlm eval --lengths 8k,32k --model ollama_chat/qwen2.5:7b
  rlm eval run --suites s-niah --lengths 8k,32k,128k --tasks 5 --out niah.jsonl
  rlm eval run --arms base,rlm --arm-model base=ollama_chat/llama3.1:8b \\
      --arm-model rlm=ollama_chat/qwen2.5-coder:7b
  rlm eval run --arm-profile rlm=hybrid --model ollama_chat/qwen2.5:7b
  rlm eval run --ray auto --profile gpu-boxes.toml --lengths 32k,128k,512k
  rlm eval report rlm-eval.jsonl                  # the table and the chart again

A rerun with the same --out skips every (task, arm, model) already in the file; Ctrl-C
stops at once and loses nothing finished. The table goes to stdout, progress to stderr,
the chart to --chart (default: the results file's name with .png; needs the extra
`eval`: uv sync --extra eval). --ray needs the extra `ray`."""

RUN_HELP = "run the suites (rlm eval [flags] means the same)"


def add_eval(commands) -> None:
    """``rlm eval`` with its two subcommands."""
    evaluate = commands.add_parser(
        "eval", help="paper-style suites: base model and RLM side by side",
        description=EVAL_DESCRIPTION, epilog=EVAL_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = evaluate.add_subparsers(dest="eval_command", metavar="run|report")
    _add_run(sub)
    _add_report(sub)


def _add_run(sub) -> None:
    run = sub.add_parser("run", help=RUN_HELP, description=EVAL_DESCRIPTION,
                         epilog=EVAL_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    what = run.add_argument_group("what to run")
    what.add_argument("--suites", default="s-niah,oolong,oolong-pairs", metavar="S,S",
                      help="suites to run (default: all three)")
    what.add_argument("--lengths", default="8k,16k,32k", metavar="L,L",
                      help="context lengths in tokens: 8k, 32k, 128k, 1m (k = 1024; "
                           "default: 8k,16k,32k)")
    what.add_argument("--tasks", type=_positive, default=3, metavar="N",
                      help="tasks per suite and length (default: 3)")
    what.add_argument("--seed", type=int, default=0, metavar="N",
                      help="the seed every task is generated from (default: 0)")
    what.add_argument("--arms", default="base,rlm,rlm-no-sub", metavar="A,A",
                      help="arms to run: base, rlm, rlm-no-sub (default: all three)")
    models = run.add_argument_group("models (flags apply to every arm unless an arm's own says "
                                    "otherwise)")
    models.add_argument("--arm-model", action="append", metavar="ARM=M",
                        help="a model for one arm, e.g. base=ollama_chat/llama3.1:8b "
                             "(repeat for more arms)")
    models.add_argument("--arm-profile", action="append", metavar="ARM=P",
                        help="a profile for one arm, e.g. rlm=hybrid (repeat for more arms)")
    models.add_argument("--profile", metavar="NAME|FILE",
                        help="a profile for every arm: local-only, hybrid, hosted, or a .toml "
                             "file (its deployments spread calls over hosts)")
    add_setting_flags(models)  # --model, --max-steps, ...: declared in rlm.config
    out = run.add_argument_group("results")
    out.add_argument("--out", default="rlm-eval.jsonl", metavar="FILE",
                     help="the results file, one JSON line per (task, arm); a rerun skips "
                          "what it holds (default: rlm-eval.jsonl)")
    out.add_argument("--chart", metavar="FILE",
                     help="the chart's PNG (default: the results file with .png)")
    out.add_argument("--no-chart", action="store_true", help="no chart, the table only")
    out.add_argument("--redo-failed", action="store_true",
                     help="run again the (task, arm) pairs whose run failed")
    out.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    run.add_argument("--ray", metavar="ADDRESS",
                     help="run the tasks on a Ray cluster: its address (ray://host:10001 or "
                          "host:6379), auto (the cluster this machine belongs to), or local "
                          "(a throwaway one here); needs the extra `ray`")
    run.set_defaults(handler="rlm.cli.eval:eval_run_command")


def _add_report(sub) -> None:
    report = sub.add_parser(
        "report", help="the table and the chart of a results file",
        description="Print the table (score per arm per length, tokens, cost, time) of a "
                    "results file and redraw its chart.")
    report.add_argument("file", metavar="FILE", help="a results file of rlm eval run")
    report.add_argument("--chart", metavar="FILE",
                        help="the chart's PNG (default: FILE with .png)")
    report.add_argument("--no-chart", action="store_true", help="no chart, the table only")
    report.set_defaults(handler="rlm.cli.eval:eval_report_command")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value
