"""``rlm eval --ray``: the tasks run on a Ray instance started here, as on a cluster.

The instance is started by a Python process of its own (as ``ray start`` would), with token
authentication on and every address on 127.0.0.1; ``rlm eval --ray ADDRESS`` runs as its
own process and joins it like a user's driver joins a cluster, and the model is a loopback
server reached by its api base from the workers. One instance for the module: starting one
costs several seconds.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import subprocess
import sys

import pytest

from tests.eval.solver import reply
from tests.servers.openai import OpenAIServer

# Ray reads its settings when imported: it is imported only by the processes started here.
pytestmark = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                reason="the Ray extra is not installed: uv sync --extra ray")

HEAD = """
import logging, sys
import ray
ray.init(num_cpus=2, include_dashboard=False, object_store_memory=80 * 1024 * 1024,
         logging_level=logging.WARNING)
print(ray.get_runtime_context().gcs_address, flush=True)
sys.stdin.read()  # until the test closes our stdin
ray.shutdown()
"""
RAY_ENV = {
    "RAY_AUTH_MODE": "token",                      # as a cluster should be run
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",      # every address on 127.0.0.1
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
}


@pytest.fixture(scope="module")
def ray_cluster():
    """The address of a running Ray instance, and the environment that joins it."""
    env = {**RAY_ENV, "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    head = subprocess.Popen([sys.executable, "-c", HEAD], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, **env, "NO_PROXY": "127.0.0.1,localhost"})
    try:
        address = head.stdout.readline().strip() if head.stdout else ""
        if not address.startswith("127.0.0.1:"):
            pytest.fail(f"the Ray instance did not start (said {address!r})")
        yield address, env
    finally:
        if head.stdin:
            head.stdin.close()
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            head.kill()  # our own process, by its id
            head.wait()


def rlm_eval(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rlm.cli", "eval", *args], env=env,
                          capture_output=True, text=True, timeout=110, check=False)


def test_tasks_run_on_ray_workers_and_stream_into_the_results_file(
        ray_cluster, model_env, tmp_path):
    address, ray_env = ray_cluster
    env = {**os.environ, **ray_env}
    out = tmp_path / "ray.jsonl"
    with OpenAIServer(lambda request: reply(request.messages, request.model)) as server:
        args = ["--ray", address, "--model", "openai/solver", "--api-base",
                server.url + "/v1", "--suites", "s-niah,oolong", "--lengths", "1k",
                "--tasks", "1", "--out", str(out), "--no-chart"]
        done = rlm_eval(*args, env=env)
        assert done.returncode == 0, done.stderr[-3000:]
        lines = [json.loads(x) for x in out.read_text().splitlines()]
        assert len(lines) == 6 and {x["score"] for x in lines} == {1.0}
        assert {x["arm"] for x in lines} == {"base", "rlm", "rlm-no-sub"}
        assert all(x["host"] for x in lines)
        oolong_rlm = next(x for x in lines if x["arm"] == "rlm" and "oolong" in x["key"])
        assert oolong_rlm["calls"] > 2  # its sub-calls reached the server from the worker
        assert "eval 6/6" in done.stderr and "s-niah" in done.stdout
        again = rlm_eval(*args, env=env)  # a rerun: nothing to do, no cluster needed
        assert again.returncode == 0 and "6 already in" in again.stderr
