"""The builder: one build per hash, nothing half-made left behind, the SDK reachable in the venv."""

import asyncio
import subprocess
from pathlib import Path

import pytest

from evd.daemon.envs.envmanager import find_uv
from evd.environments.builder import READY_FILE, Builder, BuildFailed, link_sdk
from evd.environments.indexes import index_settings
from evd.environments.pythons import own
from evd.environments.spec import EnvSpec, make_spec
from tests.conftest import make_wheel


def offline_spec(wheels: Path, *requirements: str) -> EnvSpec:
    index = index_settings({}, {"no_index": True, "find_links": [str(wheels)]})
    return make_spec(own(), list(requirements), index)


def builder_in(tmp_path: Path) -> Builder:
    sdk = tmp_path / "sdk"
    link_sdk(sdk)
    return Builder(tmp_path / "envs", sdk, find_uv(), {}, str(tmp_path / "uv-cache"))


def test_concurrent_requests_share_one_build_and_the_sdk_imports(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "evdtest-pkg", "1.0")
    builder = builder_in(tmp_path)
    spec = offline_spec(wheels, "evdtest-pkg==1.0")
    log = tmp_path / "build.log"

    async def both() -> list[object]:
        return list(await asyncio.gather(builder.ensure(spec, log), builder.ensure(spec, log)))

    first, second = asyncio.run(both())
    assert first is not None and first == second
    assert log.read_text().count("uv venv") == 1
    assert builder.is_ready(spec.content_hash)
    assert asyncio.run(builder.ensure(spec, log)) is None  # built: nothing to do
    python = builder.python(spec.content_hash)
    probe = "import evdtest_pkg, ev, evd; print(evdtest_pkg.VERSION, ev.Env is evd.Env)"
    out = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1.0", "True"]


def test_a_failed_build_leaves_nothing_and_a_half_made_venv_is_replaced(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    builder = builder_in(tmp_path)
    spec = offline_spec(wheels, "evdtest-pkg==1.0")
    with pytest.raises(BuildFailed, match="evdtest-pkg"):
        asyncio.run(builder.ensure(spec, tmp_path / "log"))
    assert not builder.path(spec.content_hash).exists()

    half_made = builder.path(spec.content_hash)
    (half_made / "bin").mkdir(parents=True)  # as if a daemon died mid-build
    (half_made / "junk").write_text("x")
    make_wheel(wheels, "evdtest-pkg", "1.0")
    asyncio.run(builder.ensure(spec, tmp_path / "log"))
    assert (half_made / READY_FILE).exists() and not (half_made / "junk").exists()
