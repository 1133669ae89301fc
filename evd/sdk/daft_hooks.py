"""evd inside a Daft job, installed by ``evd.sdk.boot`` when the job imports Daft.

* **Progress**: a subscriber (``daft.attach_subscriber``) turns query and
  operator events into the run's progress: per query, the mean over the
  physical plan's operators of how far each is (finished: 1; running: rows
  seen against the planner's row estimate, at most 0.99), with the first
  unfinished operator's name and rows. Written through ``evd.sdk.progress``.
* **A Ray cluster** (``evd run --cluster``): the job joins it with
  ``ray.init`` before its first query, shipping its environment as Ray's
  runtime env, and Daft's Ray runner (``DAFT_RUNNER=ray``) uses that session.
* **Threads**: on the native runner, Daft's compute pool gets as many threads
  as the run has CPUs (``EVD_CPUS``), not one per core of the machine.
* **A device per UDF worker**: Daft starts each UDF worker process with the
  job's whole ``CUDA_VISIBLE_DEVICES``. evd notes each UDF's ``gpus`` when it
  is built and, as each worker starts, gives it that many of the job's
  devices, the least used first (fractions share a device). A UDF that asked
  for no GPU, or one evd cannot identify, keeps Daft's behaviour.

Daft's subscriber API is marked experimental; everything here is guarded so
that a Daft that changed shape runs the job unhooked rather than failing it.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import socket
import subprocess
import sys
import threading
import types
from typing import Any

from evd.sdk.progress import report

WORKER_VARIABLE = "EVD_UDF_WORKER"


# -- progress -------------------------------------------------------------------------


def _plan_nodes(physical_plan: str) -> dict[int, tuple[str, int]]:
    """Each operator of a physical plan: node id -> (name, rows it is expected to take in)."""
    nodes: dict[int, tuple[str, int]] = {}

    def rows_of(node: dict[str, Any]) -> int:
        stats = node.get("approx_stats", {}).get("approx_stats", {})
        return int(stats.get("num_rows") or 0)

    def walk(node: dict[str, Any]) -> None:
        children = node.get("children") or []
        expected = sum(rows_of(child) for child in children) if children else rows_of(node)
        if "id" in node:
            nodes[int(node["id"])] = (str(node.get("name", "?")), expected)
        for child in children:
            walk(child)

    walk(json.loads(physical_plan))
    return nodes


def _count(stat: Any) -> int:
    """The value of one Daft stat (``(StatType, value)``) as a count."""
    value = stat[1] if isinstance(stat, tuple) else stat
    return int(value) if isinstance(value, int | float) else 0


class QueryProgress:
    """How far the current query is, from Daft's events (pure bookkeeping)."""

    def __init__(self) -> None:
        """No query yet."""
        self.queries = 0
        self.nodes: dict[int, tuple[str, int]] = {}
        self.rows: dict[int, int] = {}
        self.finished: set[int] = set()

    def start_query(self) -> None:
        """A new query began: its operators are not known until it executes."""
        self.queries += 1
        self.nodes, self.rows, self.finished = {}, {}, set()

    def plan(self, physical_plan: str) -> None:
        """The query's physical plan, with the planner's row estimates."""
        self.nodes = _plan_nodes(physical_plan)

    def stats(self, stats: dict[int, dict[str, Any]]) -> None:
        """Rows each operator has taken in (or produced, for sources) so far."""
        for node_id, values in stats.items():
            taken = values.get("rows.in", values.get("rows.out"))
            if taken is not None:
                self.rows[int(node_id)] = _count(taken)

    def finish(self, node_id: int) -> None:
        """An operator is done."""
        self.finished.add(int(node_id))

    def fraction(self) -> float:
        """The query's progress: the mean of its operators' (finished: 1)."""
        if not self.nodes:
            return 0.0
        total = 0.0
        for node_id, (_name, expected) in self.nodes.items():
            if node_id in self.finished:
                total += 1.0
            elif expected > 0:
                total += min(0.99, self.rows.get(node_id, 0) / expected)
        return total / len(self.nodes)

    def current(self) -> tuple[str | None, int]:
        """The first unfinished operator (by node id: sources come first) and its rows."""
        for node_id in sorted(self.nodes):
            if node_id not in self.finished:
                return self.nodes[node_id][0], self.rows.get(node_id, 0)
        return None, max(self.rows.values(), default=0)

    def fields(self) -> dict[str, Any]:
        """The progress report."""
        operator, rows = self.current()
        return {
            "progress": round(self.fraction(), 4),
            "source": "daft",
            "query": self.queries,
            "operator": operator,
            "rows": rows,
        }


def progress_subscriber(base: type) -> Any:
    """An instance of evd's subscriber, built on Daft's ``Subscriber`` class."""
    lock = threading.Lock()
    state = QueryProgress()

    def send() -> None:
        report(state.fields())

    class EvdProgress(base):  # type: ignore[misc]
        """Daft query events -> the evd run's progress."""

        def on_event(self, event: Any) -> None:
            kind = type(event).__name__
            with lock:
                if kind == "QueryStarted":
                    state.start_query()
                    send()
                elif kind == "ExecutionStarted":
                    state.plan(event.physical_plan)
                elif kind == "Stats":
                    state.stats(event.stats)
                    send()
                elif kind == "OperatorFinished":
                    state.finish(event.node_id)
                    send()
                elif kind in ("QueryFinished", "ExecutionFinished"):
                    state.finished.update(state.nodes)
                    send()

    return EvdProgress()


def _size_threads() -> None:
    cpus = os.environ.get("EVD_CPUS")
    if not cpus or os.environ.get("DAFT_RUNNER", "native") != "native":
        return
    native = importlib.import_module("daft.daft")
    native.set_compute_runtime_num_worker_threads(max(1, math.ceil(float(cpus) - 1e-9)))


def is_this_machine(address: str) -> bool:
    """Whether a Ray address names a cluster on this machine (its workers see our files)."""
    host = address.removeprefix("ray://").rpartition(":")[0].strip("[]")
    if address in ("auto", "local") or host in ("127.0.0.1", "localhost", "::1", ""):
        return True
    try:
        mine = {socket.gethostname(), socket.getfqdn()}
        mine.update(str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None))
        return host in mine or socket.gethostbyname(host) in mine
    except OSError:
        return False


def _join_cluster(address: str) -> None:
    """Connect to the job's Ray cluster with its environment as Ray's runtime env.

    On this machine the workers run the job's own interpreter (``py_executable``,
    nothing to install); elsewhere Ray installs the job's requirements (``pip``).
    """
    ray = importlib.import_module("ray")
    if ray.is_initialized():
        return
    runtime_env = json.loads(os.environ.get("EVD_RAY_RUNTIME_ENV") or "{}")
    if is_this_machine(address):
        runtime_env.pop("pip", None)
        runtime_env["py_executable"] = sys.executable
    ray.init(address=address, runtime_env=runtime_env)


def on_daft(daft: types.ModuleType) -> None:
    """``daft`` was imported by the job: join its cluster, size its threads, report progress."""
    if os.environ.get(WORKER_VARIABLE):
        return  # a UDF worker runs no queries of its own
    cluster = os.environ.get("EVD_CLUSTER")
    if cluster:
        _join_cluster(cluster)
    _size_threads()
    base = importlib.import_module("daft.subscribers.abc").Subscriber
    daft.attach_subscriber("evd", progress_subscriber(base))


# -- one device per UDF worker ---------------------------------------------------------

_udf_gpus: dict[str, float] = {}  # a UDF call's id -> the GPUs each of its workers asked for
_GPUS_ARG = 8  # position of ``gpus`` in daft.daft.row_wise_udf / batch_udf


def _recording(build: Any) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        gpus = kwargs.get("gpus", args[_GPUS_ARG] if len(args) > _GPUS_ARG else 0)
        if args and isinstance(args[0], str) and isinstance(gpus, int | float):
            _udf_gpus[args[0]] = float(gpus)
        return build(*args, **kwargs)

    return wrapper


def on_udf_v2(module: types.ModuleType) -> None:
    """Note the ``gpus`` of every UDF the job builds (by its call id)."""
    for name in ("row_wise_udf", "batch_udf"):
        if hasattr(module, name):
            setattr(module, name, _recording(getattr(module, name)))


def gpus_of(udf_description: str) -> float | None:
    """The GPUs per worker of the UDF an expression calls (``None``: not known)."""
    for call_id, gpus in _udf_gpus.items():
        if udf_description.startswith(call_id + "("):
            return gpus
    return None


class DeviceLeases:
    """Hands the job's devices to UDF workers, the least used first."""

    def __init__(self, devices: list[str]) -> None:
        """Lease from ``devices`` (the job's ``CUDA_VISIBLE_DEVICES``)."""
        self.devices = devices
        self.held: list[tuple[Any, list[str], float]] = []  # (process, devices, weight each)
        self.warned = False

    def lease(self, gpus: float) -> list[str]:
        """The devices for one new worker whose UDF asked for ``gpus``."""
        self.held = [held for held in self.held if held[0] is None or held[0].poll() is None]
        count = min(len(self.devices), max(1, math.ceil(gpus - 1e-9)))
        load = dict.fromkeys(self.devices, 0.0)
        for _process, devices, weight in self.held:
            for device in devices:
                load[device] = load.get(device, 0.0) + weight
        ranked = sorted(self.devices, key=lambda d: (load[d], self.devices.index(d)))
        chosen = sorted(ranked[:count], key=self.devices.index)
        weight = gpus / count
        if any(load[d] + weight > 1 + 1e-9 for d in chosen) and not self.warned:
            self.warned = True
            print(
                f"evd: more GPU UDF workers than this job's {len(self.devices)} GPU(s) hold;"
                " workers share devices",
                file=sys.stderr,
            )
        self.held.append((None, chosen, weight))
        return chosen

    def started(self, process: Any) -> None:
        """The worker of the last lease started as ``process`` (its end frees the lease)."""
        _none, devices, weight = self.held[-1]
        self.held[-1] = (process, devices, weight)


class _WorkerSubprocess(types.ModuleType):
    """``subprocess`` as Daft's UDF module sees it: ``Popen`` gives each worker its devices."""

    def __init__(self, leases: DeviceLeases, local: threading.local) -> None:
        super().__init__("subprocess")
        self._leases = leases
        self._local = local
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(subprocess, name)

    def Popen(self, *args: Any, **kwargs: Any) -> Any:
        """Start a UDF worker with its own devices."""
        env = dict(kwargs.get("env") or os.environ)
        env[WORKER_VARIABLE] = "1"
        gpus = getattr(self._local, "gpus", None)
        if not gpus:
            kwargs["env"] = env
            return subprocess.Popen(*args, **kwargs)
        with self._lock:
            devices = self._leases.lease(gpus)
            env["CUDA_VISIBLE_DEVICES"] = ",".join(devices)
            kwargs["env"] = env
            process = subprocess.Popen(*args, **kwargs)
            self._leases.started(process)
        return process


def on_udf_execution(module: types.ModuleType) -> None:
    """Give each UDF worker its own device(s) of the job's."""
    devices = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")]
    devices = [d for d in devices if d]
    handle = getattr(module, "UdfHandle", None)
    if handle is None or os.environ.get(WORKER_VARIABLE):
        return
    local = threading.local()
    module.subprocess = _WorkerSubprocess(DeviceLeases(devices), local)  # type: ignore[attr-defined]
    if not devices:
        return
    original = handle.__init__

    def init(self: Any, udf_expr: Any, *args: Any, **kwargs: Any) -> None:
        local.gpus = gpus_of(repr(udf_expr))
        try:
            original(self, udf_expr, *args, **kwargs)
        finally:
            local.gpus = None

    handle.__init__ = init
