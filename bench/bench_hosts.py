"""One model on 1, 2 and 3 local hosts: the same fan-out, spread by the engine or litellm.

    uv run python bench/bench_hosts.py [--calls 300] [--slots 4] [--latency 0.05] [--reps 3]

Starts three bench servers (``server.py``), each serving ``--slots`` requests at once at
``--latency`` seconds a request, and runs one RLM whose root's code asks
``llm_query_batched`` of ``--calls`` prompts, with ``max_concurrency = 12``:

- ``1 host``: ``--model openai/bench --api-base`` one server (the direct door);
- ``2 hosts``, ``3 hosts``: a profile with that many ``[[deployments]]`` of the model,
  spread by the engine (``rlm.llm.spread``);
- ``3 hosts, litellm``: the same profile with ``RLM_DIRECT_HTTP=0`` (litellm's Router, as
  before issue 19).

Each figure is the fan-out's span (first request's arrival to the last one's end, read from
the servers' logs) against the ideal ``latency x ceil(calls / (slots x hosts))``; medians of
``--reps`` runs, the variants alternating. Prints a table and ``RESULT {json}`` last.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from drivelib import set_script  # noqa: E402
from run import Server  # noqa: E402

ROOT_CODE = "answers = llm_query_batched(['question %d' % i for i in range({calls})])\n" \
            "FINAL(str(len(answers)))"


def script(server: Server, calls: int, latency: float) -> None:
    """The root replies at once with code that fans out; each sub-call takes ``latency``."""
    reply = f"```repl\n{ROOT_CODE.format(calls=calls)}\n```"
    set_script(server.url, {"root": [reply], "latency": latency,
                            "latency_by": {"root:1": 0.0}})


def run_once(variant: str, servers: list[Server], calls: int) -> float:
    from rlm import RLM

    env = dict(os.environ, OPENAI_API_KEY="bench-dummy-key")
    hosts = {"1 host": 1, "2 hosts": 2, "3 hosts": 3, "3 hosts, litellm": 3}[variant]
    settings: dict = {"max_concurrency": 12}
    urls = [server.url for server in servers]
    marks = [server.log_size() for server in servers]
    if hosts == 1:
        rlm = RLM(model="openai/bench", api_base=urls[0] + "/v1", env=env, **settings)
    else:
        from rlm.config import Settings
        from rlm.llm.factory import make_model
        from rlm.llm.router import Deployment

        deployments = [Deployment("openai/bench", "openai/bench", url + "/v1") for url in
                       urls[:hosts]]
        resolved = Settings.resolve(env, model="openai/bench", direct_http=
                                    variant != "3 hosts, litellm", **settings)
        rlm = RLM(settings=resolved, client=make_model(resolved, deployments=deployments,
                                                       env=env), env=env)
    result = rlm.completion("[[root]] fan out", "x")
    assert result.answer == str(calls), (variant, result.status, result.error)
    entries = [entry for server, mark in zip(servers, marks, strict=True)
               for entry in server.get(f"/_log?since={mark}")]
    subs = [e for e in entries if e["role"] == "sub"]
    return max(e["end"] for e in subs) - min(e["arrival"] for e in subs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    servers = [Server(args.latency, 900, slots=args.slots) for _ in range(3)]
    for server in servers:
        script(server, args.calls, args.latency)
    variants = ["1 host", "2 hosts", "3 hosts", "3 hosts, litellm"]
    spans: dict[str, list[float]] = {v: [] for v in variants}
    try:
        for rep in range(args.reps):
            for variant in variants[rep % len(variants):] + variants[:rep % len(variants)]:
                spans[variant].append(run_once(variant, servers, args.calls))
    finally:
        for server in servers:
            server.close()
    rows = []
    one = statistics.median(spans["1 host"])
    for variant in variants:
        hosts = 1 if variant == "1 host" else int(variant[0])
        ideal = args.latency * math.ceil(args.calls / (args.slots * hosts))
        span = statistics.median(spans[variant])
        rows.append({"variant": variant, "span_s": round(span, 3), "ideal_s": round(ideal, 3),
                     "vs_ideal": round(span / ideal, 2), "vs_one_host": round(span / one, 2),
                     "spans": [round(s, 3) for s in spans[variant]]})
    print(f"{'variant':<18} {'span':>7} {'ideal':>7} {'x ideal':>8} {'x 1 host':>9}")
    for r in rows:
        print(f"{r['variant']:<18} {r['span_s']:>7.2f} {r['ideal_s']:>7.2f} "
              f"{r['vs_ideal']:>8.2f} {r['vs_one_host']:>9.2f}")
    print(f"load {os.getloadavg()[0]:.2f}; {time.strftime('%Y-%m-%dT%H:%M:%S')}")
    print("RESULT " + json.dumps(rows))


if __name__ == "__main__":
    main()
