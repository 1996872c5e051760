"""Workers forked from a pool's template keep every promise a spawned worker keeps."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from rlm.context import prepare_context
from rlm.errors import ConfigError, SandboxError
from rlm.sandbox import Sandbox, SandboxConfig, SandboxPool
from rlm.sandbox.procs import MARKER_ENV

from .test_sandbox_procs import gone, marked, running

CONFIG = SandboxConfig(action_timeout=10.0, memory_mb=1024)
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")


@pytest.fixture(autouse=True)
def start_method() -> str:
    """These tests make their own pools, which fork: once is enough (see conftest)."""
    return "fork"


async def nothing(op, payload):
    return ""


@pytest.fixture
def source(tmp_path):
    return prepare_context("context text", tmp_path)


def stat_fields(pid: int) -> list[bytes]:
    return Path(f"/proc/{pid}/stat").read_bytes().rpartition(b")")[2].split()


FACTS = textwrap.dedent("""
    import json, os, sys, tempfile
    print(json.dumps({
        "pid": os.getpid(), "group": os.getpgid(0), "session": os.getsid(0),
        "parent": os.getppid(), "cwd": os.getcwd(), "tmp": tempfile.gettempdir(),
        "key": os.environ.get("RLM_TEST_API_KEY"), "plain": os.environ.get("RLM_TEST_PLAIN"),
        "channel": int(sys.argv[1]),
        "marker": os.environ["RLM_SANDBOX_RUN"]}))
""")


async def test_a_forked_worker_has_its_own_group_folder_and_scrubbed_environment(
        source, monkeypatch):
    monkeypatch.setenv("RLM_TEST_API_KEY", "sk-forked-secret-1")
    monkeypatch.setenv("RLM_TEST_PLAIN", "kept")
    pool = SandboxPool(CONFIG)
    try:
        boxes = [await Sandbox.start(source, config=CONFIG, handler=nothing, pool=pool)
                 for _ in range(2)]
        assert pool.start_method == "fork"
        facts = [json.loads((await box.run(FACTS)).stdout) for box in boxes]
        for box, fact in zip(boxes, facts, strict=True):
            assert fact["pid"] == box.pid == fact["group"] == fact["session"]
            assert fact["parent"] == os.getpid()  # adopted by the host: not the template's
            assert fact["cwd"] == fact["tmp"] and Path(fact["cwd"]).name.startswith(
                "rlm-sandbox-")
            assert (fact["key"], fact["plain"]) == (None, "kept")
            fds = sorted(int(fd) for fd in os.listdir(f"/proc/{box.pid}/fd"))
            assert fds == [0, 1, 2, fact["channel"]]  # nothing of the template's
            environ = Path(f"/proc/{box.pid}/environ").read_bytes()  # what the sweep reads
            assert f"{MARKER_ENV}={fact['marker']}\0".encode() in environ
            assert fact["marker"].startswith(pool.run_id)
            await box.close()
        assert facts[0]["cwd"] != facts[1]["cwd"] and facts[0]["marker"] != facts[1]["marker"]
    finally:
        await pool.close()
    assert not any(Path(fact["cwd"]).exists() for fact in facts)


async def test_network_is_off_and_files_confined_in_a_forked_worker(source, tmp_path):
    import socket

    outside = tmp_path / "not-yours.txt"
    outside.write_text("secret")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    pool = SandboxPool(CONFIG)
    try:
        async with await Sandbox.start(source, config=CONFIG, handler=nothing,
                                       pool=pool) as box:
            assert (box.network, box.files.startswith("landlock")) == ("namespace", True)
            net = await box.run(f"import socket\nsocket.create_connection(('127.0.0.1', "
                                f"{server.getsockname()[1]}), timeout=2)")
            read = await box.run(f"open({str(outside)!r}).read()")
            write = await box.run(f"open({str(tmp_path / 'new.txt')!r}, 'w')")
            mine = await box.run("open('mine.txt', 'w').write('ok')\n"
                                 "print(open('mine.txt').read())")
    finally:
        server.close()
        await pool.close()
    assert net.error and ("Network is unreachable" in net.error or "refused" in net.error)
    assert "PermissionError" in read.error and "PermissionError" in write.error
    assert mine.error is None and mine.stdout == "ok\n"
    assert not (tmp_path / "new.txt").exists()


async def test_close_leaves_no_process_of_the_run_and_no_template(source):
    pool = SandboxPool(CONFIG)
    box = await Sandbox.start(source, config=CONFIG, handler=nothing, pool=pool)
    child = await Sandbox.start(source, config=CONFIG, handler=nothing, pool=pool)
    template = pool._server.pid
    assert running(template) and len(marked(pool.run_id)) >= 3  # template, two workers
    await box.close()
    await pool.close()
    assert gone(template) and gone(box.pid) and gone(child.pid)
    assert marked(pool.run_id) == []
    await child.close()


@pytest.mark.parametrize("wait", [0, 0.002, 0.02])
async def test_a_pool_closed_while_its_template_starts_leaves_no_process(wait):
    pool = SandboxPool(CONFIG)  # starts its template in the background at once
    await asyncio.sleep(wait)
    await pool.close()
    assert marked(pool.run_id) == []


async def test_a_template_that_dies_makes_the_next_sandbox_start_by_spawning(source, caplog):
    pool = SandboxPool(CONFIG)
    try:
        first = await Sandbox.start(source, config=CONFIG, handler=nothing, pool=pool)
        os.kill(pool._server.pid, signal.SIGKILL)
        with caplog.at_level(logging.WARNING, logger="rlm.sandbox"):
            for _ in range(200):  # until the pool has seen its control socket close
                if pool._server.failure:
                    break
                await asyncio.sleep(0.01)
            second = await Sandbox.start(source, config=CONFIG, handler=nothing, pool=pool)
        assert pool.start_method.startswith("spawn: the fork server died")
        assert "new Python interpreter" in caplog.text
        result = await second.run("print(context)")
        assert result.stdout == "context text\n"
        # The worker forked before the template died lives on: it is the host's, not the
        # template's.
        assert (await first.run("print(1)")).stdout == "1\n"
        pids = [first.pid, second.pid]
        await first.close()
        await second.close()
    finally:
        await pool.close()
    assert all(gone(pid) for pid in pids) and marked(pool.run_id) == []


def our_zombies() -> set[int]:
    return {pid for pid in map(int, filter(str.isdigit, os.listdir("/proc")))
            if not running(pid) and not gone(pid)}


async def test_a_worker_forked_for_a_caller_that_left_is_reaped(source):
    pool = SandboxPool(CONFIG)
    await pool.warm_up()
    zombies = our_zombies()
    for delay in (0, 0.001, 0.003):
        task = asyncio.create_task(Sandbox.start(source, config=CONFIG, handler=nothing,
                                                 pool=pool))
        await asyncio.sleep(delay)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    await pool.close()
    assert marked(pool.run_id) == []
    assert our_zombies() <= zombies


async def test_a_sandbox_begun_in_the_background_is_waited_for_and_fails_on_use(tmp_path):
    pool = SandboxPool(CONFIG)
    try:
        box = Sandbox.begin(prepare_context("hello", tmp_path), config=CONFIG,
                            handler=nothing, pool=pool)
        assert (await box.run("print(context)")).stdout == "hello\n"
        await box.close()
        big = prepare_context("x" * 30_000_000, tmp_path, name="big")
        broken = Sandbox.begin(big, config=SandboxConfig(memory_mb=8), handler=nothing,
                               pool=pool)
        with pytest.raises(SandboxError, match="memory_mb"):  # what start would raise
            await broken.run("print(1)")
        with pytest.raises(SandboxError, match="closed"):
            await broken.run("print(1)")
        with pytest.raises(ConfigError):  # checked at once, not in the background
            Sandbox.begin(None, config=SandboxConfig(read_paths=(str(tmp_path / "no"),)),
                          handler=nothing, pool=pool)
        unused = Sandbox.begin(None, config=CONFIG, handler=nothing, pool=pool)
        await unused.close()  # never used: closed while (or after) it boots
    finally:
        await pool.close()
    assert marked(pool.run_id) == []


HOST = textwrap.dedent("""
    import asyncio, sys
    from pathlib import Path
    from rlm.context import prepare_context
    from rlm.sandbox import Sandbox, SandboxConfig, SandboxPool

    async def main():
        pool = SandboxPool(SandboxConfig())
        box = await Sandbox.start(prepare_context('x', Path(sys.argv[1])),
                                  config=SandboxConfig(), handler=None, pool=pool)
        print(box.pid, pool._server.pid, flush=True)
        await asyncio.sleep(600)

    asyncio.run(main())
""")


def test_the_template_and_its_workers_die_with_their_host(tmp_path):
    host = subprocess.Popen([sys.executable, "-c", HOST, str(tmp_path)], stdout=subprocess.PIPE,
                            text=True)
    try:
        worker, template = map(int, host.stdout.readline().split())
        assert running(worker) and running(template)
    finally:
        host.kill()
        host.wait()
    deadline = time.monotonic() + 10
    while (running(worker) or running(template)) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not running(worker) and not running(template)
    for pid in (worker, template):  # adopted by this process if it is a subreaper: reap
        if not gone(pid):
            os.waitpid(pid, 0)
