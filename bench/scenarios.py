"""The scenarios: what the server answers, what the driver asks, and how each figure is read.

Both implementations get the very same replies. A reply's code ends a run in a way each
understands: ``FINAL(v)`` here, and where that name does not exist (the official ``rlms``)
``answer["content"] = v; answer["ready"] = True``. So both run the same code, in the same
number of turns, and make the same sub-calls.

Every figure is computed from the server's request log (arrival and end of each request,
one clock for the whole machine), the driver's own clock window per run, and the memory
samples of the driver's process tree.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

import procmem

LATENCY = 0.05
NEEDLE_VALUE = "7341"
MB = 1_000_000


def final_code(expr: str, thought: str = "done") -> str:
    return (f"Thought: {thought}.\n```repl\n_v = {expr}\ntry:\n    FINAL(_v)\n"
            f"except NameError:\n    answer['content'] = str(_v)\n    answer['ready'] = True\n```")


def code(body: str, thought: str = "working") -> str:
    return f"Thought: {thought}.\n```repl\n{body}\n```"


@dataclass
class Scenario:
    """One scenario: the spec every driver gets, and how to read its figures."""

    name: str
    title: str
    prompt: str
    script: dict
    measure: Callable[[Observed], dict]
    context: dict | None = None
    settings: dict = field(default_factory=dict)          # ours: RLM(**settings)
    theirs_settings: dict = field(default_factory=dict)   # theirs: RLM(**theirs_settings)
    warmup: int = 1
    repeat: int = 1
    settle: float = 0.0
    sample_memory: bool = False
    variants: tuple[str, ...] = ("ours", "theirs")

    def spec(self, variant: str, server: str) -> dict:
        return {"scenario": self.name, "variant": variant, "server": server,
                "prompt": self.prompt, "script": self.script, "context": self.context,
                "settings": self.settings, "theirs_settings": self.theirs_settings,
                "warmup": self.warmup, "repeat": self.repeat, "settle": self.settle}


@dataclass
class Observed:
    """What one driver process left behind."""

    log: list[dict]               # the server's entries for this process
    runs: list[dict]              # the driver's measured runs: t0, t1, answer
    popen: float                  # monotonic time the runner started the process
    t_main: float                 # monotonic time the driver's first line ran
    samples: list = field(default_factory=list)   # procmem.Sample
    root_pid: int = 0
    latency: float = LATENCY

    def in_run(self, run: dict, role: str | None = None) -> list[dict]:
        picked = [e for e in self.log if run["t0"] <= e["arrival"] <= run["t1"]]
        return [e for e in picked if role is None or e["role"] == role]


# --- helpers ------------------------------------------------------------------------------
def model_time(entries: list[dict]) -> float:
    """Seconds during which at least one request was being served (union of intervals)."""
    total, current_start, current_end = 0.0, None, None
    for e in sorted(entries, key=lambda e: e["arrival"]):
        if current_end is None or e["arrival"] > current_end:
            if current_end is not None:
                total += current_end - current_start
            current_start, current_end = e["arrival"], e["end"]
        else:
            current_end = max(current_end, e["end"])
    if current_end is not None:
        total += current_end - current_start
    return total


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def overhead(obs: Observed) -> list[float]:
    return [r["t1"] - r["t0"] - model_time(obs.in_run(r)) for r in obs.runs]


def turn_gaps(entries: list[dict]) -> list[float]:
    ordered = sorted(entries, key=lambda e: e["arrival"])
    return [b["arrival"] - a["end"] for a, b in itertools.pairwise(ordered)]


# --- measures -----------------------------------------------------------------------------
def measure_fixed(obs: Observed) -> dict:
    return {"fixed_s": median(overhead(obs)),
            "answer_ok": all(r["answer"].strip() == "4" for r in obs.runs)}


def measure_turns(obs: Observed) -> dict:
    gaps = [g for r in obs.runs for g in turn_gaps(obs.in_run(r, "root"))]
    per_run = [o / 20 for o in overhead(obs)]
    return {"per_turn_s": statistics.fmean(gaps) if gaps else None,
            "overhead_per_turn_s": median(per_run),
            "answer_ok": all(r["answer"].strip() == "20" for r in obs.runs)}


def measure_cold(obs: Observed) -> dict:
    first = min((e["arrival"] for e in obs.log), default=None)
    return {"cold_s": None if first is None else first - obs.popen,
            "interpreter_s": obs.t_main - obs.popen,
            "answer_ok": all(r["answer"].strip() == "4" for r in obs.runs)}


def measure_child(obs: Observed) -> dict:
    starts, teardowns, overheads = [], [], []
    for run in obs.runs:
        root = sorted(obs.in_run(run, "root"), key=lambda e: e["arrival"])
        child = sorted(obs.in_run(run, "child"), key=lambda e: e["arrival"])
        if len(root) >= 2 and child:
            starts.append(child[0]["arrival"] - root[0]["end"])
            teardowns.append(root[1]["arrival"] - child[-1]["end"])
            overheads.append(root[1]["arrival"] - root[0]["end"] - model_time(child))
    return {"child_start_s": median(starts), "child_return_s": median(teardowns),
            "child_overhead_s": median(overheads),
            "answer_ok": all(r["answer"].strip() == "c" for r in obs.runs)}


def measure_fanout(n: int, concurrency: int) -> Callable[[Observed], dict]:
    def measure(obs: Observed) -> dict:
        spans, peaks = [], []
        for run in obs.runs:
            subs = obs.in_run(run, "sub")
            if subs:
                spans.append(max(e["end"] for e in subs) - min(e["arrival"] for e in subs))
                peaks.append(max(e["in_flight"] for e in subs))
        ideal = obs.latency * math.ceil(n / concurrency)
        span = median(spans)
        return {"span_s": span, "ideal_s": ideal,
                "vs_ideal": None if span is None else span / ideal,
                "peak_in_flight": max(peaks, default=0),
                "answers": median([_int(r["answer"]) for r in obs.runs])}
    return measure


def measure_batches(obs: Observed) -> dict:
    return {"answers_kept": median([_int(r["answer"]) for r in obs.runs]),
            "of": 60}


def measure_needle(size: int) -> Callable[[Observed], dict]:
    def measure(obs: Observed) -> dict:
        run = obs.runs[0]
        root = sorted(obs.in_run(run, "root"), key=lambda e: e["arrival"])
        out = {"context_mb": size / MB,
               "first_request_s": root[0]["arrival"] - run["t0"] if root else None,
               "root_prompt_chars": [e["prompt_chars"] for e in root],
               "root_prompt_max_chars": max((e["prompt_chars"] for e in root), default=None),
               "answer_ok": run["answer"].strip() == NEEDLE_VALUE}
        base = procmem.before(obs.samples, run["t0"])
        if base is not None:
            top = procmem.peak(obs.samples, run["t0"], run["t1"])
            loaded = procmem.resting(obs.samples, root[-1]["arrival"], root[-1]["end"]) \
                if root else None
            out["peak_mb"] = (top - base) * 1024 / MB if top else None
            out["loaded_mb"] = (loaded - base) * 1024 / MB if loaded else None
            out["peak_x"] = out["peak_mb"] * MB / size if out["peak_mb"] else None
            out["loaded_x"] = out["loaded_mb"] * MB / size if out["loaded_mb"] else None
            rss0 = procmem.rss_before(obs.samples, run["t0"])
            hwm = procmem.peak_hwm(obs.samples, run["t0"], run["t1"])
            if rss0 and hwm:
                out["peak_hwm_x"] = (hwm - rss0) * 1024 / size
        return out
    return measure


def measure_idle(obs: Observed) -> dict:
    run = obs.runs[0]
    root = sorted(obs.in_run(run, "root"), key=lambda e: e["arrival"])
    if len(root) < 2:
        return {}
    hold = procmem.window(obs.samples, root[1]["arrival"] + 0.3, root[1]["arrival"] + 1.2)
    base = procmem.before(obs.samples, run["t0"])
    if not hold or base is None:
        return {}
    tree = median([s.total_kb for s in hold])
    others = median([sum(kb for pid, kb in s.per_pid.items() if pid != obs.root_pid)
                     for s in hold])
    workers = median([len(s.per_pid) - 1 for s in hold])
    return {"tree_above_start_mb": (tree - base) * 1024 / MB,
            "sandbox_processes": workers,
            "sandbox_pss_mb": others * 1024 / MB,
            "per_sandbox_mb": others * 1024 / MB / workers if workers else 0.0}


def measure_children(n: int) -> Callable[[Observed], dict]:
    def measure(obs: Observed) -> dict:
        spans, starts = [], []
        for run in obs.runs:
            root = sorted(obs.in_run(run, "root"), key=lambda e: e["arrival"])
            child = obs.in_run(run, "child")
            if len(root) >= 2 and child:
                spans.append(root[1]["arrival"] - root[0]["end"])
                starts.append(max(e["arrival"] for e in child) - root[0]["end"])
        span = median(spans)
        return {"span_s": span, "ideal_s": obs.latency,
                "overhead_s": None if span is None else span - obs.latency,
                "last_child_start_s": median(starts),
                "answer_ok": all(r["answer"].count("c") >= n for r in obs.runs)}
    return measure


def _int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        return -1


# --- the list -----------------------------------------------------------------------------
def fanout_code(n: int) -> str:
    return code(f"rs = llm_query_batched(['Q%d' % i for i in range({n})])\n"
                f"ok = sum(r == 'A:Q%d' % i for i, r in enumerate(rs))\nprint(ok)")


def batch_code(b: int) -> str:
    return code(f"b{b} = llm_query_batched(['Q{b}-%d' % i for i in range(20)])\n"
                f"print(sum(r == 'A:Q{b}-%d' % i for i, r in enumerate(b{b})))")


def all_scenarios(quick: bool = False, sizes_mb: list[float] | None = None,
                  fanouts: list[int] | None = None) -> list[Scenario]:
    """Every scenario; ``quick`` shrinks repeats and sizes (the CI smoke)."""
    repeat = 1 if quick else 3
    sizes = sizes_mb or ([0.1] if quick else [0.5, 5, 50, 100])
    fans = fanouts or ([10] if quick else [10, 100, 1000])
    ask = "What is 2+2? [[root]]"
    found = code("import re\nm = re.search(r'magic number is (\\d+)', context)\n"
                 "found = m.group(1) if m else 'none'\nprint(found)")
    out = [
        Scenario("fixed", "fixed cost of a one-turn run (wall - model time)", ask,
                 {"root": [final_code("'4'")]}, measure_fixed, repeat=repeat + 2),
        Scenario("turns", "engine cost per turn over 20 turns", "Count to 20. [[root]]",
                 {"root": [code(f"x = {i}\nprint(x)") for i in range(1, 20)]
                  + [final_code("x + 1")]}, measure_turns, repeat=repeat),
        Scenario("cold", "cold start: process start to first model request", ask,
                 {"root": [final_code("'4'")]}, measure_cold, warmup=0),
        Scenario("child", "child agent: start to its first request, return to parent",
                 "Ask a child. [[root]]",
                 {"root": [code("r = rlm_query('Say c. ' * 40)\nprint(r)"), final_code("r")],
                  "child": [final_code("'c'")]},
                 measure_child, theirs_settings={"max_depth": 2}, repeat=repeat),
        Scenario("child0", "child agent whose model answers at once: its sandbox's start "
                 "cannot hide behind the model's time", "Ask a child. [[root]]",
                 {"root": [code("r = rlm_query('Say c. ' * 40)\nprint(r)"), final_code("r")],
                  "child": [final_code("'c'")], "latency_by": {"child:1": 0.0}},
                 measure_child, theirs_settings={"max_depth": 2}, repeat=repeat),
        Scenario("children4", "4 children in parallel (rlm_query_batched)",
                 "Ask four children. [[root]]",
                 {"root": [code("rs = rlm_query_batched(['Say c, child %d. ' % i * 20 "
                                "for i in range(4)])\nprint(rs)"),
                           final_code("' '.join(rs)")],
                  "child": [final_code("'c'")]},
                 measure_children(4), theirs_settings={"max_depth": 2}, repeat=repeat),
        Scenario("batches", "3 batches of 20 llm_query_batched in one run (answers kept)",
                 "Three batches. [[root]]",
                 {"root": [batch_code(1), batch_code(2), batch_code(3),
                           final_code("sum(r == 'A:Q%d-%d' % (b, i) for b, rs in "
                                      "((1, b1), (2, b2), (3, b3)) for i, r in enumerate(rs))")]},
                 measure_batches, settings={"max_concurrency": 16}),
        Scenario("idle", "memory of an idle sandbox (model thinking for 1.5 s)",
                 "Hold on. [[root]]",
                 {"root": [code("x = 1\nprint(x)"), final_code("x")],
                  "latency_by": {"root:2": 1.5}},
                 measure_idle, settle=0.3, sample_memory=True),
    ]
    for n in fans:
        out.append(Scenario(f"fanout{n}", f"fan-out of {n} llm_query_batched at 16 in flight",
                            f"Fan out {n}. [[root]]",
                            {"root": [fanout_code(n), final_code("ok")]},
                            measure_fanout(n, 16), settings={"max_concurrency": 16}))
    for mb in sizes:
        size = int(mb * MB)
        out.append(Scenario(f"needle{mb:g}MB", f"needle in {mb:g} MB of context",
                            "Find the magic number. [[root]]",
                            {"root": [found, final_code("found")]}, measure_needle(size),
                            context={"kind": "haystack", "size": size}, settle=0.3,
                            sample_memory=True))
    return out
