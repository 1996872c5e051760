"""What both drivers share (standard library only: the official driver imports it too).

A driver is one process that runs one scenario with one implementation: it reads the spec
(JSON file named on its command line), builds the context, runs ``warmup`` completions that
are not measured, then ``repeat`` measured ones, and prints ``RESULT {json}`` as its last
stdout line. Times are ``time.monotonic()`` (one clock for every process of the machine), so
the runner can line them up with the server's request log.
"""

from __future__ import annotations

import gc
import json
import sys
import time
import urllib.request
from collections.abc import Callable
from typing import Any

NEEDLE = "The magic number is {value}."
LINE = "Line {i:09d}: the quick brown fox jumps over the lazy dog, nothing to see here.\n"


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1 only
WARMUP_PROMPT = "What is 2+2? [[root]]"
WARMUP_SCRIPT = {"root": [("Thought: easy.\n```repl\n_v = '4'\ntry:\n    FINAL(_v)\n"
                           "except NameError:\n    answer['content'] = _v\n"
                           "    answer['ready'] = True\n```")]}


def set_script(server: str, script: dict) -> None:
    """Tell the bench server what to answer next (``server`` is its base URL)."""
    request = urllib.request.Request(f"{server}/_script", data=json.dumps(script).encode(),
                                     headers={"Content-Type": "application/json"})
    with _OPENER.open(request, timeout=10) as reply:
        reply.read()


def load_spec() -> dict:
    with open(sys.argv[1]) as f:
        return json.load(f)


def haystack(size: int, value: int = 7341, where: float = 0.6) -> str:
    """About ``size`` characters of numbered lines with one needle line at ``where``."""
    block = "".join(LINE.format(i=i) for i in range(1000))
    repeats = max(1, size // len(block) + 1)
    text = (block * repeats)[:size]
    cut = text.rfind("\n", 0, int(len(text) * where)) + 1
    return text[:cut] + NEEDLE.format(value=value) + "\n" + text[cut:]


def make_context(spec: dict) -> Any:
    ctx = spec.get("context")
    if ctx is None:
        return None
    if ctx.get("kind") == "haystack":
        return haystack(int(ctx["size"]))
    return ctx.get("value")


def run_measured(spec: dict, completion: Callable[[str, Any], str]) -> dict:
    """Warm-up runs, then measured runs; each measured run records its own clock window.

    Before each measured run the driver sleeps ``settle`` seconds so the runner's memory
    sampler sees the tree at rest (the ``before`` figure).
    """
    prompt = spec["prompt"]
    if int(spec.get("warmup", 0)):
        set_script(spec["server"], WARMUP_SCRIPT)
        for _ in range(int(spec["warmup"])):
            completion(WARMUP_PROMPT, None)
    set_script(spec["server"], spec["script"])
    context = make_context(spec)
    gc.collect()
    trim_heap()
    runs = []
    for _ in range(int(spec.get("repeat", 1))):
        time.sleep(float(spec.get("settle", 0.0)))
        reset_peak()
        t0 = time.monotonic()
        answer = completion(prompt, context)
        t1 = time.monotonic()
        runs.append({"t0": t0, "t1": t1, "answer": str(answer)[:500]})
    return {"runs": runs, "context_chars": len(context) if isinstance(context, str) else 0}


def trim_heap() -> None:
    """Give freed heap back to the OS (glibc ``malloc_trim``), so that memory freed while
    the context was built is not in the ``before`` figure, to be reused unseen later."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def reset_peak() -> None:
    """Start this process's VmHWM (peak RSS) again from now (Linux), for ``peak_hwm``."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def emit(result: dict) -> None:
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()
