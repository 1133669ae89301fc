"""evd installed as people install a tool: a wheel in a venv of its own, outside the repository."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, base_env

UV = str(Path(sys.executable).parent / "uv")


def test_a_wheel_installed_outside_the_repository_runs_scripts_and_its_shipped_envs(
    tmp_path: Path,
) -> None:
    dist, tool, work = tmp_path / "dist", tmp_path / "tool", tmp_path / "work"
    work.mkdir()
    subprocess.run(
        [UV, "build", "--wheel", "--quiet", "--out-dir", str(dist), str(REPO)],
        check=True,
        timeout=600,
    )
    (wheel,) = dist.glob("evd-*.whl")
    subprocess.run([UV, "venv", "--quiet", "--python", sys.executable, str(tool)], check=True)
    subprocess.run(
        [UV, "pip", "install", "--quiet", "--python", str(tool / "bin" / "python"), str(wheel)],
        check=True,
        timeout=600,
    )
    env = base_env(tmp_path / "home")
    env["PATH"] = f"{tool / 'bin'}{os.pathsep}{env['PATH']}"

    def evd(*args: str) -> str:
        result = subprocess.run(
            [str(tool / "bin" / "evd"), *args],
            cwd=work,
            env=env,
            check=False,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result.stdout

    assert evd("--version").strip() == "evd 0.1.0"
    evd("up")
    try:
        (work / "hello.py").write_text("print('hello from an installed evd')\n")
        assert "hello from an installed evd" in evd("run", "-f", "hello.py")
        probe = "import daft, sys; print('daft', daft.__version__, sys.prefix)"
        run_id = evd("run", "-q", "--env", "daft", "--", "python", "-c", probe).strip()
        evd("wait", run_id)
        output = evd("logs", run_id)
        assert output.startswith("daft ") and str(tool) not in output  # its own venv
    finally:
        evd("down")
