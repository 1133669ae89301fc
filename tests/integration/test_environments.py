"""Jobs in their own uv-built environments: ev-style files, PEP 723, file:function, plain scripts.

Builds use local wheels only (``offline_evd``: no index), so these tests need no network.
"""

import json
import sqlite3
import textwrap
import threading
from pathlib import Path

import pytest

from evd.environments.pythons import Pythons, own
from tests.conftest import Evd, make_wheel, wait_for

EV_JOB = """
from ev import Env, Job

env = Env().pip_install(["evdtest-pkg==1.0"])
env.environ["GREETING"] = "hello"
job = Job("greeter", env)

@job.main()
def main(times: int = 1, who: str = "world") -> dict:
    import os, sys, evdtest_pkg
    print(os.environ["GREETING"], who, "pkg", evdtest_pkg.VERSION, "python", sys.executable)
    return {"times": times * 2, "who": who}
"""


def write(folder: Path, name: str, source: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    return path


def run(evd: Evd, *args: str) -> dict[str, object]:
    """Submit (-q), wait, and return the run as `evd show --json` prints it."""
    run_id = evd.cli("run", "-q", *args, check=True).stdout.strip()
    evd.cli("wait", "-q", run_id, timeout=120)
    shown: dict[str, object] = json.loads(evd.cli("show", "--json", run_id, check=True).stdout)
    return shown


def log_of(evd: Evd, run: dict[str, object]) -> str:
    return evd.cli("logs", str(run["id"]), check=True).stdout


def states(run: dict[str, object]) -> list[str]:
    events = run["events"]
    assert isinstance(events, list)
    return [event["state"] for event in events]


def test_ev_style_job_runs_isolated_returns_a_result_and_reuses_its_env(
    offline_evd: Evd, tmp_path: Path
) -> None:
    job = write(tmp_path, "greet.py", EV_JOB)
    first = run(offline_evd, str(job), "3", "--who", "evd")
    assert first["state"] == "succeeded", first
    assert first["name"] == "greeter" and first["kind"] == "job"
    assert states(first) == ["queued", "building", "queued", "running", "succeeded"]
    env_hash = first["env_hash"]
    assert isinstance(env_hash, str)
    output = log_of(offline_evd, first)
    assert "hello evd pkg 1.0" in output
    assert f"/envs/{env_hash}/bin/python" in output  # its own venv, not evd's
    result = offline_evd.cli("result", str(first["id"]), check=True).stdout
    assert json.loads(result) == {"times": 6, "who": "evd"}

    second = run(offline_evd, str(job))
    assert second["env_hash"] == env_hash
    assert states(second) == ["queued", "running", "succeeded"]  # no build the second time
    listing = json.loads(offline_evd.cli("envs", "ls", "--json", check=True).stdout)
    entry = next(env for env in listing if env["hash"] == env_hash)
    assert entry["runs"] == 2 and entry["requirements"] == ["evdtest-pkg==1.0"]


def test_concurrent_submits_of_a_new_env_build_it_once(offline_evd: Evd, tmp_path: Path) -> None:
    job = write(tmp_path, "greet.py", EV_JOB)
    ids: list[str] = []

    def submit() -> None:
        ids.append(offline_evd.cli("run", "-q", str(job), check=True).stdout.strip())

    threads = [threading.Thread(target=submit) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    offline_evd.cli("wait", "-q", *ids, timeout=120)
    runs = [json.loads(offline_evd.cli("show", "--json", i).stdout) for i in ids]
    assert all(r["state"] == "succeeded" for r in runs), runs
    building = [e["reason"] for r in runs for e in r["events"] if e["state"] == "building"]
    started_builds = [reason for reason in building if reason.startswith("building environment")]
    assert len(started_builds) == 1, building
    # A submit that arrives once the build is done finds the venv ready: it has no build log.
    logs = [offline_evd.home / "runs" / i / "build.log" for i in ids]
    build_logs = [log.read_text() for log in logs if log.exists()]
    assert sum("uv venv" in text for text in build_logs) == 1
    assert len({r["env_hash"] for r in runs}) == 1  # one env for all three


def test_pep723_script_runs_in_its_declared_env(offline_evd: Evd, tmp_path: Path) -> None:
    script = write(
        tmp_path,
        "script.py",
        """\
        # /// script
        # dependencies = ["evdtest-pkg==2.0"]
        # [tool.evd]
        # environ = { MODE = "pep723" }
        # ///
        import os, sys
        import evdtest_pkg, evdtest_dep
        print(os.environ["MODE"], evdtest_pkg.VERSION, evdtest_dep.VERSION, sys.argv[1:])
        """,
    )
    shown = run(offline_evd, str(script), "a", "--b")
    assert shown["state"] == "succeeded", log_of(offline_evd, shown)
    assert shown["env"] == "pep723" and shown["kind"] == "script"
    assert "pep723 2.0 1.0 ['a', '--b']" in log_of(offline_evd, shown)


def test_pep723_block_as_public_examples_write_it(offline_evd: Evd, tmp_path: Path) -> None:
    """Keys uv accepts and evd has no use for are noted, not refused; [tool.uv] joins the build."""
    script = write(
        tmp_path,
        "example.py",
        """\
        # /// script
        # description = "Read a table with Daft"
        # requires-python = ">=3.12, <3.13"
        # dependencies = ["evdtest-pkg==1.0"]
        # [tool.uv]
        # prerelease = "allow"
        # sources = { evdtest-pkg = { path = "nowhere" } }
        # ///
        import sys
        import evdtest_pkg
        print("version", sys.version_info[:2], evdtest_pkg.VERSION)
        """,
    )
    shown = run(offline_evd, str(script))
    log = log_of(offline_evd, shown)
    assert shown["state"] == "succeeded", log
    assert "version (3, 12) 1.0" in log
    assert "evd ignores description" in log and "evd ignores sources" in log
    build_log = (offline_evd.home / "runs" / str(shown["id"]) / "build.log").read_text()
    assert "--prerelease allow" in build_log


def test_file_function_takes_its_env_from_the_project(offline_evd: Evd, tmp_path: Path) -> None:
    project = tmp_path / "proj"
    write(project, "requirements.txt", "evdtest-pkg==1.0\n")
    tool = write(
        project,
        "tools/tool.py",
        """\
        import evdtest_pkg

        def add(a: int, b: int = 1, label: str = "sum") -> dict:
            return {label: a + b, "pkg": evdtest_pkg.VERSION}

        def never():
            raise SystemExit("must not run")
        """,
    )
    shown = run(offline_evd, f"{tool}:add", "2", "--b", "5", "--label", "total")
    assert shown["state"] == "succeeded", log_of(offline_evd, shown)
    assert shown["kind"] == "function" and shown["env"] == "project"
    assert json.loads(offline_evd.cli("result", str(shown["id"])).stdout) == {
        "total": 7,
        "pkg": "1.0",
    }


def test_a_plain_script_runs_in_the_base_env(offline_evd: Evd, tmp_path: Path) -> None:
    script = write(tmp_path, "plain.py", "import sys\nprint(sys.prefix)\n")
    shown = run(offline_evd, str(script))
    assert shown["state"] == "succeeded" and shown["env"] == "base"
    assert str(offline_evd.home / "envs") in log_of(offline_evd, shown)


def test_an_int_return_is_the_exit_code(offline_evd: Evd, tmp_path: Path) -> None:
    job = write(
        tmp_path,
        "code.py",
        """\
        from evd import Job
        job = Job("coded")

        @job.main()
        def main() -> int:
            return 3
        """,
    )
    shown = run(offline_evd, str(job))
    assert (shown["state"], shown["exit_code"]) == ("failed", 3)
    assert "no result" in offline_evd.cli("result", str(shown["id"])).stderr


def test_the_code_is_snapshotted_at_submit(offline_evd: Evd, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    blockers = [
        offline_evd.cli(
            "run", "-q", "--", "sh", "-c", f"while [ ! -e {gate} ]; do sleep 0.05; done"
        ).stdout.strip()
        for _ in range(2)
    ]
    include = write(tmp_path, "data/words.txt", "before\n")
    job = write(
        tmp_path,
        "snap.py",
        """\
        from evd import Env, Job
        env = Env().include(["data/"])
        job = Job("snap", env)

        @job.main()
        def main() -> str:
            return open("data/words.txt").read().strip() + " " + VERSION

        VERSION = "v1"
        """,
    )
    run_id = offline_evd.cli("run", "-q", str(job), check=True).stdout.strip()
    wait_for(
        lambda: json.loads(offline_evd.cli("show", "--json", run_id).stdout)["state"] == "queued"
    )
    job.write_text(job.read_text().replace('"v1"', '"v2"'))
    include.write_text("after\n")
    gate.touch()
    offline_evd.cli("wait", "-q", run_id, *blockers, timeout=120)
    assert json.loads(offline_evd.cli("result", run_id, check=True).stdout) == "before v1"


def test_volumes_are_named_mounted_and_versioned(offline_evd: Evd, tmp_path: Path) -> None:
    data = tmp_path / "imagenet"
    data.mkdir()
    (data / "a.txt").write_text("x")
    assert offline_evd.cli("volumes", "add", "-q", "imagenet", str(data), check=True).stdout == (
        "imagenet\n"
    )
    job = write(
        tmp_path,
        "vol.py",
        """\
        import os
        from evd import Env, Job
        env = Env()
        images = env.volume("imagenet")
        job = Job("vol", env)

        @job.main()
        def main() -> list:
            out = os.path.join(os.environ["EVD_OUTPUT_DIR"], "listing.txt")
            open(out, "w").write("ok")
            return sorted(os.listdir(images.path))
        """,
    )
    shown = run(offline_evd, str(job))
    assert shown["state"] == "succeeded", log_of(offline_evd, shown)
    assert json.loads(offline_evd.cli("result", str(shown["id"])).stdout) == ["a.txt"]
    (volume,) = shown["volumes"]  # type: ignore[misc]
    assert volume["name"] == "imagenet" and volume["path"] == str(data)
    assert volume["version"].startswith("mtime:")
    assert shown["outputs"] == [{"path": "listing.txt", "size": 2}]
    text = offline_evd.cli("show", str(shown["id"]), check=True).stdout
    assert "volume     imagenet" in text and "listing.txt" in text
    assert "imagenet" in offline_evd.cli("volumes", "ls", check=True).stdout

    offline_evd.cli("volumes", "rm", "imagenet", check=True)
    failed = offline_evd.cli("run", str(job))
    assert failed.returncode != 0
    assert "unknown volume 'imagenet'" in failed.stderr
    assert "evd volumes add imagenet PATH" in failed.stderr


def test_secrets_reach_the_job_and_nothing_else(offline_evd: Evd, tmp_path: Path) -> None:
    secrets = offline_evd.home / "secrets.toml"
    secrets.write_text('FILE_TOKEN = "from-the-file-s3cr3t"\n')
    secrets.chmod(0o600)
    job = write(
        tmp_path,
        "sec.py",
        """\
        import os
        from evd import Env, Job
        env = Env(secrets=["FILE_TOKEN", "SHELL_TOKEN"])
        job = Job("sec", env)

        @job.main()
        def main() -> int:
            ok = os.environ["FILE_TOKEN"].startswith("from-the-file")
            ok = ok and os.environ["SHELL_TOKEN"] == "shell-s3cr3t"
            return 0 if ok else 1
        """,
    )
    offline_evd.env["SHELL_TOKEN"] = "shell-s3cr3t"
    offline_evd.env["FILE_TOKEN"] = "a-shell-copy-s3cr3t"  # the file's value wins
    try:
        shown = run(offline_evd, str(job))
    finally:
        del offline_evd.env["SHELL_TOKEN"], offline_evd.env["FILE_TOKEN"]
    assert shown["state"] == "succeeded", log_of(offline_evd, shown)
    assert "s3cr3t" not in json.dumps(shown)
    assert "s3cr3t" not in offline_evd.cli("show", str(shown["id"])).stdout
    with sqlite3.connect(offline_evd.home / "evd.db") as db:
        dumped = "\n".join(db.iterdump())
    assert "s3cr3t" not in dumped
    assert not (offline_evd.home / "runs" / str(shown["id"]) / "secrets.json").exists()

    missing = offline_evd.cli("run", str(job))
    assert missing.returncode != 0 and "SHELL_TOKEN not found" in missing.stderr
    secrets.chmod(0o644)
    unsafe = offline_evd.cli("run", str(job))
    assert "chmod 600" in unsafe.stderr


def test_envs_prune_keeps_what_active_runs_need(offline_evd: Evd, tmp_path: Path) -> None:
    job = write(tmp_path, "greet.py", EV_JOB)
    done = run(offline_evd, str(job))
    gate = tmp_path / "gate"
    holder = write(
        tmp_path,
        "hold.py",
        f"""\
        # /// script
        # dependencies = ["evdtest-dep==1.0"]
        # ///
        import os, time
        while not os.path.exists({str(gate)!r}):
            time.sleep(0.05)
        """,
    )
    held_id = offline_evd.cli("run", "-q", str(holder), check=True).stdout.strip()
    wait_for(
        lambda: json.loads(offline_evd.cli("show", "--json", held_id).stdout)["state"] == "running",
        timeout=60,
    )
    held = json.loads(offline_evd.cli("show", "--json", held_id).stdout)
    out = offline_evd.cli("envs", "prune", check=True).stdout
    assert str(done["env_hash"]) in out and str(held["env_hash"]) not in out
    assert not (offline_evd.home / "envs" / str(done["env_hash"])).exists()
    assert (offline_evd.home / "envs" / str(held["env_hash"]) / "evd-env.json").exists()
    gate.touch()
    offline_evd.cli("wait", "-q", held_id, timeout=60)
    again = run(offline_evd, str(job))  # a pruned env is simply built again
    assert again["state"] == "succeeded" and "building" in states(again)


def test_named_envs_serve_files_and_commands(offline_evd: Evd, tmp_path: Path) -> None:
    envs = tmp_path / "myenvs"
    write(envs, "tools.toml", 'dependencies = ["evdtest-pkg==1.0"]\n[environ]\nTOOL = "yes"\n')
    offline_evd.env["EVD_ENVS_PATH"] = str(envs)  # read by the CLI's caller only: pass a path
    script = write(tmp_path, "uses.py", "import evdtest_pkg, os\nprint(os.environ['TOOL'])\n")
    by_path = run(offline_evd, "--env", str(envs / "tools.toml"), str(script))
    assert by_path["state"] == "succeeded" and by_path["env"] == "tools"
    assert log_of(offline_evd, by_path).strip() == "yes"
    command = run(offline_evd, "--env", str(envs / "tools.toml"), "--", "python", "-c",
                  "import evdtest_pkg; print(evdtest_pkg.VERSION)")  # fmt: skip
    assert command["state"] == "succeeded" and log_of(offline_evd, command).strip() == "1.0"
    assert command["env_hash"] == by_path["env_hash"]
    unknown = offline_evd.cli("run", "--env", "nope", str(script))
    assert unknown.returncode != 0 and "no environment named 'nope'" in unknown.stderr


def test_envs_build_ahead_of_time(offline_evd: Evd, tmp_path: Path) -> None:
    job = write(tmp_path, "greet.py", EV_JOB)
    out = offline_evd.cli("envs", "build", str(job), check=True, timeout=120).stdout
    assert out.startswith("environment ") and "ready" in out
    shown = run(offline_evd, str(job))
    assert "building" not in states(shown)


def test_a_job_env_that_installs_the_real_ev_sdk_gets_it(
    offline_evd: Evd, tmp_path: Path, wheels: Path
) -> None:
    make_wheel(wheels, "ev-sdk", "9.9", module="ev")  # a stand-in for the real ev-sdk
    job = write(
        tmp_path,
        "real_ev.py",
        """\
        # /// script
        # dependencies = ["ev-sdk==9.9"]
        # ///
        import ev, evd
        print("ev", getattr(ev, "VERSION", "is evd's alias"), "evd", evd.__version__)
        """,
    )
    shown = run(offline_evd, str(job))
    assert shown["state"] == "succeeded", log_of(offline_evd, shown)
    assert log_of(offline_evd, shown).startswith("ev 9.9 evd ")


def test_a_python_off_path_is_found_for_a_version_range(offline_evd: Evd, tmp_path: Path) -> None:
    """Like Daft's own scripts (`requires-python = ">=3.12, <3.13"`): any Python evd finds."""
    others = [p for p in Pythons(offline_evd.env).all() if p.version[:2] != own().version[:2]]
    if not others:
        pytest.skip("this machine has only one Python version")
    wanted = others[0]
    major, minor = wanted.version[:2]
    script = write(
        tmp_path,
        "pinned.py",
        f"""\
        # /// script
        # requires-python = ">={major}.{minor}, <{major}.{minor + 1}"
        # ///
        import sys
        print(".".join(map(str, sys.version_info[:3])))
        """,
    )
    shown = run(offline_evd, str(script))
    assert shown["state"] == "succeeded", log_of(offline_evd, shown)
    assert log_of(offline_evd, shown).strip() == wanted.version_text
