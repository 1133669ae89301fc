"""Where a job's environment comes from: env files, projects, Pythons, index settings, the hash."""

import os
import sys
from pathlib import Path

import pytest

from evd.environments import catalog
from evd.environments.indexes import index_settings
from evd.environments.project import project_settings
from evd.environments.pythons import NoPython, Pythons, own
from evd.environments.spec import make_spec, normalize
from evd.sdk.checks import DeclarationError


def test_shipped_env_files_load() -> None:
    base = catalog.load_file(catalog.find("base", {}))
    daft = catalog.load_file(catalog.find("daft", {}))
    assert base.name == "base" and base.dependencies == ()
    assert daft.dependencies is not None and "daft==0.7.26" in daft.dependencies
    assert daft.environ["DAFT_RUNNER"] == "native"


def test_user_env_files_come_first_and_unknown_names_list_the_known(tmp_path: Path) -> None:
    (tmp_path / "daft.toml").write_text('dependencies = ["mine"]\n')
    environ = {"EVD_ENVS_PATH": str(tmp_path)}
    assert catalog.resolve("daft", "/", environ).dependencies == ("mine",)
    with pytest.raises(DeclarationError, match="no environment named 'nope'; known: base, daft"):
        catalog.resolve("nope", "/", environ)
    (tmp_path / "bad.toml").write_text("colour = 'red'\n")
    with pytest.raises(DeclarationError, match="unknown setting"):
        catalog.resolve("bad", "/", environ)


def test_project_settings_from_the_nearest_project(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "p"\nversion = "1"\ndependencies = ["tabulate"]\n'
    )
    (tmp_path / ".python-version").write_text("3.11\n")
    nested = tmp_path / "src" / "pkg"
    nested.mkdir(parents=True)
    settings = project_settings(nested / "job.py")
    assert settings is not None
    assert (settings.dependencies, settings.python) == (("tabulate",), "3.11")
    other = tmp_path.parent / "no-project-here"
    other.mkdir(exist_ok=True)
    (other / "requirements.txt").write_text("six\n# comment\n-e .\n")
    with pytest.raises(DeclarationError, match="is a pip option"):
        project_settings(other / "job.py")


def fake_pyenv(tmp_path: Path) -> Path:
    """A pyenv folder whose only version is a link to the interpreter running the tests."""
    real = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    version = ".".join(map(str, sys.version_info[:3]))
    folder = tmp_path / "pyenv" / "versions" / version / "bin"
    folder.mkdir(parents=True)
    (folder / "python3").symlink_to(real)
    return tmp_path / "pyenv"


def test_pythons_are_found_by_real_path_and_requests_match(tmp_path: Path) -> None:
    pythons = Pythons({"PYENV_ROOT": str(fake_pyenv(tmp_path)), "PATH": ""})
    mine = own()
    assert mine in pythons.all()
    major_minor = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert pythons.choose(major_minor) == mine
    assert pythons.choose(f">={major_minor}, <4") == mine
    assert pythons.choose(None) == mine
    with pytest.raises(NoPython, match=r"no Python on this machine matches '3.99' \(found: "):
        pythons.choose("3.99")
    with pytest.raises(NoPython, match="does not exist"):
        pythons.choose("/no/such/python")


def test_pip_conf_is_opt_in_and_then_uses_pips_semantics(tmp_path: Path) -> None:
    pip_conf = tmp_path / "pip.conf"
    pip_conf.write_text("[global]\nextra-index-url = file:///opt/pypi/simple\n")
    environ = {"PIP_CONFIG_FILE": str(pip_conf), "HOME": str(tmp_path)}
    assert "--index" not in index_settings(environ, {}).args
    opted = index_settings({**environ, "EVD_PIP_CONF": "1"}, {}).args
    assert opted[-2:] == ("--index-strategy", "unsafe-best-match")
    assert opted[opted.index("--index") :][:2] == ("--index", "file:///opt/pypi/simple")


def test_the_hash_covers_python_requirements_and_index(tmp_path: Path) -> None:
    plain = index_settings({"HOME": str(tmp_path)}, {})
    mirror = index_settings({"HOME": str(tmp_path), "UV_INDEX_URL": "http://mirror/simple"}, {})
    one = make_spec(own(), ["Tabulate==0.9.0", "six"], plain)
    assert one.requirements == ("six", "tabulate==0.9.0")
    assert make_spec(own(), ["six", "tabulate==0.9.0", "six"], plain).content_hash == (
        one.content_hash
    )
    assert make_spec(own(), ["six"], plain).content_hash != one.content_hash
    assert make_spec(own(), ["Tabulate==0.9.0", "six"], mirror).content_hash != one.content_hash
    with pytest.raises(DeclarationError, match="bad requirement 'not a package!'"):
        normalize(["not a package!"])


def test_python_downloads_follow_the_config_and_uvs_variable() -> None:
    from evd.environments.fetch import downloads_allowed  # noqa: PLC0415

    assert downloads_allowed({}, {})
    assert not downloads_allowed({"downloads": "never"}, {})
    assert not downloads_allowed({}, {"UV_PYTHON_DOWNLOADS": "never"})
    assert not downloads_allowed({}, {"UV_PYTHON_DOWNLOADS": "manual"})
