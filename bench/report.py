"""Turn the runner's figures into a Markdown table: median (min-max) and paired ratios."""

from __future__ import annotations

import statistics

SKIP = {"answer_ok", "ideal_s", "of", "context_mb"}


def short(figures: dict) -> str:
    if "error" in figures:
        return "ERROR " + figures["error"].splitlines()[-1][:200]
    return ", ".join(f"{k}={_fmt(v)}" for k, v in figures.items())


def _fmt(value) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + " ".join(_fmt(v) for v in value) + "]"
    return str(value)


def _load(load) -> str:
    return " ".join(f"{x:.2f}" for x in load) if load else "?"


def _numbers(reps: list[dict], key: str) -> list[float]:
    return [r[key] for r in reps if isinstance(r.get(key), (int, float))
            and not isinstance(r.get(key), bool)]


def _cell(values: list[float]) -> str:
    if not values:
        return "-"
    mid = statistics.median(values)
    if len(values) == 1:
        return _fmt(mid)
    return f"{_fmt(mid)} ({_fmt(min(values))}-{_fmt(max(values))})"


def _ratio(mine: list[dict], theirs: list[dict], key: str) -> str:
    # A variant the scenario does not run has no results (``per.get(v, [])``): its ratio is "-".
    pairs = [(a.get(key), b.get(key)) for a, b in zip(mine, theirs, strict=False)]
    ratios = [a / b for a, b in pairs if isinstance(a, (int, float)) and
              isinstance(b, (int, float)) and not isinstance(a, bool) and b]
    return _fmt(statistics.median(ratios)) if ratios else "-"


def _flags(reps: list[dict]) -> str:
    errors = sum(1 for r in reps if "error" in r)
    wrong = sum(1 for r in reps if r.get("answer_ok") is False)
    notes = []
    if errors:
        notes.append(f"{errors} failed")
    if wrong:
        notes.append(f"{wrong} wrong answer")
    return "; ".join(notes)


def markdown(meta: dict, results: dict) -> str:
    """Side-by-side scenarios first, then the ours-only figures (CLI, model layer, TUI)."""
    paired = {k: v for k, v in results.items() if set(v) != {"ours"}}
    alone = {k: v["ours"] for k, v in results.items() if set(v) == {"ours"}}
    present = sorted({v for per in paired.values() for v in per},
                     key=lambda v: (v == "theirs", v != "ours", v))
    head = ["scenario", "figure", *present]
    head += [f"{v} / theirs" for v in present if v != "theirs" and "theirs" in present]
    before = {v: "base" + v[4:] for v in present if v.startswith("ours")
              and "base" + v[4:] in present}  # after / before, within each repetition
    head += [f"{v} / {b}" for v, b in before.items()]
    lines = [(f"Run {meta['started']}: `{meta['command']}`, latency "
              f"{meta['latency'] * 1000:g} ms, {meta['reps']} repetitions, load average "
              f"{_load(meta.get('load_start'))} at the start, {_load(meta['load'])} at the end."),
             "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, per in paired.items():
        for key in _keys(per.values()):
            row = [name, key] + [_cell(_numbers(per.get(v, []), key)) for v in present]
            if "theirs" in present:
                row += [_ratio(per.get(v, []), per.get("theirs", []), key)
                        for v in present if v != "theirs"]
            row += [_ratio(per.get(v, []), per.get(b, []), key) for v, b in before.items()]
            lines.append("| " + " | ".join(row) + " |")
        notes = {v: _flags(per.get(v, [])) for v in present}
        if any(notes.values()):
            lines.append(f"| {name} | notes | " + " | ".join(notes[v] for v in present)
                         + " |" + " |" * (len(head) - 2 - len(present)))
    if alone:
        lines += ["", "| ours only | figure | value |", "|---|---|---|"]
        for name, reps in alone.items():
            lines += [f"| {name} | {key} | {_cell(_numbers(reps, key))} |"
                      for key in _keys([reps])]
            lines += [f"| {name} | error | {r['error'].splitlines()[-1][:120]} |"
                      for r in reps if "error" in r]
    return "\n".join(lines)


def _keys(groups) -> list[str]:
    keys: list[str] = []
    for reps in groups:
        for r in reps:
            keys += [k for k, v in r.items() if k not in keys and k not in SKIP
                     and k != "error" and not isinstance(v, list)]
    return keys
