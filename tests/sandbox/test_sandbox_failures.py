"""The sandbox when things go wrong: timeouts, crashes, floods, secrets, memory, cancel, network."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from rlm.context import prepare_context
from rlm.errors import SandboxError
from rlm.sandbox import SandboxConfig
from tests.sandbox.helpers import FAST, start


async def test_an_infinite_loop_is_stopped_and_context_reloaded(text_source):
    config = SandboxConfig(action_timeout=0.5, memory_mb=1024)
    async with await start(text_source, config=config) as box:
        await box.run("x = 1\ncontext = 'changed'")
        old_pid = box.pid
        looped = await box.run("print('before the loop')\nwhile True:\n    pass")
        after = await box.run("print(context, 'x' in globals())")
    assert looped.timed_out and looped.restarted and looped.crash is None
    assert looped.stdout == "before the loop\n"
    assert looped.error.endswith("TimeoutError: the action ran past its 0.5 s time limit "
                                 "and was stopped")
    assert '  File "<action 2>", line ' in looped.error
    assert box.pid != old_pid
    assert after.stdout == "the magic number is 42\n False\n" and not after.restarted


async def test_waiting_on_the_handler_does_not_count_as_running_time(text_source):
    async def slow(op, payload):
        await asyncio.sleep(0.6)
        return "done"

    config = SandboxConfig(action_timeout=0.4, memory_mb=1024)
    async with await start(text_source, handler=slow, config=config) as box:
        result = await box.run("print(llm_query('think hard'))\nprint(llm_query('again'))")
    assert not result.timed_out and result.stdout == "done\ndone\n"
    assert result.seconds < 0.4


@pytest.mark.parametrize("code, crash", [
    ("import os\nos._exit(1)", "exit code 1"),
    ("import ctypes\nctypes.string_at(0)", "killed by signal SIGSEGV"),
])
async def test_a_dying_worker_is_restarted_and_the_host_lives(text_source, code, crash):
    async with await start(text_source) as box:
        await box.run("x = 1")
        died = await box.run(code)
        after = await box.run("print(context.split()[-1], 'x' in globals())")
    assert died.restarted and died.crash == crash and not died.timed_out
    assert after.stdout == "42 False\n" and not after.restarted


async def test_garbage_on_the_channel_restarts_the_worker(text_source):
    async with await start(text_source) as box:
        # The worker's argv names its channel's fd.
        broke = await box.run("import os, sys, time\n"
                              "os.write(int(sys.argv[1]), b'not a frame of ours')\ntime.sleep(5)")
        after = await box.run("print(context[:3])")
    assert broke.restarted and broke.crash.startswith("the worker broke its protocol")
    assert after.stdout == "the\n"


async def test_a_worker_killed_while_idle_is_restarted_before_the_next_action(text_source):
    async with await start(text_source) as box:
        await box.run("import os, signal\nos.kill(os.getpid(), signal.SIGTERM)")
        result = await box.run("print(context[:3])")
    assert result.stdout == "the\n" and result.error is None


async def test_calls_in_flight_are_cancelled_when_the_worker_dies(text_source, tmp_path):
    started, cancelled = asyncio.Event(), asyncio.Event()
    flag = tmp_path / "call-arrived"

    async def hangs(op, payload):
        started.set()
        Path(payload["prompt"]).touch()  # tells the code its call reached the host
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    code = ("import threading, time, os\n"
            f"threading.Thread(target=llm_query, args=({str(flag)!r},), daemon=True).start()\n"
            f"while not os.path.exists({str(flag)!r}):\n    time.sleep(0.01)\n"
            "os._exit(3)")
    async with await start(text_source, handler=hangs) as box:
        result = await box.run(code)
        await asyncio.wait_for(cancelled.wait(), 5)
    assert started.is_set() and result.crash == "exit code 3" and result.restarted


async def test_printing_100_mb_gives_a_bounded_result(text_source):
    config = SandboxConfig(action_timeout=30, memory_mb=2048, max_output_chars=1000)
    code = ("print('H' * 600, end='')\n"
            "for _ in range(100):\n    print('x' * 1_000_000, end='')\n"
            "print('T' * 600, end='')\n"
            "import sys\n_ = sys.stderr.write('e' * 5000)")
    async with await start(text_source, config=config) as box:
        result = await box.run(code)
    total = 600 + 100_000_000 + 600
    assert result.stdout_cut == total - 1000
    assert result.stdout == ("H" * 500 + f"\n... [{total - 1000:,} characters cut] ...\n"
                             + "T" * 500)
    assert result.stderr == "e" * 500 + "\n... [4,000 characters cut] ...\n" + "e" * 500
    assert result.stderr_cut == 4000


async def test_output_written_to_raw_fds_stays_out_of_the_protocol(text_source):
    async with await start(text_source) as box:
        result = await box.run("import os\nos.write(1, b'raw stdout\\n')\n"
                               "os.write(2, b'raw stderr\\n')\nprint('captured')")
        after = await box.run("print('still fine')")
        await asyncio.sleep(0.1)
        log = box.log
    assert result.stdout == "captured\n" and after.stdout == "still fine\n"
    assert "raw stdout" in log and "raw stderr" in log


async def test_a_stream_kept_from_an_earlier_action_still_shows(text_source):
    async with await start(text_source) as box:
        await box.run("import logging, sys\nlog = logging.getLogger('t')\n"
                      "log.addHandler(logging.StreamHandler(sys.stdout))\nout = sys.stdout")
        result = await box.run("log.warning('from a handler')\n_ = out.write('kept stream\\n')")
    assert result.stdout == "from a handler\nkept stream\n"


async def test_no_secret_reaches_the_worker(text_source, monkeypatch):
    monkeypatch.setenv("GROQ_API_KEY", "sk-test-123")
    monkeypatch.setenv("SOME_PROXY_URL", "https://user:sk-test-123@proxy.example")
    monkeypatch.setenv("MY_AUTH_HEADER", "Bearer abcdef")
    monkeypatch.setenv("HARMLESS_SETTING", "kept")
    code = ("import os\nenv = open('/proc/self/environ', 'rb').read().decode()\n"
            "print(sorted(k for k in os.environ if k in "
            "('GROQ_API_KEY', 'SOME_PROXY_URL', 'MY_AUTH_HEADER', 'HARMLESS_SETTING')))\n"
            "print('sk-test-123' in env, 'GROQ' in env, 'abcdef' in env)")
    # Scrubbing must hold without file confinement too (with it, /proc is out of reach).
    unconfined = dataclasses.replace(FAST, confine_files=False)
    async with await start(text_source, config=unconfined) as box:
        result = await box.run(code)
    assert result.stdout == "['HARMLESS_SETTING']\nFalse False False\n"


async def test_a_memory_limit_gives_memory_error_and_the_worker_lives_on(text_source):
    config = SandboxConfig(action_timeout=30, memory_mb=256)
    async with await start(text_source, config=config) as box:
        await box.run("x = 1")
        big = await box.run("data = bytearray(1024 * 1024 * 1024)")
        grow = await box.run("chunks = []\nwhile True:\n    chunks.append(bytearray(10**7))")
        after = await box.run("del chunks\nprint(x)")
    assert big.error.endswith("MemoryError") and not big.restarted
    assert grow.error.endswith("MemoryError") or grow.restarted
    assert after.stdout == "1\n" or grow.restarted


async def test_a_context_larger_than_the_memory_limit_is_a_sandbox_error(tmp_path):
    source = prepare_context("x" * (64 << 20), tmp_path)
    with pytest.raises(SandboxError, match="memory limit: raise SandboxConfig.memory_mb"):
        await start(source, config=SandboxConfig(memory_mb=32))


async def test_cancelling_run_kills_the_worker_and_cancels_its_calls(text_source):
    entered, cancelled = asyncio.Event(), asyncio.Event()

    async def hangs(op, payload):
        entered.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with await start(text_source, handler=hangs) as box:
        await box.run("x = 1")
        pid = box.pid
        task = asyncio.create_task(box.run("llm_query('forever')"))
        await asyncio.wait_for(entered.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert cancelled.is_set() and box.pid == 0
        after = await box.run("print('x' in globals(), context[:3])")
    assert after.restarted and after.stdout == "False the\n" and pid != box.pid


async def test_a_closed_sandbox_refuses_to_run(text_source):
    box = await start(text_source)
    await box.close()
    await box.close()  # idempotent
    with pytest.raises(SandboxError, match="closed"):
        await box.run("x = 1")


@pytest.fixture
def listener():
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def serve():
        try:
            while True:
                accepted.append(server.accept()[0])
        except OSError:
            pass

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1], accepted
    server.close()
    for conn in accepted:
        conn.close()


CONNECT = ("import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=3)"
           ".close()\n    print('connected')\nexcept OSError as exc:\n    print('refused')")


async def test_network_is_refused_by_default(text_source, listener):
    port, accepted = listener
    async with await start(text_source) as box:
        result = await box.run(CONNECT.format(port=port))
    assert box.network in ("namespace", "guard")
    assert result.stdout == "refused\n" and not accepted


async def test_network_works_when_allowed(text_source, listener):
    port, _ = listener
    config = SandboxConfig(allow_network=True, memory_mb=1024)
    async with await start(text_source, config=config) as box:
        result = await box.run(CONNECT.format(port=port))
    assert box.network == "allowed" and result.stdout == "connected\n"


def test_the_python_guard_refuses_ip_sockets_but_not_unix_ones(listener):
    port, accepted = listener
    code = ("from rlm.sandbox import netguard\nimport socket\nnetguard.install_guard()\n"
            "a, b = socket.socketpair(); a.sendall(b'ok'); print(b.recv(2).decode())\n"
            f"for make in (lambda: socket.create_connection(('127.0.0.1', {port})),\n"
            f"             lambda: socket.socket().connect(('127.0.0.1', {port})),\n"
            "             lambda: socket.getaddrinfo('localhost', 80)):\n"
            "    try:\n        make(); print('connected')\n"
            "    except PermissionError as exc:\n        print('refused')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=30, check=False)
    assert out.stdout == "ok\nrefused\nrefused\nrefused\n", out.stderr
    assert not accepted
