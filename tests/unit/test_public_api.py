"""The SDK surface and the stdlib-only promise of what job code and the CLI import."""

import subprocess
import sys

import evd

HEAVY = ("fastapi", "pydantic", "starlette", "uvicorn", "psutil", "httpx")


def test_public_names() -> None:
    assert evd.__all__ == [
        "Cache",
        "DeclarationError",
        "Env",
        "Job",
        "Resources",
        "Reuse",
        "Volume",
        "__version__",
        "preempted",
        "progress",
    ]
    for name in evd.__all__:
        assert getattr(evd, name)
    assert evd.preempted() is False  # outside a run that evd preempted


def test_cli_client_and_models_import_only_the_standard_library() -> None:
    code = (
        "import sys, evd, evd.client, evd.models, evd.errors, evd.cli.main,"
        " evd.sdk.launch, evd.sdk.declare, evd.sdk.calling, evd.sdk.boot, evd.sdk.progress,"
        " evd.sdk.daft_hooks, evd.sdk.rundir, evd.sdk.fanout, evd.sdk.worker, evd.sdk.preempt,"
        " evd.sdk.dataspec;"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == ""


def test_the_boot_hook_does_nothing_outside_a_run_and_waits_for_daft_inside_one() -> None:
    code = (
        "import sys, time; t = time.perf_counter(); import evd.sdk.boot as b;"
        " print(any(type(f).__name__ == 'AfterImport' for f in sys.meta_path),"
        " 'evd.sdk.daft_hooks' in sys.modules)"
    )
    outside = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={}
    ).stdout.split()
    assert outside == ["False", "False"]
    inside = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"EVD_RUN_DIR": "/nonexistent"},
    ).stdout.split()
    assert inside == ["True", "False"]  # hooks wait for Daft; nothing heavy is loaded
