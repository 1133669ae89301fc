"""``evd completion``: scripts shells accept, completing commands, options, ids and env names."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Evd


def complete(evd: Evd, tmp_path: Path, *words: str) -> list[str]:
    """What bash offers after ``words`` (the last is the word being completed)."""
    script = tmp_path / "evd.bash"
    script.write_text(evd.cli("completion", "bash", check=True).stdout)
    # `evd` on PATH, as the script calls it: this test's evd.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    launcher = bin_dir / "evd"
    launcher.write_text(f'#!/bin/sh\nexec {sys.executable} -m evd "$@"\n')
    launcher.chmod(0o755)
    line = " ".join(f"'{word}'" for word in words)
    probe = f"source {script}; COMP_WORDS=(evd {line}); COMP_CWORD={len(words)}; _evd; "
    probe += 'printf "%s\\n" "${COMPREPLY[@]}"'
    env = {**evd.env, "PATH": f"{bin_dir}{os.pathsep}{evd.env['PATH']}"}
    result = subprocess.run(
        ["bash", "-c", probe], env=env, capture_output=True, text=True, check=True, timeout=60
    )
    return result.stdout.split()


def test_the_bash_script_completes_commands_options_run_ids_and_envs(
    evd: Evd, tmp_path: Path
) -> None:
    script = evd.cli("completion", "bash", check=True).stdout
    assert subprocess.run(["bash", "-n"], input=script, text=True, check=False).returncode == 0
    assert complete(evd, tmp_path, "sh") == ["show"]
    assert "--keep-children" in complete(evd, tmp_path, "run", "--ke")
    assert complete(evd, tmp_path, "watch", "") == ["add", "ls", "rm"]
    run_id = evd.cli("run", "-q", "--", "true", check=True).stdout.strip()
    assert run_id in complete(evd, tmp_path, "show", "")
    assert {"base", "daft"} <= set(complete(evd, tmp_path, "run", "--env", ""))


def test_run_ids_are_listed_fast_and_none_without_a_daemon(evd_env: Evd) -> None:
    listed = evd_env.cli("completion", "--list", "ids", check=True)
    assert listed.stdout == "\n" and listed.stderr == ""  # evd is not running: nothing, quietly


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_scripts_parse_where_the_shell_is_installed(evd: Evd, shell: str) -> None:
    script = evd.cli("completion", shell, check=True).stdout
    assert "completion --list ids" in script
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed here: its parse check runs where it is")
    assert subprocess.run([shell, "-n"], input=script, text=True, check=False).returncode == 0
