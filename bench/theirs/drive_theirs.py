"""Run one scenario with the official ``rlms`` (``VENV/bin/python drive_theirs.py SPEC.json``).

Started by the runner with the throwaway venv's python and a working folder outside this
repository, because ``rlms`` installs a package named ``rlm`` too. It reaches the bench
server through its ``openai`` backend with ``base_url``; the context is passed as the
prompt and the question as ``root_prompt`` (what ``completion(prompt)`` with no context
does in this engine).
"""

import time

T_MAIN = time.monotonic()

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # bench/ (drivelib); never the repository root
import drivelib


def main() -> None:
    spec = drivelib.load_spec()
    from rlm import RLM

    assert "site-packages" in sys.modules["rlm"].__file__, "this must be the official rlms"
    settings = dict(spec.get("theirs_settings") or {})
    rlm = RLM(backend="openai",
              backend_kwargs={"model_name": "bench", "base_url": spec["server"] + "/v1",
                              "api_key": "bench-dummy-key"},
              environment="local", **settings)

    def completion(prompt, context):
        result = rlm.completion(prompt if context is None else context, root_prompt=prompt)
        return result.response

    result = drivelib.run_measured(spec, completion)
    result["t_main"] = T_MAIN
    drivelib.emit(result)


if __name__ == "__main__":
    main()
