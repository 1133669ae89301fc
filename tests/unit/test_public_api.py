"""The SDK surface and the stdlib-only promise of what job code and the CLI import."""

import subprocess
import sys

import evd

HEAVY = ("fastapi", "pydantic", "starlette", "uvicorn", "sqlite_utils", "psutil", "httpx")


def test_public_names() -> None:
    assert evd.__all__ == ["DeclarationError", "Env", "Job", "Resources", "Volume", "__version__"]
    for name in evd.__all__:
        assert getattr(evd, name)


def test_cli_client_and_models_import_only_the_standard_library() -> None:
    code = (
        "import sys, evd, evd.client, evd.models, evd.errors, evd.cli.main,"
        " evd.sdk.launch, evd.sdk.declare, evd.sdk.calling;"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == ""
