"""The model layer's own floor: what one call costs beyond the server's latency.

    uv run python bench/bench_model.py [http://127.0.0.1:PORT] [--n 1000] [--seq 50]

Against a bench server (``bench/server.py``; started here when no URL is given), for each
client: plain ``litellm`` (configured as ``rlm.llm.litellm_loader`` does),
``rlm.llm.litellm_model.LiteLLMModel``, the direct door (``rlm.llm.http.DirectModel``, or
``FastModel`` in trees from before it was renamed), ``LiteLLMModel(direct=True)`` (the aiohttp
door of older trees, where it exists) and the ``openai`` SDK:
- ``<client>_seq_<mode>_ms``: a sequential call's cost beyond the server's own time
  (client wall time minus the time the server spent on it), ``mode`` = ``whole`` (one JSON
  reply, as ``llm_query`` asks) or ``stream`` (a 200-character reply in 4-character server-
  sent events, as an agent step asks);
- ``<client>_fan_x``: ``--n`` calls at 16 in flight, span / ideal (latency x ceil(n / 16)).
Prints ``RESULT {json}`` last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("OPENAI_API_KEY", "bench-dummy-key")
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
CONCURRENCY = 16
REPLY_PROMPT = "x" * 198  # the server answers "A:" + prompt: 200 characters


def server_log(url: str, since: int = 0) -> list[dict]:
    with OPENER.open(f"{url}/_log?since={since}", timeout=30) as reply:
        return json.loads(reply.read())


def set_script(url: str, latency: float) -> None:
    body = json.dumps({"latency": latency, "chunk": 4}).encode()
    with OPENER.open(urllib.request.Request(f"{url}/_script", data=body), timeout=10):
        pass


def clients(url: str) -> dict:
    """name -> async fn(prompt, stream) -> text."""
    from rlm.llm.litellm_loader import load_litellm
    from rlm.llm.litellm_model import LiteLLMModel

    litellm = load_litellm()
    ours, fast = LiteLLMModel(api_base=f"{url}/v1"), direct_door(f"{url}/v1")
    sdk = {}

    async def plain(prompt: str, stream: bool) -> str:
        kwargs = {"model": "openai/bench", "api_base": f"{url}/v1", "api_key": "x",
                  "messages": [{"role": "user", "content": prompt}]}
        if not stream:
            return (await litellm.acompletion(**kwargs)).choices[0].message.content
        parts = []
        async for chunk in await litellm.acompletion(
                **kwargs, stream=True, stream_options={"include_usage": True}):
            if chunk.choices and chunk.choices[0].delta.content:
                parts.append(chunk.choices[0].delta.content)
        return "".join(parts)

    def model_fn(model):
        async def call(prompt: str, stream: bool) -> str:
            reply = await model.complete([{"role": "user", "content": prompt}],
                                         model="openai/bench",
                                         on_token=(lambda t: None) if stream else None)
            return reply.text
        return call

    async def openai_sdk(prompt: str, stream: bool) -> str:
        import openai

        loop = asyncio.get_running_loop()
        if sdk.get("loop") is not loop:
            sdk.update(loop=loop, client=openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="x"))
        create = sdk["client"].chat.completions.create
        messages = [{"role": "user", "content": prompt}]
        if not stream:
            return (await create(model="bench", messages=messages)).choices[0].message.content
        parts = []
        async for chunk in await create(model="bench", messages=messages, stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                parts.append(chunk.choices[0].delta.content)
        return "".join(parts)

    doors = {"litellm": plain, "LiteLLMModel": model_fn(ours), "DirectModel": model_fn(fast),
             "openai_sdk": openai_sdk}
    try:  # the model layer's own direct path, where it has one
        doors["LiteLLMModel_direct"] = model_fn(LiteLLMModel(api_base=f"{url}/v1", direct=True))
    except TypeError:
        pass
    return doors


def direct_door(api_base: str):
    """The direct HTTP door, under its name in this tree."""
    try:
        from rlm.llm.http import DirectModel
    except ImportError:  # trees from before issue 10 (rlm/llm_fast.py)
        from rlm.llm_fast import FastModel as DirectModel  # type: ignore[no-redef]
    return DirectModel(api_base=api_base)


async def sequential(url: str, call, stream: bool, n: int) -> float:
    """Median ms per call beyond the server's own time."""
    await call(REPLY_PROMPT, stream)  # warm: connections, lazy imports
    costs = []
    for _ in range(n):
        since = len(server_log(url))
        start = time.monotonic()
        await call(REPLY_PROMPT, stream)
        wall = time.monotonic() - start
        entry = server_log(url, since)[0]
        costs.append(wall - (entry["end"] - entry["arrival"]))
    return statistics.median(costs) * 1000


async def fan_out(call, n: int) -> tuple[float, int]:
    limiter = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int) -> bool:
        async with limiter:
            return await call(f"Q{i}", False) == f"A:Q{i}"

    await call("warm", False)
    start = time.monotonic()
    ok = sum(await asyncio.gather(*(one(i) for i in range(n))))
    return time.monotonic() - start, ok


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url", nargs="?", default="")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seq", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--reps", type=int, default=1, help="(accepted for the runner)")
    parser.add_argument("--only", default="", help="comma-separated client names")
    args = parser.parse_args()
    server = None
    if not args.url:
        server = subprocess.Popen([sys.executable, str(Path(__file__).with_name("server.py")),
                                   "--lifetime", "1800"], stdout=subprocess.PIPE, text=True)
        args.url = f"http://127.0.0.1:{int(server.stdout.readline().split()[1])}"
    try:
        measure(args)
    finally:
        if server:
            server.kill()


def measure(args) -> None:
    set_script(args.url, args.latency)
    ideal = args.latency * math.ceil(args.n / CONCURRENCY)
    out: dict = {"n": args.n, "ideal_s": ideal}
    only = {c for c in args.only.split(",") if c}
    for name, call in clients(args.url).items():
        if only and name not in only:
            continue
        for stream in (False, True):
            mode = "stream" if stream else "whole"
            out[f"{name}_seq_{mode}_ms"] = asyncio.run(sequential(args.url, call, stream,
                                                                  args.seq))
        span, ok = asyncio.run(fan_out(call, args.n))
        out[f"{name}_fan_s"], out[f"{name}_fan_x"] = span, span / ideal
        out[f"{name}_fan_ok"] = ok
        print(f"{name}: " + ", ".join(f"{k}={v:.4g}" for k, v in out.items()
                                      if k.startswith(name)), file=sys.stderr, flush=True)
    print("RESULT " + json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
