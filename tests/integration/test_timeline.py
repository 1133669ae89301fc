"""``evd timeline``: who held each GPU, drawn from the daemon's records, and the planned starts."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from tests.conftest import Evd, wait_for
from tests.helpers import fake_gpus, show, submit

JOB = ("--name", "step", "--gpus", "1", "--", "sleep", "2")


def test_the_timeline_shows_past_running_and_planned_holds_per_gpu(evd_env: Evd) -> None:
    fake_gpus(evd_env, 1)
    evd_env.up()
    evd = evd_env
    cpu = submit(evd, "--name", "tally", "--", "true")
    past = submit(evd, *JOB)  # its history makes the next ones' estimates
    assert evd.cli("wait", cpu, past, timeout=60).returncode == 0
    running = submit(evd, *JOB)
    wait_for(lambda: show(evd, running)["state"] == "running", timeout=60)
    planned = submit(evd, *JOB)
    waiting = show(evd, planned)
    assert waiting["expected_start"] is not None
    assert f"on GPU 0, when run {running} ends (estimated)" in waiting["reason"]

    data = json.loads(evd.cli("timeline", "--since", "1h", "--json", check=True).stdout)
    rows = {row["label"]: row for row in data["rows"]}
    assert list(rows) == ["GPU 0", "CPU only"]
    on_gpu = {(s["run_id"], s["kind"]) for s in rows["GPU 0"]["spans"]}
    assert {(int(past), "ran"), (int(running), "running"), (int(planned), "planned")} <= on_gpu
    assert (int(cpu), "ran") in {(s["run_id"], s["kind"]) for s in rows["CPU only"]["spans"]}

    wide = {**evd.env, "COLUMNS": "120"}
    drawn = evd.cli("timeline", "--since", "10m", check=True, env=wide).stdout
    lines = drawn.splitlines()
    cpu_lane = next(i for i, line in enumerate(lines) if line.startswith("CPU only"))
    assert lines[1].startswith("GPU 0") and "░" in "".join(lines[1:cpu_lane])  # GPU 0's lanes
    assert "│" in lines[cpu_lane] and "planned" in lines[-1]

    picture = evd.home / "timeline.svg"
    evd.cli("timeline", "--svg", str(picture), check=True)
    assert ET.parse(picture).getroot().tag == "{http://www.w3.org/2000/svg}svg"
    evd.cli("cancel", running, planned, check=True)
    bad = evd.cli("timeline", "--since", "soon")
    assert bad.returncode == 2 and "soon" in bad.stderr
    short = evd.cli("timeline", "--since", "10s")
    assert short.returncode == 2 and "1m to 7d" in short.stderr
