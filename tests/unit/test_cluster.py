"""Running on a Ray cluster: addresses, the env's Ray, what the job is told."""

import json

import pytest

from evd.daemon.core.jobenv import cluster_variables
from evd.daemon.submit.layering import on_cluster as _on_cluster
from evd.daemon.submit.validate import _cluster
from evd.environments.settings import JobSettings
from evd.errors import InvalidRequest
from evd.sdk.daft_hooks import is_this_machine


def test_cluster_addresses_are_checked_for_shape() -> None:
    assert _cluster("ray://head:10001") == "ray://head:10001"
    assert _cluster(" 10.0.0.5:6379 ") == "10.0.0.5:6379"
    assert _cluster("auto") == "auto" and _cluster(None) is None
    with pytest.raises(InvalidRequest, match="expected a Ray address"):
        _cluster("head")


def test_a_cluster_run_gets_ray_in_its_env_unless_the_env_names_it() -> None:
    settings = _on_cluster(JobSettings(dependencies=("daft==0.7.26",)), "127.0.0.1:6379")
    assert settings.dependencies == ("daft==0.7.26", "ray")
    assert settings.environ == {"DAFT_RUNNER": "ray", "RAY_ADDRESS": "127.0.0.1:6379"}
    pinned = _on_cluster(JobSettings(dependencies=("ray[default]==2.60.0",)), "auto")
    assert pinned.dependencies == ("ray[default]==2.60.0",)
    lookalike = _on_cluster(JobSettings(dependencies=("raydium",)), "auto")
    assert lookalike.dependencies == ("raydium", "ray")
    assert _on_cluster(JobSettings(), None) == JobSettings()


def test_the_job_is_told_its_cluster_and_the_runtime_env_to_ship() -> None:
    spec = {
        "cluster": "ray://head:10001",
        "settings": {"environ": {"MODEL": "small"}, "dependencies": ["daft==0.7.26", "ray"]},
    }
    told = cluster_variables(spec, {"DO_NOT_TRACK": "1", "HOME": "/home/me"})
    assert told["EVD_CLUSTER"] == "ray://head:10001"
    assert json.loads(told["EVD_RAY_RUNTIME_ENV"]) == {
        "env_vars": {"DO_NOT_TRACK": "1", "MODEL": "small"},
        "pip": ["daft==0.7.26", "ray"],
    }


def test_loopback_clusters_are_this_machine() -> None:
    assert is_this_machine("127.0.0.1:6379") and is_this_machine("ray://localhost:10001")
    assert is_this_machine("auto")
    assert not is_this_machine("ray://198.51.100.77:10001")  # TEST-NET-2: nobody's address
