from pathlib import Path

import pytest

from evd.daemon.submit.validate import MAX_ARG_BYTES, validate
from evd.errors import InvalidRequest, NotFound
from evd.models import SubmitRequest


def test_a_command_gets_its_program_name() -> None:
    job = validate(SubmitRequest(command=["/usr/bin/env", "true"], cwd="/tmp"))
    assert (job.name, job.command, job.cwd) == ("env", ["/usr/bin/env", "true"], "/tmp")


def test_a_file_is_resolved_against_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "job.py").write_text("print(1)\n")
    job = validate(
        SubmitRequest(file="job.py", function="main", args=["--x", "1"], cwd=str(tmp_path))
    )
    assert job.name is None  # named later, from the file or its declared Job
    assert (job.file, job.function, job.args) == (str(tmp_path / "job.py"), "main", ("--x", "1"))


def test_a_bad_function_name_is_refused(tmp_path: Path) -> None:
    (tmp_path / "job.py").write_text("print(1)\n")
    with pytest.raises(InvalidRequest, match="bad function name"):
        validate(SubmitRequest(file="job.py", function="1; rm", cwd=str(tmp_path)))


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (SubmitRequest(), "either `command` or `file`"),
        (SubmitRequest(command=["a"], file="b.py"), "either `command` or `file`"),
        (SubmitRequest(command=[]), "the command is empty"),
        (SubmitRequest(command=["echo", "a\0b"]), "NUL"),
        (SubmitRequest(command=["echo", "x" * (MAX_ARG_BYTES + 1)]), "per argument"),
        (SubmitRequest(command=["echo", *["x" * 100_000] * 3]), "command line is"),
        (SubmitRequest(command=["echo", "\udcff"]), "not valid UTF-8"),
        (SubmitRequest(command=["echo"], cwd="relative/dir"), "absolute path"),
        (SubmitRequest(command=["echo"], name="two\nlines"), "bad run name"),
        (SubmitRequest(command=["echo"], timeout=0), "positive number"),
        (SubmitRequest(command=["echo"], env={"A=B": "1"}), "environment variable"),
        (SubmitRequest(command=["echo"], args=["x"]), "`args` and `function` go with `file`"),
    ],
)
def test_bad_requests_say_what_is_wrong(request_: SubmitRequest, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        validate(request_)


def test_a_missing_job_file_is_not_found() -> None:
    with pytest.raises(NotFound, match="job file not found"):
        validate(SubmitRequest(file="/no/such/job.py"))
