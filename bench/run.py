"""evd's hot path against its physical floor, printed as ratios.

Measures, from one run of a fresh daemon in a temp state dir:

1. submit-to-start latency of a no-op job (the job records when it started)
   against spawning the same command directly;
2. throughput of 500 no-op jobs at parallelism 2 against ``xargs -P2``
   (and task-spooler, if ``tsp`` is installed);
3. the CLI's wall time for ``evd run -q -- true`` against bare interpreter start;
4. the shim's cost over a direct spawn;
5. the daemon's RSS, idle and after 10,000 runs, and its CPU while idle.

Numbers vary with the machine; the ratios are what to compare.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from evd.client import Client
from evd.models import RunState, SubmitRequest
from evd.paths import StateDir
from evd.runner.spawn import spawn

LATENCY_SAMPLES = 60
THROUGHPUT_JOBS = 500
RSS_AFTER_RUNS = 10_000  # the footprint goal holds after this many runs
CLI_SAMPLES = 20
STAMP = ["date", "+%s.%N"]  # the job prints the moment it started


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def floor_latency() -> float:
    start = time.time()
    output = subprocess.run(STAMP, capture_output=True, text=True, check=True).stdout
    return float(output) - start


def evd_latency(client: Client) -> float:
    start = time.time()
    run = client.submit(SubmitRequest(command=STAMP, cwd="/"))
    final = client.wait(run.id)
    assert final.state is RunState.SUCCEEDED, final
    return float(Path(final.log_path).read_text()) - start


def evd_throughput(client: Client, jobs: int) -> float:
    start = time.monotonic()
    ids = [client.submit(SubmitRequest(command=["true"], cwd="/")).id for _ in range(jobs)]
    client.wait(ids[-1])
    while active := client.list_runs(states=[RunState.QUEUED, RunState.RUNNING]):
        client.wait(active[0].id)
    elapsed = time.monotonic() - start
    finished = client.list_runs(limit=jobs)
    assert all(run.state is RunState.SUCCEEDED for run in finished), "a no-op job failed"
    return jobs / elapsed


def top_up(client: Client, total: int) -> None:
    """Run no-op jobs until the daemon has run ``total`` in all (its footprint's workload)."""
    while (done := client.list_runs(limit=1)[0].id) < total:
        ids = [
            client.submit(SubmitRequest(command=["true"], cwd="/")).id
            for _ in range(min(500, total - done))
        ]
        client.wait(ids[-1])
    while active := client.list_runs(states=[RunState.QUEUED, RunState.RUNNING]):
        client.wait(active[0].id)


def xargs_throughput(jobs: int) -> float:
    start = time.monotonic()
    subprocess.run(["xargs", "-P2", "-n1", "true"], input="x\n" * jobs, text=True, check=True)
    return jobs / (time.monotonic() - start)


@dataclass
class TaskSpooler:
    """task-spooler, measured the same way, when ``tsp`` is installed."""

    latency_ms: float
    rate: float
    cli_ms: float


def task_spooler(jobs: int) -> TaskSpooler | None:
    tsp = shutil.which("tsp") or shutil.which("ts")
    if tsp is None:
        return None
    # tsp's server may still be writing output files as the folder goes.
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        env = {**os.environ, "TS_SOCKET": f"{tmp}/ts.sock", "TS_SAVELIST": "", "TMPDIR": tmp}

        def run(*args: str) -> str:
            return subprocess.run(
                [tsp, *args], env=env, capture_output=True, text=True, check=True
            ).stdout

        run("-S", "2")
        latencies = []
        for _ in range(LATENCY_SAMPLES):
            start = time.time()
            job = run(*STAMP).strip()
            run("-w", job)
            latencies.append(float(Path(run("-o", job).strip()).read_text()) - start)
        run("-C")
        begin = time.monotonic()
        for _ in range(jobs):
            run("true")
        run("-w")  # waits for the last job
        rate = jobs / (time.monotonic() - begin)
        cli = cli_wall(env, [tsp, "true"])
        run("-K")
    return TaskSpooler(median_ms(latencies), rate, cli)


def cli_wall(env: dict[str, str], argv: list[str]) -> float:
    samples = []
    for _ in range(CLI_SAMPLES):
        start = time.perf_counter()
        subprocess.run(argv, env=env, capture_output=True, check=True)
        samples.append(time.perf_counter() - start)
    return median_ms(samples)


def shim_cost(tmp: Path) -> tuple[float, float]:
    direct, shimmed = [], []
    for index in range(100):
        start = time.perf_counter()
        os.waitpid(os.posix_spawn("/bin/true", ["true"], os.environ, setsid=True), 0)
        direct.append(time.perf_counter() - start)
        run_dir = tmp / f"shim{index}"
        run_dir.mkdir()
        start = time.perf_counter()
        os.waitpid(spawn(run_dir, "/", ["/bin/true"], dict(os.environ)), 0)
        shimmed.append(time.perf_counter() - start)
    return median_ms(direct), median_ms(shimmed)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


IDLE_SECONDS = 20


def idle_cpu_percent(pid: int) -> float:
    """The daemon's CPU use while nothing runs, over ``IDLE_SECONDS`` (100 = one core)."""

    def cpu_seconds() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    before = cpu_seconds()
    time.sleep(IDLE_SECONDS)
    return 100 * (cpu_seconds() - before) / IDLE_SECONDS


def main() -> None:
    evd_cli = [sys.executable, "-m", "evd"]
    with tempfile.TemporaryDirectory(prefix="evd-bench-") as tmp:
        home = Path(tmp) / "home"
        env = {**os.environ, "EVD_HOME": str(home)}
        subprocess.run(
            [*evd_cli, "up", "--parallel", "2"], env=env, check=True, capture_output=True
        )
        try:
            client = Client(StateDir(home))
            pid = client.health().pid
            idle_rss = rss_mib(pid)

            for _ in range(5):  # warm up both paths
                evd_latency(client)
                floor_latency()
            ours, floor = [], []
            for _ in range(LATENCY_SAMPLES):
                ours.append(evd_latency(client))
                floor.append(floor_latency())
            lat, lat_floor = median_ms(ours), median_ms(floor)

            evd_rate = evd_throughput(client, THROUGHPUT_JOBS)
            xargs_rate = xargs_throughput(THROUGHPUT_JOBS)
            tsp = task_spooler(THROUGHPUT_JOBS)

            console_script = str(Path(sys.executable).parent / "evd")  # what people run
            cli = cli_wall(env, [console_script, "run", "-q", "--", "true"])
            bare = cli_wall(env, [sys.executable, "-c", "pass"])
            direct, shimmed = shim_cost(Path(tmp))
            top_up(client, RSS_AFTER_RUNS)
            time.sleep(1)
            after_rss = rss_mib(pid)
            idle_cpu = idle_cpu_percent(pid)
        finally:
            subprocess.run([*evd_cli, "down"], env=env, check=False, capture_output=True)

    lines = [
        f"submit-to-start latency (median of {LATENCY_SAMPLES})",
        f"  evd {lat:7.2f} ms   direct spawn {lat_floor:6.2f} ms   ratio {lat / lat_floor:5.1f}x",
        f"  task-spooler {tsp.latency_ms:6.2f} ms   evd/tsp {lat / tsp.latency_ms:5.2f}"
        if tsp
        else "  task-spooler: not installed (apt install task-spooler to compare)",
        f"throughput, {THROUGHPUT_JOBS} no-op jobs at parallelism 2",
        f"  evd {evd_rate:7.0f} jobs/s   xargs -P2 {xargs_rate:6.0f} jobs/s"
        f"   evd is {xargs_rate / evd_rate:4.1f}x slower",
    ]
    if tsp:
        lines.append(
            f"  task-spooler {tsp.rate:6.0f} jobs/s (a `tsp` process per submit)"
            f"   tsp is {tsp.rate / evd_rate:4.2f}x faster"
        )
    lines += [
        f"CLI wall time, `evd run -q -- true` (median of {CLI_SAMPLES})",
        f"  evd {cli:7.1f} ms   `python -c pass` {bare:5.1f} ms   ratio {cli / bare:5.1f}x"
        + (f"   (`tsp true`: {tsp.cli_ms:.1f} ms)" if tsp else ""),
        "shim cost (median of 100 spawns of /bin/true)",
        f"  direct {direct:5.2f} ms   under the shim {shimmed:5.2f} ms"
        f"   adds {shimmed - direct:5.2f} ms",
        f"daemon RSS: {idle_rss:.1f} MiB idle at start, {after_rss:.1f} MiB after"
        f" {RSS_AFTER_RUNS:,} runs (goal 60 MiB)",
        f"daemon CPU while idle: {idle_cpu:.2f} % over {IDLE_SECONDS} s (goal 0.2 %)",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
