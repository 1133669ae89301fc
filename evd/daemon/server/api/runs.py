"""Runs: submit, list, show, cancel, wait."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from evd.daemon.monitor.metrics import read_series
from evd.daemon.server.api.common import (
    CONFLICT,
    MAX_ID,
    RunId,
    engine_of,
    json_list_response,
    json_response,
)
from evd.daemon.submit import specfile
from evd.daemon.views import run_view
from evd.errors import Conflict, InvalidRequest, RunNotFound
from evd.models import RerunRequest, Run, RunState, SubmitRequest
from evd.sdk.checks import LABEL_KEY, LABEL_VALUE
from evd.sdk.launch import RESULT_FILE

router = APIRouter(prefix="/v1/runs", tags=["runs"])

MAX_WAIT = 300.0
_STATE = "|".join(state.value for state in RunState)
STATES = f"^({_STATE})(,({_STATE}))*$"  # `queued`, `queued,running`


@router.post("", status_code=201, response_model=Run)
async def submit(request: Request, body: SubmitRequest) -> Response:
    """Queue a job; it starts at once when a slot is free."""
    engine = engine_of(request)
    record = await engine.submit(body)
    return json_response(run_view(engine.board, record).to_dict(), status_code=201)


@router.post("/{run_id}/rerun", status_code=201, response_model=Run, responses=CONFLICT)
async def rerun(request: Request, run_id: RunId, body: RerunRequest | None = None) -> Response:
    """Submit what a run ran once more (its job file as it is now)."""
    engine = engine_of(request)
    record = await engine.intake.rerun(engine.ledger.get(run_id), (body or RerunRequest()).args)
    return json_response(run_view(engine.board, record).to_dict(), status_code=201)


jobs = APIRouter(prefix="/v1/jobs", tags=["runs"])


@jobs.post("/{name}/run", status_code=201, response_model=Run, responses=CONFLICT)
async def run_named(request: Request, name: str, body: RerunRequest | None = None) -> Response:
    """Start the job called ``name`` again, as its newest run ran (the HTTP trigger's one POST)."""
    engine = engine_of(request)
    latest = engine.store.latest_run_named(name)
    if latest is None:
        raise RunNotFound(
            f"no job called {name!r} has run here yet: run it once (`evd run FILE.py`),"
            " then it can be started by name"
        )
    record = await engine.intake.rerun(latest, (body or RerunRequest()).args)
    return json_response(run_view(engine.board, record).to_dict(), status_code=201)


def parse_labels(items: list[str]) -> dict[str, str]:
    """``KEY=VALUE`` words as labels (422 for one that is not)."""
    labels = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not LABEL_KEY.fullmatch(key) or not LABEL_VALUE.fullmatch(value):
            raise InvalidRequest(f"label filter {item!r}: give KEY=VALUE, e.g. team=vision")
        labels[key] = value
    return labels


@router.get("", response_model=list[Run])
async def list_runs(
    request: Request,
    *,
    state: Annotated[
        list[str] | None,
        Query(description="only runs in these states (repeat, or a,b)"),
    ] = None,
    limit: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="at most this many, newest first")
    ] = None,
    group: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="only the runs of this group")
    ] = None,
    before: Annotated[
        int | None,
        Query(ge=1, le=MAX_ID, description="only runs older than this one (the next page)"),
    ] = None,
    q: Annotated[
        str | None, Query(max_length=200, description="only runs whose name contains this, or id")
    ] = None,
    label: Annotated[
        list[str] | None,
        Query(description="only runs with this label, KEY=VALUE (repeat: all of them)"),
    ] = None,
) -> Response:
    """Runs, newest first."""
    engine = engine_of(request)
    labels = parse_labels(label or [])
    states = None
    if state:
        names = [name for item in state for name in item.split(",") if name]
        try:
            states = [RunState(name) for name in names]
        except ValueError:
            known = ", ".join(s.value for s in RunState)
            raise InvalidRequest(f"unknown state in {names}; states are: {known}") from None
    records = engine.store.iter_runs(states, limit, group, before=before, text=q, labels=labels)
    return json_list_response(
        run_view(engine.board, record, forecast=True).to_dict() for record in records
    )


@router.get("/{run_id}", response_model=Run)
async def show(request: Request, run_id: RunId) -> Response:
    """One run with its recorded state changes."""
    engine = engine_of(request)
    return json_response(
        run_view(engine.board, engine.ledger.get(run_id), with_events=True, forecast=True).to_dict()
    )


@router.post("/{run_id}/cancel", response_model=Run, responses=CONFLICT)
async def cancel(request: Request, run_id: RunId) -> Response:
    """Cancel a queued run, or stop a running one (SIGTERM to its group, SIGKILL after grace)."""
    engine = engine_of(request)
    return json_response(run_view(engine.board, engine.cancellation.cancel(run_id)).to_dict())


@router.get("/{run_id}/wait", response_model=Run)
async def wait(
    request: Request,
    run_id: RunId,
    timeout: Annotated[float, Query(gt=0, le=MAX_WAIT)] = 30.0,
) -> Response:
    """The run once it is final, or as it is after ``timeout`` seconds (long poll)."""
    engine = engine_of(request)
    record = await engine.ledger.wait_final(run_id, timeout)
    return json_response(run_view(engine.board, record).to_dict())


@router.get("/{run_id}/result", responses=CONFLICT)
async def result(request: Request, run_id: RunId) -> Response:
    """The value the job's ``main`` returned (``{"result": ...}``), once the run has ended."""
    engine = engine_of(request)
    record = engine.ledger.get(run_id)
    path = engine.state.run_dir(run_id) / RESULT_FILE
    if not record.state.is_final:
        raise Conflict(f"run {run_id} is still {record.state.value}; `evd wait {run_id}` first")
    try:
        value = json.loads(path.read_text())
    except FileNotFoundError:
        raise Conflict(
            f"run {run_id} has no result: only a job main that returns a JSON value"
            " (not an int, which is its exit code) leaves one"
        ) from None
    except ValueError:
        raise Conflict(f"run {run_id}'s result file is damaged: {path}") from None
    return json_response({"result": value})


@router.get("/{run_id}/spec", responses=CONFLICT)
async def spec(request: Request, run_id: RunId) -> Response:
    """The job spec the run ran with (``{"run_id": N, "spec": {...}}``): ``evd run`` replays it."""
    engine = engine_of(request)
    kept = engine.ledger.get(run_id).spec or {}
    if not kept.get("request"):
        raise Conflict(f"run {run_id} predates job specs: evd did not keep its request")
    return json_response(
        {"run_id": run_id, "spec": specfile.document(kept["request"], kept.get("jobspec"))}
    )


@router.get("/{run_id}/metrics")
async def metrics(request: Request, run_id: RunId) -> Response:
    """The run's peaks and its sampled series (CPU %, RSS bytes, GPU memory per device)."""
    engine = engine_of(request)
    record = engine.ledger.get(run_id)
    series = read_series(engine.state.run_dir(run_id))
    peaks = record.metrics or engine.usage.peaks(run_id) or {}
    return json_response({"run_id": run_id, "peaks": peaks, "series": series})
