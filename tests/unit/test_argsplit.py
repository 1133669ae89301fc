from evd.cli.argsplit import split_run_argv

TAKES = frozenset({"--name", "--timeout"})


def test_words_after_the_file_belong_to_the_job() -> None:
    split = split_run_argv(["--name", "x", "-q", "train.py", "--lr", "3", "--name", "y"], TAKES)
    assert split.options == ["--name", "x", "-q"]
    assert (split.target, split.job_args, split.is_command) == (
        "train.py",
        ["--lr", "3", "--name", "y"],
        False,
    )


def test_double_dash_starts_a_command() -> None:
    split = split_run_argv(["--timeout", "5m", "--", "python", "-c", "pass"], TAKES)
    assert split.options == ["--timeout", "5m"]
    assert (split.target, split.job_args, split.is_command) == (
        None,
        ["python", "-c", "pass"],
        True,
    )


def test_no_target() -> None:
    assert split_run_argv(["-q"], TAKES).target is None
