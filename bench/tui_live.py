"""The TUI against its floors: first paint with 100,000 runs in history, and live delay.

1. Start to first paint: ``evd tui`` started in a real terminal (tmux) until the
   screen shows the newest run, with 100,000 runs in the store (goal < 1 s);
   against the bare interpreter start and against an import of Textual.
2. State change to app: the daemon records a run's state change (its event
   time) until the app has applied it to the runs table (goal < 100 ms);
   against a bare client reading the same events stream.

Numbers vary with the machine; the ratios are what to compare.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from evd.client import Client
from evd.models import RunState, SubmitRequest, parse_iso
from evd.paths import StateDir
from evd.store.store import Store
from tui.app import EvdApp
from tui.backend import daemon_backend
from tui.messages import RunChanged

HISTORY = int(os.environ.get("EVD_BENCH_HISTORY", "100000"))
PAINT_SAMPLES = 5
CHANGES = 40  # runs submitted for the live-delay measure (each gives two state changes)


def fill_history(state: StateDir, count: int) -> None:
    """``count`` finished runs, written straight into a fresh store (no daemon yet)."""
    store = Store(state.database)
    now = time.time() - count
    for index in range(count):
        run_id, _ = store.insert_run(
            name=f"history-{index}", command=["python", "train.py", str(index)], cwd="/",
            env=None, priority=0, timeout=None, now=now + index, reason=None,
        )  # fmt: skip
        store.transition(run_id, RunState.RUNNING, None, now + index, started_at=now + index)
        store.transition(run_id, RunState.SUCCEEDED, None, now + index + 0.5,
                         ended_at=now + index + 0.5, exit_code=0)  # fmt: skip
        if index % 10_000 == 9_999:
            store.commit()
    store.close()


def paint_once(env: dict[str, str], newest: str, sample: int) -> float:
    """Seconds from starting ``evd tui`` in tmux until its screen shows ``newest``."""
    # A server of its own per sample: the last one may still be exiting on its socket.
    socket = f"evd-bench-{os.getpid()}-{sample}"
    variables = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    command = f"env {variables} {shlex.quote(sys.executable)} -m evd tui"
    tmux = ["tmux", "-L", socket]
    start = time.perf_counter()
    opened = subprocess.run([*tmux, "new-session", "-d", "-s", "b", "-x", "140", "-y", "40",
                             command], capture_output=True, text=True, check=False)  # fmt: skip
    if opened.returncode != 0:
        raise RuntimeError(f"tmux could not start evd tui: {opened.stderr}")
    try:
        while True:
            screen = subprocess.run([*tmux, "capture-pane", "-p", "-t", "b"],
                                    capture_output=True, text=True, check=False).stdout  # fmt: skip
            if newest in screen:
                return time.perf_counter() - start
            if time.perf_counter() - start > 30:
                raise RuntimeError(f"evd tui did not show {newest} in 30 s:\n{screen}")
            time.sleep(0.005)
    finally:
        subprocess.run([*tmux, "kill-server"], check=False)


def floor_start(code: str) -> float:
    """Seconds for the interpreter to start and run ``code``."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - start


def live_delays(state: StateDir) -> tuple[list[float], list[float]]:
    """Delays (s) from each recorded state change to the app, and to a bare stream reader."""
    seen_app: dict[tuple[int, str], float] = {}
    seen_raw: dict[tuple[int, str], float] = {}

    class TimedApp(EvdApp):
        def on_run_changed(self, message: RunChanged) -> None:
            super().on_run_changed(message)  # applied to the table: now it is on screen
            seen_app.setdefault((message.run.id, message.run.state.value), time.time())

    def read_raw() -> None:
        with Client(state, timeout=None) as client:
            for event in client.events():
                seen_raw.setdefault((event["run_id"], event["state"]), time.time())

    threading.Thread(target=read_raw, daemon=True).start()
    app = TimedApp(daemon_backend(state))
    ids: list[int] = []

    async def drive() -> None:
        async with app.run_test(size=(140, 40)) as pilot:
            while not app.connected:
                await pilot.pause(0.01)
            with Client(state) as client:
                for _ in range(CHANGES):
                    run = await asyncio.to_thread(
                        client.submit, SubmitRequest(command=["sleep", "0.05"], cwd="/")
                    )
                    ids.append(run.id)
                    await asyncio.to_thread(client.wait, run.id)
            await pilot.pause(0.3)

    asyncio.run(drive())
    app_delays, raw_delays = [], []
    with Client(state) as client:
        for run_id in ids:
            for event in client.get_run(run_id).events or []:
                key = (run_id, event.state.value)
                if event.state in (RunState.RUNNING, RunState.SUCCEEDED) and key in seen_app:
                    app_delays.append(seen_app[key] - parse_iso(event.at))
                    if key in seen_raw:
                        raw_delays.append(seen_raw[key] - parse_iso(event.at))
    return app_delays, raw_delays


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def main() -> None:
    if shutil.which("tmux") is None:
        sys.exit("bench/tui_live.py needs tmux to measure a real terminal's first paint")
    home = Path(tempfile.mkdtemp(prefix="evd-bench-tui-"))
    state = StateDir(home)
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TERM")}
    env["EVD_HOME"] = str(home)
    started = time.perf_counter()
    fill_history(state, HISTORY)
    print(f"history: {HISTORY:,} runs written in {time.perf_counter() - started:.1f} s")
    subprocess.run([sys.executable, "-m", "evd", "up"], env={**os.environ, **env}, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    try:
        newest = f"history-{HISTORY - 1}"
        paints = [paint_once(env, newest, sample) for sample in range(PAINT_SAMPLES)]
        bare = statistics.median(floor_start("pass") for _ in range(PAINT_SAMPLES))
        textual = statistics.median(floor_start("import textual.app") for _ in range(3))
        paint = statistics.median(paints)
        print(f"start to first paint ({HISTORY:,} runs): median {ms(paint)}"
              f" (best {ms(min(paints))}, worst {ms(max(paints))}; goal < 1000 ms)")  # fmt: skip
        print(
            f"  floors: interpreter start {ms(bare)} ({paint / bare:.1f}x),"
            f" interpreter + import textual.app {ms(textual)} ({paint / textual:.1f}x)"
        )

        app_delays, raw_delays = live_delays(state)
        app_median = statistics.median(app_delays)
        app_p95 = sorted(app_delays)[int(len(app_delays) * 0.95) - 1]
        raw_median = statistics.median(raw_delays)
        print(f"state change to app ({len(app_delays)} changes): median {ms(app_median)},"
              f" p95 {ms(app_p95)} (goal < 100 ms)")  # fmt: skip
        print(
            f"  floor: a bare client on the events stream {ms(raw_median)}"
            f" ({app_median / raw_median:.1f}x)"
        )
    finally:
        subprocess.run([sys.executable, "-m", "evd", "down"], env={**os.environ, **env},
                       check=False, stdout=subprocess.DEVNULL)  # fmt: skip
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
