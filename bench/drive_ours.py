"""Run one scenario with this engine (``python bench/drive_ours.py SPEC.json``).

The engine reaches the bench server as ``openai/bench`` with ``api_base`` through its
default model layer (variant ``ours``), or with ``rlm.llm_fast.FastFirstModel`` injected as
the client (variant ``ours-fast``). See ``drivelib`` for the protocol with the runner.
"""

import time

T_MAIN = time.monotonic()

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import drivelib


def main() -> None:
    spec = drivelib.load_spec()
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("OPENAI_API_KEY", "bench-dummy-key")
    from rlm import RLM

    settings = dict(spec.get("settings") or {})
    client = None
    if spec.get("variant") == "ours-fast":
        from rlm.llm_fast import FastFirstModel

        client = FastFirstModel(api_base=spec["server"] + "/v1")
    rlm = RLM(model="openai/bench", api_base=spec["server"] + "/v1", client=client,
              **settings)

    def completion(prompt, context):
        result = rlm.completion(prompt, context)
        if result.status != "answered":
            return f"[{result.status}: {result.error}]"
        return result.answer

    result = drivelib.run_measured(spec, completion)
    result["t_main"] = T_MAIN
    drivelib.emit(result)


if __name__ == "__main__":
    main()
