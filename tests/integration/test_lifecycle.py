"""`evd up | down | daemon`: start, refuse a second, stop, recover from a crash's leftovers."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys

import psutil

from tests.conftest import Evd, process_gone, wait_for


def test_up_twice_then_down_twice(evd_env: Evd) -> None:
    first = evd_env.cli("up")
    assert first.returncode == 0 and "evd is up" in first.stdout
    second = evd_env.cli("up")
    assert second.returncode == 0 and "already running" in second.stdout
    pid = evd_env.daemon_pid()
    assert evd_env.client().health().pid == pid
    down = evd_env.cli("down")
    assert down.returncode == 0 and "evd is down" in down.stdout
    assert not evd_env.state.pid_file.exists() and not evd_env.state.socket.exists()
    again = evd_env.cli("down")
    assert again.returncode == 0 and "not running" in again.stdout


def test_state_dir_socket_and_pid_file(evd: Evd) -> None:
    assert stat.S_IMODE(evd.home.stat().st_mode) == 0o700
    assert stat.S_IMODE(evd.state.socket.stat().st_mode) == 0o600
    lines = evd.state.pid_file.read_text().splitlines()
    assert lines == [str(evd.client().health().pid)]
    assert "evd serving on" in evd.state.log_file.read_text()


def test_a_second_foreground_daemon_is_refused(evd: Evd) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "evd", "daemon"],
        env=evd.env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 3
    assert "already running" in result.stderr and "Traceback" not in result.stderr


def test_stale_pid_file_and_socket_after_a_crash_are_cleaned(evd: Evd) -> None:
    pid = evd.daemon_pid()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: process_gone(pid))
    assert evd.state.pid_file.exists() and evd.state.socket.exists()  # left behind
    ps = evd.cli("ps")
    assert ps.returncode == 1 and "evd is not running" in ps.stderr and "Traceback" not in ps.stderr
    evd.up()
    assert evd.daemon_pid() != pid
    assert evd.client().health().pid == evd.daemon_pid()


def test_sigterm_stops_the_daemon_gracefully(evd: Evd) -> None:
    pid = evd.daemon_pid()
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not evd.state.pid_file.exists())
    assert "evd stopped" in evd.state.log_file.read_text()


def test_commands_without_a_daemon_fail_in_one_line(evd_env: Evd) -> None:
    for args in (["ps"], ["show", "1"], ["run", "--", "true"], ["wait", "1"], ["cancel", "1"]):
        result = evd_env.cli(*args)
        assert result.returncode == 1, args
        assert result.stderr.count("\n") == 1 and "evd is not running" in result.stderr, args


def test_bad_options_are_one_clear_line(evd: Evd) -> None:
    bad_timeout = evd.cli("run", "--timeout", "soon", "--", "true")
    assert bad_timeout.returncode == 2 and "bad duration" in bad_timeout.stderr
    not_py = evd.cli("run", "echo", "hi")
    assert not_py.returncode == 2 and "evd run -- echo" in not_py.stderr
    nothing = evd.cli("run", "--")
    assert nothing.returncode == 2 and "nothing after `--`" in nothing.stderr
    bad_id = evd.cli("show", "abc")
    assert bad_id.returncode == 2 and "expected a run id (12) or a group id (g3)" in bad_id.stderr
    for result in (bad_timeout, not_py, nothing, bad_id):
        assert "Traceback" not in result.stderr


def has_socket(pid: int) -> bool:
    """Whether the process has a Unix socket connected (a client talking to evd)."""
    return bool(psutil.Process(pid).net_connections(kind="unix"))


def test_down_releases_streams_and_waiters_with_a_message(evd: Evd) -> None:
    run_id = evd.cli("run", "-q", "--", "sleep", "30", check=True).stdout.strip()
    argv = [sys.executable, "-m", "evd"]
    waiter = subprocess.Popen(
        [*argv, "wait", run_id], env=evd.env, stderr=subprocess.PIPE, text=True
    )
    follower = subprocess.Popen(
        [*argv, "logs", "-f", run_id], env=evd.env, stderr=subprocess.PIPE, text=True
    )
    events = evd.client().events(after=0)
    assert [next(events)["state"], next(events)["state"]] == ["queued", "running"]  # connected
    # Both are waiting on the daemon (on a busy machine they may still be starting).
    wait_for(lambda: has_socket(waiter.pid) and has_socket(follower.pid), timeout=30)
    assert evd.cli("down").returncode == 0
    assert list(events) == []  # the stream ended instead of holding the daemon open
    _, wait_err = waiter.communicate(timeout=10)
    assert waiter.returncode == 1 and "carries on under its shim" in wait_err
    _, follow_err = follower.communicate(timeout=10)
    assert follower.returncode == 1 and "evd stopped while following run" in follow_err


def test_evd_gpus_shows_fake_gpus_and_what_the_daemons_cuda_visible_devices_hides(
    evd_env: Evd,
) -> None:
    evd_env.env.update({"EVD_FAKE_GPUS": "3x24GiB", "CUDA_VISIBLE_DEVICES": "0,2"})
    evd_env.up()
    shown = evd_env.cli("gpus", check=True).stdout
    assert "GPUs from fake" in shown and "Fake GPU 24 GiB" in shown
    assert "hidden (the daemon's CUDA_VISIBLE_DEVICES or config): GPU 1" in shown
    listing = json.loads(evd_env.cli("gpus", "--json", check=True).stdout)
    assert [gpu["index"] for gpu in listing["gpus"]] == [0, 2]
