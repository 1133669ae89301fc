"""What a job's own code finished with stands, whatever the interpreter does at exit.

Daft 0.7's UDF pools sometimes crash the interpreter after the query finished
(``Fatal Python error: PyGILState_Release``, SIGABRT). Here an ``atexit``
handler aborts the process the same way, after the job's code is done.
"""

import json
from pathlib import Path

from tests.conftest import Evd
from tests.integration.test_environments import log_of, run, write

ABORT_AT_EXIT = """\
import atexit, os, signal
atexit.register(lambda: os.kill(os.getpid(), signal.SIGABRT))
"""


def test_a_script_that_finished_is_recorded_as_it_finished_despite_a_crash_at_exit(
    offline_evd: Evd, tmp_path: Path
) -> None:
    good = run(offline_evd, str(write(tmp_path, "good.py", ABORT_AT_EXIT + "print('done')\n")))
    assert (good["state"], good["exit_code"]) == ("succeeded", 0)
    log = log_of(offline_evd, good)
    assert "done\n" in log
    assert "the job's code finished with exit code 0; the process then was killed by SIGABRT" in log
    three = run(
        offline_evd, str(write(tmp_path, "three.py", ABORT_AT_EXIT + "raise SystemExit(3)\n"))
    )
    assert (three["state"], three["exit_code"]) == ("failed", 3)


def test_a_jobs_main_result_stands_despite_a_crash_at_exit(
    offline_evd: Evd, tmp_path: Path
) -> None:
    job = write(
        tmp_path,
        "job.py",
        """\
        import atexit, os, signal
        from evd import Job
        job = Job("crashy")

        @job.main()
        def main() -> dict:
            atexit.register(lambda: os.kill(os.getpid(), signal.SIGABRT))
            return {"rows": 7}
        """,
    )
    shown = run(offline_evd, str(job))
    assert (shown["state"], shown["exit_code"]) == ("succeeded", 0)
    result = offline_evd.cli("result", str(shown["id"]), check=True).stdout
    assert json.loads(result) == {"rows": 7}


def test_a_crash_before_the_code_finished_is_a_failure(offline_evd: Evd, tmp_path: Path) -> None:
    script = "import os, signal\nprint('before')\nos.kill(os.getpid(), signal.SIGABRT)\n"
    shown = run(offline_evd, str(write(tmp_path, "abort.py", script)))
    assert (shown["state"], shown["exit_code"]) == ("failed", 134)
    assert shown["reason"] == "killed by SIGABRT (exit 134)"


def test_a_scripts_traceback_and_exit_status_are_those_of_python(
    offline_evd: Evd, tmp_path: Path
) -> None:
    script = write(tmp_path, "broken.py", "import sys\nprint(sys.argv[1:])\n\n1 / 0\n")
    shown = run(offline_evd, str(script), "a", "b")
    assert (shown["state"], shown["exit_code"]) == ("failed", 1)
    assert shown["reason"] == "exited with code 1: ZeroDivisionError: division by zero"
    log = log_of(offline_evd, shown)
    assert "['a', 'b']" in log
    assert 'broken.py", line 4, in <module>' in log and "launch" not in log
    message = run(offline_evd, str(write(tmp_path, "message.py", "raise SystemExit('no input')\n")))
    assert message["exit_code"] == 1 and "no input" in log_of(offline_evd, message)
