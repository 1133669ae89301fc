"""``evd gpus``, ``evd workers``, ``evd drain|resume``: the machine and what uses it."""

from __future__ import annotations

import argparse
import json
from typing import Any

from evd.cli.commands import help_of
from evd.client import Client
from evd.units import GIB


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``gpus``."""
    gpus = sub.add_parser("gpus", help=help_of("gpus"))
    gpus.add_argument("--json", action="store_true", help="print JSON")
    workers = sub.add_parser("workers", help=help_of("workers"))
    workers.add_argument("--json", action="store_true", help="print a JSON list")
    sub.add_parser("drain", help=help_of("drain"))
    sub.add_parser("resume", help=help_of("resume"))


def _holder(what: str, holder: dict[str, Any]) -> str:
    held = f"{what} {holder['id']} ({holder['name']})"
    if holder["share"] >= 1:
        return held
    return f"{held} {holder['share']:g} share, {holder['gpu_memory'] / GIB:.1f} GiB"


def _gpu_line(gpu: dict[str, Any]) -> str:
    used, total = gpu["memory_used"] / GIB, gpu["memory_total"] / GIB
    util = "-" if gpu["utilization"] is None else f"{gpu['utilization']}%"
    holders = [_holder("run", run) for run in gpu.get("runs", [])]
    holders += [_holder("worker", worker) for worker in gpu.get("workers", [])]
    pids = ", ".join(str(p["pid"]) for p in gpu["processes"])
    outside = gpu.get("memory_external", 0)
    held = "; ".join(holders) or "free"
    extra = f"  pids {pids}" if pids else ""
    if outside:
        extra += f"  {outside / GIB:.1f} GiB used outside evd"
    problem = f"  DRAINED: {gpu['problem']}" if gpu["problem"] else ""
    return (
        f"{gpu['index']:<4}{gpu['name'][:28]:<29}{used:6.1f} / {total:5.1f} GiB  {util:>5}"
        f"  {held}{extra}{problem}"
    )


def cmd_gpus(args: argparse.Namespace) -> int:
    """Print the inventory."""
    with Client() as client:
        inventory = client.gpus()
    if args.json:
        print(json.dumps(inventory, indent=2))
        return 0
    print(
        f"{inventory['cpus']} CPUs, {inventory['memory'] / GIB:.1f} GiB memory;"
        f" GPUs from {inventory['source']}"
    )
    if inventory["note"]:
        print(inventory["note"])
    if inventory["gpus"]:
        print(f"{'GPU':<4}{'NAME':<29}{'MEMORY USED':>17}  {'UTIL':>5}  HELD BY")
        for gpu in inventory["gpus"]:
            print(_gpu_line(gpu))
    if inventory["hidden"]:
        hidden = ", ".join(map(str, inventory["hidden"]))
        print(f"hidden (the daemon's CUDA_VISIBLE_DEVICES or config): GPU {hidden}")
    if inventory.get("reserved_cpus") or inventory.get("reserved_memory"):
        print(
            f"kept back for the desktop: {inventory['reserved_cpus']:g} CPUs,"
            f" {inventory['reserved_memory'] / GIB:.1f} GiB"
        )
    limits = inventory.get("memory_limits")
    if limits:
        print(f"memory limits: {limits['mechanism']}: {limits['description']}")
    return 0


def cmd_drain(args: argparse.Namespace) -> int:
    """``evd drain`` (start nothing new) or ``evd resume`` (start again)."""
    on = args.command == "drain"
    with Client() as client:
        client.drain(on)
    if on:
        print("draining: nothing new starts; running runs finish (`evd resume` to undo)")
    else:
        print("resumed: queued runs start as resources free up")
    return 0


def cmd_workers(args: argparse.Namespace) -> int:
    """List warm workers: the job each serves, its state and what it holds."""
    with Client() as client:
        workers = client.list_workers()
    if args.json:
        print(json.dumps([worker.__dict__ for worker in workers], indent=2))
        return 0
    if not workers:
        print("no warm workers (a job declares `reusable` to get one)")
        return 0
    rows = [("ID", "JOB", "STATE", "PID", "RUNS", "HOLDS")]
    for worker in workers:
        state = f"serving run {worker.serving}" if worker.serving else worker.state
        gpus = f", GPU {','.join(map(str, worker.gpus))}" if worker.gpus else ""
        memory = f", {worker.memory / GIB:.1f} GiB" if worker.memory else ""
        holds = f"{worker.cpus:g} CPU{memory}{gpus}"
        rows.append((str(worker.id), worker.name, state, str(worker.pid), str(worker.runs), holds))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    return 0
