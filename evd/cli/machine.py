"""``evd gpus``: the machine's devices and what uses them."""

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
    sub.add_parser("drain", help=help_of("drain"))
    sub.add_parser("resume", help=help_of("resume"))


def _holder(run: dict[str, Any]) -> str:
    held = f"run {run['id']} ({run['name']})"
    if run["share"] >= 1:
        return held
    return f"{held} {run['share']:g} share, {run['gpu_memory'] / GIB:.1f} GiB"


def _gpu_line(gpu: dict[str, Any]) -> str:
    used, total = gpu["memory_used"] / GIB, gpu["memory_total"] / GIB
    util = "-" if gpu["utilization"] is None else f"{gpu['utilization']}%"
    holders = [
        f"run {run['id']} ({run['name']})"
        + (
            ""
            if run["share"] >= 1
            else f" {run['share']:g} share, {run['gpu_memory'] / GIB:.1f} GiB"
        )
        for run in gpu.get("runs", [])
    ]
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
