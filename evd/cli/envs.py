"""``evd envs [ls|build|prune]`` and ``evd volumes add|ls|rm``."""

from __future__ import annotations

import argparse
import json
import os

from evd.cli.commands import help_of
from evd.cli.types import duration
from evd.client import Client
from evd.describe import ago
from evd.models import EnvBuildRequest, EnvInfo, VolumeInfo
from evd.units import format_size


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``envs`` and ``volumes``."""
    envs = sub.add_parser("envs", help=help_of("envs"))
    env_sub = envs.add_subparsers(dest="envs_command", metavar="ACTION")
    ls = env_sub.add_parser("ls", help="built environments: size, last use, users")
    ls.add_argument("--json", action="store_true", help="print a JSON list")
    build = env_sub.add_parser("build", help="build the environment a job file needs, now")
    build.add_argument("target", metavar="FILE|NAME", help="a job file, or an env's name")
    prune = env_sub.add_parser("prune", help="remove environments no active run needs")
    prune.add_argument(
        "--older-than", type=duration, default=0.0, help="only those unused this long (e.g. 7d)"
    )
    volumes = sub.add_parser("volumes", help=help_of("volumes"))
    vol_sub = volumes.add_subparsers(dest="volumes_command", metavar="ACTION")
    add = vol_sub.add_parser("add", help="define a volume: evd volumes add NAME PATH")
    add.add_argument("name")
    add.add_argument("path")
    add.add_argument("-q", "--quiet", action="store_true", help="print only the name")
    vls = vol_sub.add_parser("ls", help="list volumes")
    vls.add_argument("--json", action="store_true", help="print a JSON list")
    rm = vol_sub.add_parser("rm", help="forget a volume (its data stays)")
    rm.add_argument("name")


def _env_table(envs: list[EnvInfo]) -> str:
    rows = [("HASH", "PYTHON", "SIZE", "LAST USED", "RUNS", "PACKAGES")]
    for env in envs:
        packages = ", ".join(env.requirements) or "-"
        if env.torch:  # what its wheel was built for: the line people look for
            packages = f"[{env.torch}] {packages}"
        rows.append(
            (
                env.hash,
                env.python,
                format_size(env.size),
                ago(env.last_used_at),
                f"{env.active_runs} active / {env.runs}",
                packages[:80],
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])) + "  " + row[-1]
        for row in rows
    )


def cmd_envs(args: argparse.Namespace) -> int:
    """List, build or prune environments."""
    action = args.envs_command or "ls"
    with Client() as client:
        if action == "ls":
            envs = client.list_envs()
            if getattr(args, "json", False):
                print(json.dumps([env.__dict__ for env in envs], indent=2))
            else:
                print(_env_table(envs) if envs else "no environments built yet")
        elif action == "build":
            target = args.target
            is_file = target.endswith(".py")
            request = EnvBuildRequest(
                file=target if is_file else None,
                environment=None if is_file else target,
                cwd=os.getcwd(),
            )
            env = client.build_env(request)
            print(f"environment {env.hash} ready: Python {env.python}, {env.path}")
        else:
            removed = client.prune_envs(args.older_than)
            print(f"removed {len(removed)} environment(s)" + "".join(f"\n  {h}" for h in removed))
    return 0


def _volume_table(volumes: list[VolumeInfo]) -> str:
    width = max(len(v.name) for v in volumes)
    lines = [f"{'NAME'.ljust(width)}  PATH"]
    for volume in volumes:
        missing = "" if volume.exists else "  (missing!)"
        lines.append(f"{volume.name.ljust(width)}  {volume.path}{missing}")
    return "\n".join(lines)


def cmd_volumes(args: argparse.Namespace) -> int:
    """Add, list or remove volumes."""
    action = args.volumes_command or "ls"
    with Client() as client:
        if action == "add":
            volume = client.add_volume(args.name, os.path.abspath(args.path))
            print(volume.name if args.quiet else f"volume {volume.name} = {volume.path}")
        elif action == "rm":
            client.remove_volume(args.name)
            print(f"removed volume {args.name} (its data is untouched)")
        else:
            volumes = client.list_volumes()
            if getattr(args, "json", False):
                print(json.dumps([v.__dict__ for v in volumes], indent=2))
            else:
                print(
                    _volume_table(volumes)
                    if volumes
                    else "no volumes (`evd volumes add NAME PATH`)"
                )
    return 0
