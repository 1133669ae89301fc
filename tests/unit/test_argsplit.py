import pytest

from evd.cli.argsplit import options_taking_values, split_run_argv
from evd.cli.main import build_parser, main, subparser

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


def test_the_options_that_take_a_value_come_from_the_parser() -> None:
    parser, _ = build_parser("run")
    takes = options_taking_values(subparser(parser, "run"))
    assert {"--name", "--after", "--map", "--gpus", "--restart"} <= takes
    assert not {"-q", "--quiet", "--keep-children", "-f", "--json", "-h"} & takes
    schedule = options_taking_values(subparser(build_parser("schedule")[0], "schedule", "add"))
    assert {"--cron", "--every", "--env", "--name"} <= schedule and "-q" not in schedule


def test_an_abbreviated_option_is_unknown_not_taken_for_another(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run", "--nam", "x", "--", "true"])
    assert exited.value.code == 2
    assert "unrecognized arguments: --nam" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["ps", "--al"])
    assert "unrecognized arguments: --al" in capsys.readouterr().err
