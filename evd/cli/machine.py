"""``evd gpus``: the machine's devices and what uses them."""

from __future__ import annotations

import argparse
import json
from typing import Any

from evd.client import Client

GIB = 1024**3


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``gpus``."""
    gpus = sub.add_parser("gpus", help="the machine's GPUs, their memory and who uses them")
    gpus.add_argument("--json", action="store_true", help="print JSON")
    sub.add_parser("drain", help="start nothing new (running runs finish) until `evd resume`")
    sub.add_parser("resume", help="start queued runs again after `evd drain`")


def _gpu_line(gpu: dict[str, Any]) -> str:
    used, total = gpu["memory_used"] / GIB, gpu["memory_total"] / GIB
    util = "-" if gpu["utilization"] is None else f"{gpu['utilization']}%"
    pids = ", ".join(str(p["pid"]) for p in gpu["processes"]) or "-"
    problem = f"  DRAINED: {gpu['problem']}" if gpu["problem"] else ""
    return (
        f"{gpu['index']:<4}{gpu['name'][:28]:<29}{used:6.1f} / {total:5.1f} GiB  {util:>5}"
        f"  {pids}{problem}"
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
        print(f"{'GPU':<4}{'NAME':<29}{'MEMORY USED':>17}  {'UTIL':>5}  PROCESSES")
        for gpu in inventory["gpus"]:
            print(_gpu_line(gpu))
    if inventory["hidden"]:
        hidden = ", ".join(map(str, inventory["hidden"]))
        print(f"hidden by the daemon's CUDA_VISIBLE_DEVICES: GPU {hidden}")
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
