"""Environments against their floor, printed as ratios (issue: environments).

1. Reusing a warm env: the submit round trip of a job file whose venv exists
   (a plain script, and an ev-style file read before) against submitting a bare
   command; the difference is the daemon's environment work (goal: < 5 ms).
2. A first build of the Daft env (``envs/daft.toml``) by evd against raw
   ``uv venv && uv pip install --compile-bytecode`` of the same packages, both
   from the same warm uv cache (goal: within 10%).
3. ``import daft`` in an evd env against the same import in the raw venv.

Run with ``make bench`` (after ``make bench`` has filled the uv cache once, the
build numbers measure building, not downloading).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from evd.client import Client
from evd.daemon.envs.envmanager import find_uv
from evd.environments import catalog
from evd.environments.pythons import Pythons
from evd.environments.spec import normalize
from evd.models import EnvBuildRequest, RunState, SubmitRequest
from evd.paths import StateDir

SAMPLES = 40
BUILDS = 3
IMPORTS = 7
EV_JOB = """
from evd import Env, Job
job = Job("noop", Env())

@job.main()
def main() -> None:
    pass
"""


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def submit_ms(client: Client, request: SubmitRequest) -> float:
    start = time.perf_counter()
    run = client.submit(request)
    elapsed = time.perf_counter() - start
    assert client.wait(run.id).state is RunState.SUCCEEDED
    return elapsed


def raw_build(
    uv: str, python: str, requirements: list[str], target: Path, env: dict[str, str]
) -> float:
    start = time.perf_counter()
    subprocess.run([uv, "venv", "-q", "--python", python, str(target)], env=env, check=True)
    subprocess.run(
        [uv, "pip", "install", "-q", "--python", str(target / "bin" / "python"),
         "--compile-bytecode", "--link-mode", "hardlink", *requirements],
        env=env,
        check=True,
    )  # fmt: skip
    return time.perf_counter() - start


def import_ms(python: Path) -> float:
    times = []
    for _ in range(IMPORTS):
        start = time.perf_counter()
        subprocess.run(
            [str(python), "-c", "import daft"],
            env={**os.environ, "DO_NOT_TRACK": "1"},
            check=True,
        )
        times.append(time.perf_counter() - start)
    return median_ms(times)


def main() -> None:
    cache = os.environ.get("UV_CACHE_DIR") or str(Path(".cache/uv").resolve())
    with tempfile.TemporaryDirectory(prefix="evd-bench-envs-") as tmp:
        home = Path(tmp) / "home"
        env = {**os.environ, "EVD_HOME": str(home), "UV_CACHE_DIR": cache, "DO_NOT_TRACK": "1"}
        evd = [sys.executable, "-m", "evd"]
        subprocess.run([*evd, "up", "--parallel", "2"], env=env, check=True, capture_output=True)
        try:
            client = Client(StateDir(home), timeout=600)
            script = Path(tmp) / "plain.py"
            script.write_text("pass\n")
            job = Path(tmp) / "job.py"
            job.write_text(EV_JOB)
            kinds = {
                "command": SubmitRequest(command=["true"], cwd=tmp),
                "plain script": SubmitRequest(file=str(script), cwd=tmp),
                "ev-style file": SubmitRequest(file=str(job), cwd=tmp),
            }
            for request in kinds.values():  # build the envs, fill the reader cache
                submit_ms(client, request)
            submit = {
                name: median_ms([submit_ms(client, request) for _ in range(SAMPLES)])
                for name, request in kinds.items()
            }

            fresh = []
            for sample in range(10):  # new source each time: the reader runs
                job.write_text(f"# sample {sample}\n{EV_JOB}")
                fresh.append(submit_ms(client, kinds["ev-style file"]))
            reader = median_ms(fresh)

            daft_settings = catalog.load_file(catalog.find("daft", env))
            requirements = normalize(daft_settings.dependencies or ())
            python = Pythons(env).choose(daft_settings.python).path
            ours, raw = [], []
            info = None
            for attempt in range(BUILDS):
                client.prune_envs()
                start = time.perf_counter()
                info = client.build_env(EnvBuildRequest(environment="daft", cwd=tmp))
                ours.append(time.perf_counter() - start)
                target = Path(tmp) / f"raw-{attempt}"
                raw.append(raw_build(find_uv(), python, requirements, target, env))
                if attempt < BUILDS - 1:
                    shutil.rmtree(target)
            assert info is not None
            evd_import = import_ms(Path(info.path) / "bin" / "python")
            raw_import = import_ms(Path(tmp) / f"raw-{BUILDS - 1}" / "bin" / "python")
        finally:
            subprocess.run([*evd, "down"], env=env, check=False, capture_output=True)

    base = submit["command"]
    lines = [f"submit round trip with a warm env (median of {SAMPLES})"]
    for name, value in submit.items():
        extra = "" if name == "command" else f"   daemon's env work {value - base:5.2f} ms"
        lines.append(f"  {name:14s} {value:6.2f} ms{extra}")
    lines.append(
        f"  a new ev-style file {reader:6.2f} ms   (the declaration reader runs: cached after)"
    )
    lines += [
        f"first build of the Daft env ({', '.join(requirements)}), warm uv cache,"
        f" median of {BUILDS}",
        f"  evd {median_ms(ours):7.0f} ms   raw uv venv + pip install {median_ms(raw):7.0f} ms"
        f"   ratio {statistics.median(ours) / statistics.median(raw):4.2f}",
        f"`import daft` (median of {IMPORTS})",
        f"  evd env {evd_import:6.0f} ms   raw venv with bytecode {raw_import:6.0f} ms"
        f"   ratio {evd_import / raw_import:4.2f}",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
