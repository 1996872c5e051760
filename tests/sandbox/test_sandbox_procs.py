"""Process hygiene: no process that sandbox code started outlives its run."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from rlm.context import prepare_context
from rlm.sandbox import Sandbox, SandboxConfig, SandboxPool
from rlm.sandbox.process import scrub_env
from rlm.sandbox.procs import MARKER_ENV

CONFIG = SandboxConfig(action_timeout=10.0, memory_mb=1024)
linux_only = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
pytestmark = linux_only


async def nothing(op, payload):
    return ""


def gone(pid: int) -> bool:
    """The process no longer runs, and is not a zombie we left unreaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes().rpartition(b")")[2].split()
    except OSError:
        return True
    zombie, ppid = stat[0] == b"Z", int(stat[1])
    return zombie and ppid != os.getpid()


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_bytes().rpartition(b")")[2].split()[0] != b"Z"
    except OSError:
        return False


def marked(run_id: str) -> list[int]:
    """Live processes whose environment carries this run's marker."""
    found = []
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            env = Path(f"/proc/{name}/environ").read_bytes()
        except OSError:
            continue
        if f"{MARKER_ENV}={run_id}.".encode() in env and not gone(int(name)):
            found.append(int(name))
    return found


@pytest.fixture
def source(tmp_path):
    return prepare_context("context text", tmp_path)


async def pids_from(box: Sandbox, files: str) -> list[int]:
    """Wait until the code's processes wrote their pid files; read them back in the sandbox."""
    result = await box.run(textwrap.dedent(f"""
        import time, os
        deadline = time.time() + 10
        while not all(os.path.exists(f) for f in {files.split()!r}) and time.time() < deadline:
            time.sleep(0.01)
        print(' '.join(open(f).read() for f in {files.split()!r}))
    """))
    return [int(p) for p in result.stdout.split()]


FORKS = textwrap.dedent("""
    import os, time
    def write(name):
        with open(name + '.tmp', 'w') as out:
            out.write(str(os.getpid()))
        os.rename(name + '.tmp', name)
    if os.fork() == 0:              # a plain child that sleeps
        write('child'); time.sleep(600); os._exit(0)
    if os.fork() == 0:              # double fork after setsid: re-parented, own session
        os.setsid()
        if os.fork() == 0:
            write('grandchild'); time.sleep(600); os._exit(0)
        os._exit(0)
    import subprocess               # an exec'd program in a session of its own
    proc = subprocess.Popen(['sleep', '600'], start_new_session=True)
    with open('exec.tmp', 'w') as out:
        out.write(str(proc.pid))
    os.rename('exec.tmp', 'exec')
""")


async def test_close_leaves_no_process_of_a_worker_that_forked(source):
    box = await Sandbox.start(source, config=CONFIG, handler=nothing)
    worker = box.pid
    result = await box.run(FORKS)
    assert result.error is None, result.error
    pids = await pids_from(box, "child grandchild exec")
    assert len(pids) == 3 and all(not gone(pid) for pid in pids)
    await box.close()
    assert all(gone(pid) for pid in [worker, *pids])


async def test_pool_close_sweeps_escaped_processes_of_the_run(source):
    pool = SandboxPool(CONFIG, warm=1)
    await pool.warm_up()
    box = await Sandbox.start(source, config=CONFIG, handler=nothing, pool=pool)
    await box.run(FORKS)
    pids = await pids_from(box, "child grandchild exec")
    assert len(marked(pool.run_id)) >= 5  # the worker, its three, a warm spare
    await box.close()  # kills the group now; the rest finishes in the background
    await pool.close()
    assert all(gone(pid) for pid in pids)
    assert marked(pool.run_id) == []


async def test_a_timeout_kills_what_the_action_started(source):
    config = SandboxConfig(action_timeout=1.0, memory_mb=1024)
    pool = SandboxPool(config, warm=0)
    box = await Sandbox.start(source, config=config, handler=nothing, pool=pool)
    code = FORKS + textwrap.dedent("""
        while not all(os.path.exists(f) for f in ('child', 'grandchild')):
            time.sleep(0.01)
        print(open('child').read(), open('grandchild').read(), open('exec').read())
        while True:
            pass
    """)
    result = await box.run(code)
    pids = [int(p) for p in result.stdout.split()]
    assert result.timed_out and len(pids) == 3
    await pool.close()  # waits for the background teardown of the timed-out worker
    assert all(gone(pid) for pid in pids)
    await box.close()


async def test_cancel_leaves_no_process(source):
    pool = SandboxPool(CONFIG, warm=0)
    box = await Sandbox.start(source, config=CONFIG, handler=nothing, pool=pool)
    worker = box.pid
    task = asyncio.create_task(box.run(FORKS + "time.sleep(600)"))
    pids = []
    for _ in range(500):  # the pid files appear in the worker's folder
        await asyncio.sleep(0.01)
        folder = Path(f"/proc/{worker}/cwd")
        if all((folder / f).exists() for f in ("child", "grandchild", "exec")):
            pids = [int((folder / f).read_text()) for f in ("child", "grandchild", "exec")]
            break
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await box.close()
    await pool.close()
    assert len(pids) == 3 and all(gone(pid) for pid in [worker, *pids])


async def test_a_fork_that_returns_into_the_worker_does_not_answer(source):
    async with await Sandbox.start(source, config=CONFIG, handler=nothing) as box:
        result = await box.run("import os\npid = os.fork()\nprint('parent' if pid else 'child')")
        after = await box.run("print('next')")
    assert result.stdout == "parent\n" and after.stdout == "next\n"


async def test_a_warm_worker_is_used_and_replaced(source):
    pool = SandboxPool(CONFIG, warm=1)
    await pool.warm_up()
    warm = pool._spare[0].result().pid
    box = await Sandbox.start(source, config=CONFIG, handler=nothing, pool=pool)
    assert box.pid == warm
    await pool.warm_up()
    spare = pool._spare[0].result().pid
    assert spare != warm and not gone(spare)
    await box.close()
    await pool.close()
    assert gone(warm) and gone(spare)


async def test_the_sweep_leaves_other_processes_alone(source):
    bystander = await asyncio.create_subprocess_exec("sleep", "600", start_new_session=True)
    try:
        pool = SandboxPool(CONFIG, warm=1)
        box = await Sandbox.start(source, config=CONFIG, handler=nothing, pool=pool)
        await box.run(FORKS)
        await box.close()
        await pool.close()
        assert bystander.returncode is None and running(bystander.pid)
    finally:
        bystander.kill()
        assert await bystander.wait() == -signal.SIGKILL  # its exit code was not stolen


HOST = textwrap.dedent("""
    import asyncio, sys
    from pathlib import Path
    from rlm.context import prepare_context
    from rlm.sandbox import Sandbox, SandboxConfig

    async def main():
        source = prepare_context('x', Path(sys.argv[1]))
        box = await Sandbox.start(source, config=SandboxConfig(), handler=None)
        print(box.pid, flush=True)
        await asyncio.sleep(600)

    asyncio.run(main())
""")


def test_a_worker_dies_with_its_host(tmp_path):
    host = subprocess.Popen([sys.executable, "-c", HOST, str(tmp_path)], stdout=subprocess.PIPE,
                            text=True)
    try:
        worker = int(host.stdout.readline())
        assert not gone(worker)
        folder = Path(f"/proc/{worker}/cwd").resolve()  # a killed host cannot remove it
    finally:
        host.kill()
        host.wait()
    deadline = time.monotonic() + 10
    while running(worker) and time.monotonic() < deadline:
        time.sleep(0.01)
    # Killed by the kernel (PDEATHSIG). Its zombie belongs to whoever adopted it: this test
    # process, if an earlier test made it a subreaper.
    assert not running(worker)
    if not gone(worker):  # adopted by this process: reap it, it is ours now
        os.waitpid(worker, 0)
    shutil.rmtree(folder, ignore_errors=True)


def test_the_environment_is_scrubbed_of_secrets_by_name_and_value():
    env = {"GROQ_API_KEY": "sk-test-123", "OPENAI_API_KEY": "sk-other-456", "GH_TOKEN": "gh",
           "DB_PASSWORD": "hunter22", "AWS_SECRET_ACCESS_KEY": "abc", "AUTH_HEADER": "x",
           "GOOGLE_APPLICATION_CREDENTIALS": "/k.json", "PROXY": "http://u:sk-test-123@h",
           "PATH": "/usr/bin", "HOME": "/root", "PYTHONINSPECT": "1"}
    assert scrub_env(env) == {"PATH": "/usr/bin", "HOME": "/root"}
