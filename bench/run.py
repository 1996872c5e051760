"""The bench runner: every scenario, this engine and the official ``rlms``, alternating.

    uv run python bench/run.py                      # the full run (minutes; machine quiet)
    uv run python bench/run.py --quick --reps 1     # a quick look (tiny sizes)
    uv run python bench/run.py --only fixed,turns --variants ours,ours-fast,theirs

One bench server (``bench/server.py``, its own process, 127.0.0.1, stops by itself) serves
every run. For each scenario, each repetition starts one driver process per variant, in an
order that rotates every repetition, so the variants of one repetition ran side by side on
the same machine state: the ratio ours / theirs is taken within each repetition, then its
median reported. Results go to stdout as a Markdown table and to ``--out`` as JSON.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import procmem
import report
import scenarios as sc
from theirs import venv as theirs_venv

DRIVER_TIMEOUT = 600.0
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
SCRUB = ("RLM_", "OPENAI_", "OLLAMA_", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


class Server:
    """The bench server as a child process; stops by itself after ``lifetime``."""

    def __init__(self, latency: float, lifetime: float, log: Path | None = None,
                 slots: int = 0):
        args = [sys.executable, str(HERE / "server.py"), "--latency", str(latency),
                "--lifetime", str(lifetime), "--slots", str(slots)]
        if log:
            args += ["--log", str(log)]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.proc.kill()
            raise RuntimeError(f"bench server did not start: {line!r}")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"

    def get(self, path: str):
        with OPENER.open(self.url + path, timeout=30) as reply:
            return json.loads(reply.read())

    def log_size(self) -> int:
        return len(self.get("/_log"))

    def close(self) -> None:
        try:
            with OPENER.open(urllib.request.Request(self.url + "/_quit", data=b"{}"),
                             timeout=5):
                pass
        except OSError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def driver_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(SCRUB)}
    env.update({"OPENAI_API_KEY": "bench-dummy-key", "NO_PROXY": "127.0.0.1,localhost",
                "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    return env


def driver_command(variant: str, spec_path: str, theirs_python: Path | None,
                   base: Path | None = None):
    if variant == "theirs":
        return ([str(theirs_python), str(HERE / "theirs" / "drive_theirs.py"), spec_path],
                str(theirs_venv.DEFAULT_VENV.parent))
    if variant.startswith("base"):  # the same driver in another checkout, with its own venv
        if base is None:
            raise SystemExit(f"variant {variant!r} needs --base CHECKOUT")
        return ([str(base / ".venv" / "bin" / "python"), str(base / "bench" / "drive_ours.py"),
                 spec_path], str(base))
    return [sys.executable, str(HERE / "drive_ours.py"), spec_path], str(REPO)


def run_driver(scenario: sc.Scenario, variant: str, server: Server, latency: float,
               theirs_python: Path | None, base: Path | None = None) -> dict:
    """Start one driver process, sample its memory, return its figures (or an error)."""
    spec = scenario.spec(variant, server.url)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(spec, f)
    since = server.log_size()
    command, cwd = driver_command(variant, f.name, theirs_python, base)
    popen = time.monotonic()
    proc = subprocess.Popen(command, cwd=cwd, env=driver_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    sampler = procmem.Sampler(proc.pid).start() if scenario.sample_memory else None
    try:
        out, err = proc.communicate(timeout=DRIVER_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    finally:
        samples = sampler.stop() if sampler else []
        os.unlink(f.name)
    result = next((json.loads(line[7:]) for line in reversed(out.splitlines())
                   if line.startswith("RESULT ")), None)
    if result is None:
        return {"error": (err or out).strip()[-1500:] or f"exit code {proc.returncode}"}
    obs = sc.Observed(log=server.get(f"/_log?since={since}"), runs=result["runs"],
                      popen=popen, t_main=result["t_main"], samples=samples,
                      root_pid=proc.pid, latency=latency)
    try:
        return scenario.measure(obs)
    except Exception as exc:  # a broken run must not stop the others
        return {"error": f"measure failed: {exc!r}"}


def time_command(command: list[str]) -> float:
    start = time.monotonic()
    subprocess.run(command, cwd=str(REPO), env=driver_env(), capture_output=True, timeout=60,
                   check=False)
    return time.monotonic() - start


def run_extras(reps: int, server: Server, results: dict) -> None:
    """Ours-only figures: ``rlm --help``, the model layer floor, the TUI bench if present."""
    rlm_bin = str(Path(sys.executable).parent / "rlm")
    results["cli_help"] = {"ours": [{"help_s": time_command([rlm_bin, "--help"])}
                                    for _ in range(reps)]}
    model = subprocess.run([sys.executable, str(HERE / "bench_model.py"), server.url,
                            "--reps", "1"], env=driver_env(), capture_output=True, text=True,
                           timeout=900, check=False)
    results["model_layer"] = {"ours": [_last_json(model.stdout, model.stderr)]}
    tui = HERE / "bench_tui.py"
    if tui.exists():
        run = subprocess.run([sys.executable, str(tui), "--runs", str(reps)], cwd=str(REPO),
                             env=driver_env(), capture_output=True, text=True, timeout=900,
                             check=False)
        results["tui"] = {"ours": [tui_figures(run.stdout, run.stderr)]}


TUI_FIGURES = {  # bench_tui.py prints sentences; these are the numbers in them
    "first_frame_s": r"first frame: ([\d.]+) s from process start",
    "first_frame_from_import_s": r"s from process start, ([\d.]+) s from import",
    "bare_textual_first_frame_s": r"same widgets: ([\d.]+) s",
    "first_frame_vs_bare": r"same widgets: .*?; ratio ([\d.]+)",
    "flood_events_per_s": r"events: ([\d,]+) events/s",
    "flood_ui_lag_max_ms": r"flood.*?ms median, ([\d.]+) ms at worst",
    "steady_emit_to_screen_p95_ms": r"p50, ([\d.]+) ms p95",
}


def tui_figures(out: str, err: str) -> dict:
    """The figures of ``bench_tui.py``'s report, or its error."""
    import re

    figures = {}
    for name, pattern in TUI_FIGURES.items():
        found = re.search(pattern, out, re.S)
        if found:
            figures[name] = float(found.group(1).replace(",", ""))
    return figures or {"error": (err or out).strip()[-1500:]}


def _last_json(out: str, err: str) -> dict:
    for line in reversed(out.splitlines()):
        line = line.removeprefix("RESULT ").strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                pass
    return {"error": (err or out).strip()[-1500:]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Bench this engine against rlms.")
    parser.add_argument("--reps", type=int, default=5, help="repetitions (default 5)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, fewer repeats")
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    parser.add_argument("--variants", default="ours,theirs",
                        help="theirs, ours, ours-fast, ours-litellm; +warm adds keep_warm; "
                             "base, base+warm: the engine of the --base checkout")
    parser.add_argument("--base", default="", help="another checkout of this repository "
                        "(with its .venv): the base variants run it, for before/after "
                        "figures in one session")
    parser.add_argument("--latency", type=float, default=sc.LATENCY)
    parser.add_argument("--sizes", default="", help="needle sizes in MB, e.g. 0.5,5,100")
    parser.add_argument("--fanouts", default="", help="fan-out sizes, e.g. 10,100,1000")
    parser.add_argument("--no-extras", action="store_true", help="skip --help/model/TUI")
    parser.add_argument("--out", default="", help="write all figures here (JSON)")
    args = parser.parse_args(argv)

    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    sizes = [float(s) for s in args.sizes.split(",") if s.strip()] or None
    fans = [int(s) for s in args.fanouts.split(",") if s.strip()] or None
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    chosen = [s for s in sc.all_scenarios(args.quick, sizes, fans)
              if not only or s.name in only]
    theirs_python = theirs_venv.ensure_venv() if "theirs" in variants else None
    base = Path(args.base).resolve() if args.base else None
    started = datetime.datetime.now().isoformat(timespec="seconds")
    load_start = os.getloadavg()
    server = Server(args.latency, lifetime=6 * 3600)
    results: dict = {}
    try:
        for scenario in chosen:
            per_variant: dict[str, list[dict]] = {}
            order = [v for v in variants if v in scenario.variants
                     or (v.startswith(("ours", "base")) and "ours" in scenario.variants)]
            for rep in range(args.reps):
                shift = rep % len(order)
                for variant in order[shift:] + order[:shift]:
                    figures = run_driver(scenario, variant, server, args.latency,
                                         theirs_python, base)
                    per_variant.setdefault(variant, []).append(figures)
                    print(f"{scenario.name:>12} {variant:>9} rep {rep + 1}: "
                          f"{report.short(figures)}", file=sys.stderr, flush=True)
            results[scenario.name] = per_variant
        if not args.no_extras and not only:
            run_extras(args.reps, server, results)
    finally:
        server.close()
    meta = {"started": started, "command": " ".join(["bench/run.py", *(argv or sys.argv[1:])]),
            "latency": args.latency, "reps": args.reps, "load_start": load_start,
            "load": os.getloadavg(),
            "titles": {s.name: s.title for s in chosen}}
    if args.out:
        Path(args.out).write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    print(report.markdown(meta, results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
