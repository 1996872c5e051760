"""File confinement: sandbox code reads its context, its folder and the runtime, and nothing
of the user's unless the user says so. Real workers, real Landlock, no mocks.

These tests run as whatever user runs the suite; as root, file permissions would let every
read through, so a refusal here is Landlock's.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import pytest

from rlm.context import prepare_context
from rlm.errors import ConfigError
from rlm.sandbox import SandboxConfig, SandboxPool, file_confinement
from rlm.sandbox.confine import runtime_paths
from tests.sandbox.helpers import FAST, start

REPO = Path(__file__).resolve().parents[2]
HERE = file_confinement()
pytestmark = pytest.mark.skipif(not HERE.startswith("landlock"),
                                reason=f"this kernel cannot confine files: {HERE}")
SECRET = "aws_secret_access_key = AKIA-NOT-FOR-THE-MODEL-7731"


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A user's home with a credentials file; HOME points at it for host and worker."""
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text(SECRET)
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.fixture
def source(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    return prepare_context("the magic number is 42", run_dir)


def config(**changes) -> SandboxConfig:
    return dataclasses.replace(FAST, **changes)


def attempt(expr: str) -> str:
    """Code that prints what ``expr`` gave, or the name of the error it raised."""
    return (f"try:\n    print(repr({expr}))\n"
            f"except OSError as exc:\n    print(type(exc).__name__)")


async def test_this_machine_confines_with_landlock(source):
    async with await start(source) as box:
        pass
    assert HERE.startswith("landlock (ABI ") and box.files == HERE


async def test_a_secret_in_the_home_cannot_be_read_or_listed(home, source):
    async with await start(source) as box:
        read = await box.run("import os\n" + attempt(
            "open(os.path.expanduser('~/.aws/credentials')).read()"))
        listed = await box.run(attempt(f"os.listdir({str(home)!r})"))
    assert read.stdout == "PermissionError\n" and listed.stdout == "PermissionError\n"
    assert SECRET not in read.stdout + read.stderr + (read.error or "")


async def test_nothing_of_the_project_or_the_working_folder_is_readable(source):
    assert str(REPO) not in runtime_paths()
    async with await start(source) as box:
        result = await box.run("import os\n"
                               + attempt(f"open({str(REPO / 'README.md')!r}).read(10)") + "\n"
                               + attempt(f"os.listdir({os.getcwd()!r})"))
    assert result.stdout == "PermissionError\nPermissionError\n"


async def test_writing_outside_its_folder_fails_and_inside_works(home, source, tmp_path):
    outside = tmp_path / "outside.txt"
    code = ("import os, tempfile\n"
            + attempt(f"open({str(outside)!r}, 'w').write('x')") + "\n"
            + attempt(f"open({str(home / '.bashrc')!r}, 'a').write('evil')") + "\n"
            + attempt(f"os.remove({str(home / '.aws' / 'credentials')!r})") + "\n"
            "with tempfile.NamedTemporaryFile('w', delete=False) as f:\n    f.write('mine')\n"
            "print(os.path.dirname(f.name) == os.getcwd() == tempfile.gettempdir())\n"
            "os.replace(f.name, 'kept.txt'); print(open('kept.txt').read())")
    async with await start(source) as box:
        result = await box.run(code)
    assert result.stdout == "PermissionError\nPermissionError\nPermissionError\nTrue\nmine\n"
    assert not outside.exists() and not (home / ".bashrc").exists()
    assert (home / ".aws" / "credentials").read_text() == SECRET


async def test_programs_the_code_starts_are_confined_too(home, source):
    secret = str(home / ".aws" / "credentials")
    code = ("import subprocess, sys\n"
            f"cat = subprocess.run(['cat', {secret!r}], capture_output=True, text=True)\n"
            "print(cat.returncode != 0, 'Permission denied' in cat.stderr, repr(cat.stdout))\n"
            f"py = subprocess.run([sys.executable, '-c', {f'print(open({secret!r}).read())'!r}],\n"
            "                     capture_output=True, text=True)\n"
            "print(py.returncode != 0, 'PermissionError' in py.stderr)\n"
            "sh = subprocess.run('echo hi > note.txt && cat note.txt', shell=True,\n"
            "                    capture_output=True, text=True)\n"
            "print(repr(sh.stdout))")
    async with await start(source) as box:
        result = await box.run(code)
    assert result.stdout == "True True ''\nTrue True\n'hi\\n'\n"


async def test_the_hosts_environment_is_out_of_reach(source, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-host-only-secret-5521")
    code = ("import os\n" + attempt("open(f'/proc/{os.getppid()}/environ', 'rb').read()"))
    async with await start(source) as box:
        result = await box.run(code)
    assert result.stdout == "PermissionError\n"


async def test_a_context_file_of_the_user_is_read_in_place_but_not_its_neighbours(home):
    notes = home / "notes.txt"
    notes.write_text("only this file")
    source = prepare_context(notes, home)
    assert source.path == notes.resolve()  # used in place, not copied
    async with await start(source) as box:
        result = await box.run("print(context)\n" + attempt(
            f"open({str(home / '.aws' / 'credentials')!r}).read()"))
    assert result.stdout == "only this file\nPermissionError\n"


async def test_an_extra_read_path_is_readable_and_stays_read_only(home, source):
    docs = home / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("shared on purpose")
    async with await start(source, config=config(read_paths=("~/docs",))) as box:
        result = await box.run(
            f"print(open({str(docs / 'a.txt')!r}).read())\n"
            + attempt(f"open({str(docs / 'b.txt')!r}, 'w')") + "\n"
            + attempt(f"open({str(home / '.aws' / 'credentials')!r}).read()"))
    assert result.stdout == "shared on purpose\nPermissionError\nPermissionError\n"
    assert not (docs / "b.txt").exists()


async def test_an_extra_write_path_is_writable(home, source):
    out = home / "out"
    out.mkdir()
    code = (f"import os\nos.makedirs({str(out / 'sub')!r})\n"
            f"open({str(out / 'sub' / 'r.txt')!r}, 'w').write('result')\n"
            f"print(os.listdir({str(out)!r}))")
    async with await start(source, config=config(write_paths=(str(out),))) as box:
        result = await box.run(code)
    assert result.stdout == "['sub']\n"
    assert (out / "sub" / "r.txt").read_text() == "result"


async def test_the_off_switch_turns_it_off(home, source):
    off = config(confine_files=False)
    assert file_confinement(off) == "off (confine_files=False)"
    async with await start(source, config=off) as box:
        result = await box.run(f"print(open({str(home / '.aws' / 'credentials')!r}).read())")
    assert box.files == "off (confine_files=False)"
    assert result.stdout == SECRET + "\n"


async def test_a_path_that_does_not_exist_is_a_clear_error(source, tmp_path):
    missing = str(tmp_path / "nope")
    with pytest.raises(ConfigError, match=r"read_paths names .*nope.*does not exist"):
        await start(source, config=config(read_paths=(missing,)))
    with pytest.raises(ConfigError, match=r"write_paths"):
        await start(source, config=config(write_paths=(missing,)))


async def test_the_code_cannot_signal_the_host(source):
    if int(HERE.split("ABI ")[1].rstrip(")")) < 6:
        pytest.skip("signal scoping needs Landlock ABI 6 (Linux 6.12)")
    async with await start(source) as box:
        result = await box.run("import os\n" + attempt("os.kill(os.getppid(), 0)"))
    assert result.stdout == "PermissionError\n"


async def test_lazy_imports_tempfiles_and_multiprocessing_still_work(source):
    code = ("import json, re, collections, decimal, sqlite3, csv, zoneinfo, ssl, yarl\n"
            "import multiprocessing, tempfile\n"
            "db = sqlite3.connect(tempfile.mktemp(suffix='.db')); db.execute('create table t(x)')\n"
            "with multiprocessing.Pool(2) as pool:\n    print(pool.map(abs, [-1, -2]))\n"
            "print(json.dumps(collections.Counter('aab')), yarl.URL('http://a/b').path)")
    async with await start(source) as box:
        result = await box.run(code)
    assert result.error is None, result.error
    assert result.stdout == '[1, 2]\n{"a": 2, "b": 1} /b\n'


async def test_a_worker_restarted_after_a_timeout_is_confined_again(home, source):
    secret = str(home / ".aws" / "credentials")
    async with await start(source, config=config(action_timeout=0.5)) as box:
        stopped = await box.run("while True:\n    pass")
        after = await box.run("print(context)\n" + attempt(f"open({secret!r}).read()"))
    assert stopped.timed_out and stopped.restarted
    assert after.stdout == "the magic number is 42\nPermissionError\n" and box.files == HERE


async def test_a_warm_worker_is_confined_when_it_gets_its_context(home, source):
    pool = SandboxPool(FAST, warm=1)
    await pool.warm_up()
    try:
        async with await start(source, pool=pool) as box:
            result = await box.run("print(context)\n" + attempt(
                f"open({str(home / '.aws' / 'credentials')!r}).read()"))
    finally:
        await pool.close()
    assert result.stdout == "the magic number is 42\nPermissionError\n" and box.files == HERE


def test_the_runtime_is_allowed_by_its_own_folders_not_their_parents():
    paths = runtime_paths()
    assert any(p.endswith(("site-packages", "dist-packages")) for p in paths)
    assert os.path.realpath(sys.executable) in paths
    for protected in (os.path.expanduser("~"), os.getcwd(), str(REPO)):
        real = os.path.realpath(protected)
        assert not any(real == p or real.startswith(p + os.sep) for p in paths), protected
