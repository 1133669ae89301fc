"""The SDK: ev-style declarations, Flyte-style settings, and messages that say what is wrong."""

import pytest

from evd import DeclarationError, Env, Job, Resources
from evd.environments.settings import settings_from_table
from evd.sdk.job import DECLARED


def test_ev_style_env_chains_and_reads_back_as_data() -> None:
    env = Env("3.11").pip_install(["daft==0.7.26"]).pip_install("pyarrow").include(["config/"])
    env.environ["DAFT_PROGRESS_BAR"] = "0"
    env.secret("HF_TOKEN")
    data = env.volume("imagenet")
    assert data.env_var == "EVD_VOLUME_IMAGENET"
    assert env.to_dict() == {
        "python": "3.11",
        "dependencies": ["daft==0.7.26", "pyarrow"],
        "environ": {"DAFT_PROGRESS_BAR": "0"},
        "secrets": ["HF_TOKEN"],
        "include": ["config/"],
        "volumes": ["imagenet"],
        "retries": 0,
    }


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Env("three"), "bad Python version 'three'"),
        (lambda: Env(3.11), "write it as a string"),
        (lambda: Env("3.11").pip_install([42]), "bad requirement 42"),
        (lambda: Env("3.11").pip_install(["--index-url x"]), "pip options are not requirements"),
        (lambda: Env(include=["../secrets"]), "without '..'"),
        (lambda: Env(cpus=0), "cpus must be above 0"),
        (lambda: Env(gpus=1.5), "only whole numbers"),
        (lambda: Env(memory="lots"), "bad size 'lots'"),
        (lambda: Env(timeout="soon"), "bad duration 'soon'"),
        (lambda: Env(retries=-1), "retries must be at least 0"),
        (lambda: Job("bad name!"), "bad job name 'bad name!'"),
        (lambda: Job("ok", env="3.11"), "env must be an evd Env"),
        (lambda: Env().volume("9lives"), "bad volume name"),
        (lambda: Env().clone_with(colour="red"), "unknown setting 'colour'"),
    ],
)
def test_nonsense_is_refused_with_the_reason(make: object, message: str) -> None:
    assert callable(make)
    with pytest.raises(DeclarationError, match=message):
        make()


def test_environ_refuses_values_that_are_not_strings() -> None:
    env = Env("3.11")
    with pytest.raises(DeclarationError, match=r"K must be a string, not int 5: write str\(5\)"):
        env.environ["K"] = 5  # type: ignore[assignment]
    with pytest.raises(DeclarationError, match="bad environment variable name '1X'"):
        env.environ.update({"1X": "v"})
    assert dict(env.environ) == {}


def test_clone_with_derives_without_touching_the_original() -> None:
    base = Env("3.11", cpus=2).pip_install(["daft"])
    gpu = base.clone_with(gpus=1, memory="16GiB", python="3.12")
    assert base.to_dict()["resources"] == {"cpus": 2.0}
    assert gpu.to_dict()["resources"] == {"cpus": 2.0, "gpus": 1.0, "memory": 16 * 1024**3}
    assert (gpu.python, base.python) == ("3.12", "3.11")
    gpu.pip_install("torch")
    assert base.packages == ["daft"]


def test_job_settings_override_the_envs() -> None:
    env = Env("3.11", cpus=2, timeout="1h", priority=1, resources=Resources(gpus=0.5))
    job = Job("train", env, cpus=4, timeout=60, description="trains")

    @job.main()
    def main() -> int:
        return 0

    data = job.to_dict()
    assert data["name"] == "train" and data["main"] == "main" and data["has_env"]
    settings = data["settings"]
    assert settings["resources"] == {"cpus": 4.0, "gpus": 0.5}
    assert (settings["timeout"], settings["priority"], settings["description"]) == (
        60.0,
        1,
        "trains",
    )


def test_main_is_registered_once_and_records_a_call() -> None:
    job = Job("once")
    assert DECLARED[-1] is job

    @job.main()
    def main(x: int) -> int:
        return x * 2

    assert main(4) == 8 and job.called and job.returned == 8
    with pytest.raises(DeclarationError, match="already has a main"):
        job.main()(lambda: None)


def test_restart_is_checked_and_declared() -> None:
    job = Job("svc", restart="on-failure")
    assert job.to_dict()["settings"]["restart"] == "on-failure"
    with pytest.raises(DeclarationError, match="restart must be one of no, on-failure, always"):
        Job("svc2", restart="sometimes")


def test_keep_children_is_declared_and_checked() -> None:
    declared = Job("server", keep_children=True).to_dict()["settings"]
    assert declared["keep_children"] is True
    assert settings_from_table(declared, "x").keep_children is True
    with pytest.raises(DeclarationError, match="keep_children must be"):
        Job("server", keep_children="yes")  # type: ignore[arg-type]
    with pytest.raises(DeclarationError, match="keep_children must be"):
        settings_from_table({"keep_children": 1}, "x")
