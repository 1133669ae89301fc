"""Reading a job file's declarations without its packages and without running its job."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from evd.environments.builder import link_sdk
from evd.environments.pep723 import read_script, uv_arguments
from evd.sdk.checks import DeclarationError

READER = (
    "import sys; sys.path.insert(0, sys.argv.pop(1));"
    " from evd.sdk.declare import main; main(sys.argv[1:])"
)


def read(tmp_path: Path, source: str) -> dict[str, Any]:
    sdk = tmp_path / "sdk"
    link_sdk(sdk)
    job = tmp_path / "job.py"
    job.write_text(source)
    out = tmp_path / "out.json"
    python = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    subprocess.run(
        [python, "-I", "-S", "-c", READER, str(sdk), str(job), str(out)], check=True, timeout=30
    )
    result: dict[str, Any] = json.loads(out.read_text())
    return result


EV_JOB = """
import daft
from daft import col
import torch.nn as nn
from ev import Env, Job

env = Env("3.11").pip_install(["daft==0.7.26"])
job = Job("hello", env, gpus=1)

@daft.cls(gpus=1)
class Model(nn.Module):
    pass

@job.main()
def main() -> None:
    open("{marker}", "w").write("ran")

if __name__ == "__main__":
    main()
"""


def test_ev_style_file_is_read_with_stubbed_imports_and_no_body_run(tmp_path: Path) -> None:
    marker = tmp_path / "body-ran"
    result = read(tmp_path, EV_JOB.format(marker=marker))
    assert result["ok"], result
    (job,) = result["jobs"]
    assert (job["name"], job["main"], job["has_env"]) == ("hello", "main", True)
    assert job["settings"]["dependencies"] == ["daft==0.7.26"]
    assert job["settings"]["resources"] == {"gpus": 1.0}
    assert not marker.exists()


@pytest.mark.parametrize(
    ("source", "kind", "message"),
    [
        ("def f(:\n", "syntax", "syntax error in job.py, line 1"),
        ("from evd import Env\nEnv('three')\n", "declaration", "job.py, line 2: bad Python"),
        ("import os\nos.environ['X']\n", "error", "job.py, line 2: KeyError"),
        ("import sys\nsys.exit(3)\n", "error", "called exit"),
    ],
)
def test_broken_files_say_what_and_where(
    tmp_path: Path, source: str, kind: str, message: str
) -> None:
    result = read(tmp_path, source)
    assert not result["ok"] and result["kind"] == kind
    assert message in result["error"]


SCRIPT = """# /// script
# requires-python = ">=3.11"
# dependencies = ["tabulate==0.9.0"]
# [tool.evd]
# gpus = 1
# timeout = "10m"
# environ = { MODE = "fast" }
# ///
print("hi")
"""


def test_pep723_block_with_tool_evd_table() -> None:
    block = read_script(SCRIPT, "s.py")
    assert block is not None and block.notes == ()
    settings = block.settings
    assert settings.python == ">=3.11" and settings.dependencies == ("tabulate==0.9.0",)
    assert settings.resources == {"gpus": 1.0}
    assert settings.timeout == 600.0 and settings.environ == {"MODE": "fast"}
    assert read_script("print('no block')\n", "p.py") is None


def test_pep723_keys_uv_accepts_are_noted_not_refused() -> None:
    source = SCRIPT.replace(
        "# [tool.evd]", '# description = "x"\n# [tool.uv]\n# dev = 1\n# [tool.evd]'
    )
    block = read_script(source, "s.py")
    assert block is not None and block.settings.resources == {"gpus": 1.0}
    assert block.notes == (
        "the `# /// script` block of s.py: evd ignores description (not settings of a run)",
        "[tool.uv] in s.py: evd ignores dev (only package-source settings apply to evd's builds)",
    )


def test_tool_uv_package_sources_become_uv_arguments() -> None:
    args, left_out = uv_arguments(
        {
            "exclude-newer": "2025-01-01T00:00:00Z",
            "extra-index-url": ["https://a/simple"],
            "index": [
                {"name": "t", "url": "https://t/simple", "default": True},
                {"name": "x", "url": "https://x/simple", "explicit": True},
            ],
            "sources": {},
        },
        "w",
    )
    assert args == (
        "--exclude-newer", "2025-01-01T00:00:00Z", "--index", "https://a/simple",
        "--default-index", "https://t/simple",
    )  # fmt: skip
    assert left_out == ["sources"]
    with pytest.raises(DeclarationError, match="needs a url"):
        uv_arguments({"index": [{"name": "t"}]}, "w")


def test_pep723_mistakes_are_named() -> None:
    with pytest.raises(DeclarationError, match=r"\[tool.evd\] in s.py: unknown setting"):
        read_script(SCRIPT.replace("gpus = 1", "gpuz = 1"), "s.py")
    with pytest.raises(DeclarationError, match="not valid TOML"):
        read_script("# /// script\n# dependencies = [\n# ///\n", "s.py")
