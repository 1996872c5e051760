"""Run one scenario with this engine (``python bench/drive_ours.py SPEC.json``).

The engine reaches the bench server as ``openai/bench`` with ``api_base``. The variant names
the model client (see ``make_client``); a ``+warm`` suffix adds ``keep_warm=True``.
See ``drivelib`` for the protocol with the runner.
"""

import time

T_MAIN = time.monotonic()

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import drivelib


def make_client(door: str, api_base: str):
    """The model client of a variant: ``ours`` (the engine builds its own, after its
    preflight), ``ours-fast`` (the same client, ``rlm.llm.factory.LocalFirstModel``, injected,
    so no preflight) or ``ours-litellm`` (``LiteLLMModel``: every call through litellm)."""
    if door == "ours-fast":
        from rlm.llm.factory import LocalFirstModel

        return LocalFirstModel(api_base=api_base)
    if door == "ours-litellm":
        from rlm.llm.litellm_model import LiteLLMModel

        return LiteLLMModel(api_base=api_base)
    return None


def main() -> None:
    spec = drivelib.load_spec()
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("OPENAI_API_KEY", "bench-dummy-key")
    from rlm import RLM

    settings = dict(spec.get("settings") or {})
    door, *flags = spec.get("variant", "ours").split("+")
    if "warm" in flags:
        settings["keep_warm"] = True
    rlm = RLM(model="openai/bench", api_base=spec["server"] + "/v1",
              client=make_client(door, spec["server"] + "/v1"), **settings)

    def completion(prompt, context):
        result = rlm.completion(prompt, context)
        if result.status != "answered":
            return f"[{result.status}: {result.error}]"
        return result.answer

    result = drivelib.run_measured(spec, completion)
    result["t_main"] = T_MAIN
    drivelib.emit(result)
    if hasattr(rlm, "close"):
        rlm.close()


if __name__ == "__main__":
    main()
