"""Every bad job declaration fails its run with the cause and a fix; the daemon carries on."""

import json
import textwrap
from pathlib import Path

import pytest

from evd.models import EXIT_NOT_STARTED
from tests.conftest import Evd, make_wheel


def job_file(tmp_path: Path, body: str, name: str = "bad.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def submit_and_wait(evd: Evd, path: Path) -> dict[str, object]:
    run_id = evd.cli("run", "-q", str(path), check=True).stdout.strip()
    waited = evd.cli("wait", "-q", run_id, timeout=120)
    shown: dict[str, object] = json.loads(evd.cli("show", "--json", run_id).stdout)
    shown["wait_code"] = waited.returncode
    return shown


def packages(tmp_path: Path, *requirements: str) -> Path:
    listed = ", ".join(repr(r) for r in requirements)
    return job_file(
        tmp_path,
        f"""\
        from evd import Env, Job
        job = Job("pkgs", Env().pip_install([{listed}]))

        @job.main()
        def main() -> None:
            print("ran")
        """,
    )


def test_an_unknown_package_fails_the_build_and_the_next_submit_retries(
    offline_evd: Evd, tmp_path: Path, wheels: Path
) -> None:
    path = packages(tmp_path, "evdtest-missing==1.0")
    shown = submit_and_wait(offline_evd, path)
    assert (shown["state"], shown["failed_by"]) == ("failed", "build")
    assert shown["wait_code"] == EXIT_NOT_STARTED
    reason = str(shown["reason"])
    assert "could not be built" in reason and "evdtest-missing" in reason  # uv's own words
    assert "--build" in reason
    built = [p for p in (offline_evd.home / "envs").iterdir() if p.is_dir()]
    assert all((p / "evd-env.json").exists() for p in built)  # nothing half-made
    build_log = offline_evd.cli("logs", "--build", str(shown["id"]), check=True).stdout
    assert "uv pip install" in build_log

    make_wheel(wheels, "evdtest-missing", "1.0")
    again = submit_and_wait(offline_evd, path)
    assert again["state"] == "succeeded", again["reason"]


def test_a_version_conflict_names_both_sides(offline_evd: Evd, tmp_path: Path) -> None:
    shown = submit_and_wait(offline_evd, packages(tmp_path, "evdtest-pkg==1.0", "evdtest-pkg==2.0"))
    assert (shown["state"], shown["failed_by"]) == ("failed", "build")
    assert "evdtest-pkg==1.0" in str(shown["reason"]) and "evdtest-pkg==2.0" in str(shown["reason"])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            'from evd import Env, Job\njob = Job("x", Env("3.99"))\n@job.main()\ndef f(): pass\n',
            "no Python on this machine matches '3.99' (found: ",
        ),
        ('from evd import Job\njob = Job("x")\ndef main(:\n', "syntax error in bad.py, line 3"),
        (
            'from evd import Job\njob = Job("lonely")\n\ndef main():\n    pass\n',
            "Job 'lonely' has no main: mark its entry point with @job.main()",
        ),
        (
            'from evd import Env, Job\nenv = Env("three")\n',
            "bad.py, line 2: bad Python version 'three'",
        ),
        (
            'from evd import Env\nenv = Env()\nenv.environ["N"] = 5\n',
            "environment variable N must be a string, not int 5",
        ),
        (
            'from evd import Job\nj = Job("a")\nk = Job("b")\n'
            "@j.main()\ndef f(): pass\n@k.main()\ndef g(): pass\n",
            "declares 2 jobs with a main",
        ),
    ],
)
def test_declaration_mistakes_fail_at_submit_with_the_cause(
    offline_evd: Evd, tmp_path: Path, body: str, message: str
) -> None:
    path = job_file(tmp_path, body)
    result = offline_evd.cli("run", str(path))
    assert result.returncode == EXIT_NOT_STARTED
    assert message in result.stderr
    run_id = result.stdout.split()[2]
    shown = json.loads(offline_evd.cli("show", "--json", run_id).stdout)
    assert shown["state"] == "failed" and message in shown["reason"]
    assert message in offline_evd.cli("logs", run_id).stdout  # the run's log says it too
    assert offline_evd.cli("ps").returncode == 0  # the daemon is unharmed


def test_an_import_error_in_the_job_names_the_module(offline_evd: Evd, tmp_path: Path) -> None:
    path = job_file(
        tmp_path,
        """\
        import no_such_module_xyz
        from evd import Job
        job = Job("imports")

        @job.main()
        def main() -> None:
            pass
        """,
    )
    shown = submit_and_wait(offline_evd, path)
    assert (shown["state"], shown["failed_by"], shown["exit_code"]) == ("failed", "user", 1)
    assert "ModuleNotFoundError: No module named 'no_such_module_xyz'" in str(shown["reason"])


def test_binary_junk_and_missing_functions_still_make_failed_runs(
    offline_evd: Evd, tmp_path: Path
) -> None:
    junk = tmp_path / "junk.py"
    junk.write_bytes(b"\x00\xff\xfe" * 100)
    result = offline_evd.cli("run", str(junk))
    assert result.returncode == EXIT_NOT_STARTED and "not UTF-8 text" in result.stderr
    tool = job_file(tmp_path, "from evd import Env\ndef f():\n    pass\n", "tool.py")
    missing = offline_evd.cli("run", f"{tool}:nope")
    assert "has no function 'nope' (its functions: f)" in missing.stderr


NEEDS_3_99 = 'from evd import Env, Job\njob = Job("x", Env("3.99"))\n@job.main()\ndef f(): pass\n'


def test_a_python_nobody_has_fails_naming_the_ones_found(offline_evd: Evd, tmp_path: Path) -> None:
    """Downloads on (the default): uv is asked, says no such Python exists; the reason says all."""
    path = job_file(tmp_path, NEEDS_3_99)
    shown = submit_and_wait(offline_evd, path)
    assert (shown["state"], shown["failed_by"]) == ("failed", "build")
    reason = str(shown["reason"])
    assert "no Python on this machine matches '3.99' (found: " in reason
    assert "uv could not download one" in reason and "3.99" in reason
    build_log = offline_evd.home / "runs" / str(shown["id"]) / "build.log"
    assert "uv python install 3.99" in build_log.read_text()


def test_python_downloads_can_be_forbidden(evd_env: Evd, tmp_path: Path) -> None:
    evd_env.home.mkdir(parents=True, exist_ok=True)
    (evd_env.home / "config.toml").write_text('[python]\ndownloads = "never"\n')
    evd_env.up()
    path = job_file(tmp_path, NEEDS_3_99)
    shown = submit_and_wait(evd_env, path)
    assert "downloading Pythons is off ([python] downloads" in str(shown["reason"])
    assert not (evd_env.home / "runs" / str(shown["id"]) / "build.log").exists()
