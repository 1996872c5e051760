"""The throwaway venv holding the official ``rlms``, outside this repository.

``ensure_venv()`` creates it on first use with ``uv venv`` + ``uv pip install rlms==0.1.3``
(from the package registry) and returns its python. Nothing of it enters this project.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

RLMS_VERSION = "0.1.3"
VERSION_PROBE = "import importlib.metadata as m; print(m.version('rlms'))"
DEFAULT_VENV = Path(os.environ.get("RLM_BENCH_THEIRS_VENV", "/tmp/rlm-bench-theirs/venv"))


def python_of(venv: Path = DEFAULT_VENV) -> Path:
    return venv / "bin" / "python"


def installed(venv: Path = DEFAULT_VENV) -> bool:
    python = python_of(venv)
    if not python.exists():
        return False
    probe = subprocess.run([str(python), "-c", VERSION_PROBE], capture_output=True, text=True,
                           cwd="/tmp", check=False)
    return probe.returncode == 0 and probe.stdout.strip() == RLMS_VERSION


def ensure_venv(venv: Path = DEFAULT_VENV) -> Path:
    """Create the venv with ``rlms`` if needed; return its python."""
    if not installed(venv):
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["uv", "venv", "--python", "3.11", str(venv)], check=True, cwd="/tmp")
        env = {**os.environ, "VIRTUAL_ENV": str(venv)}
        subprocess.run(["uv", "pip", "install", f"rlms=={RLMS_VERSION}"], check=True,
                       cwd="/tmp", env=env)
    return python_of(venv)
