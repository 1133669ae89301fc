"""Request bodies checked against the API document's own schemas, before FastAPI reads them.

FastAPI turns a body into the wire dataclasses in pydantic's lax mode, which
takes ``false`` for a number and ``"1"`` for an int; the document
(``evd.daemon.server.api.contract``) says no. ``BodyCheck``, a dependency of
every route, holds each body to its operation's schema: ``schemacheck`` says
yes or no in microseconds on the submit path; only a refused body is looked
at again by ``jsonschema``, for the error that explains it best, in evd's
words where the rule carries them (``x-evd-message``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.routing import APIRoute

from evd.daemon.server.api.contract import MESSAGE
from evd.daemon.server.api.schemacheck import Check, compile_schema
from evd.errors import InvalidRequest

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError


class BodyCheck:
    """A dependency that refuses a JSON body its operation's schema does not allow (422).

    ``document`` gives the completed API document (the app's ``openapi``);
    each operation's validator is built once, on its first request.
    """

    def __init__(self, document: Callable[[], dict[str, Any]]) -> None:
        """Check against what ``document()`` returns."""
        self._document = document
        self._schemas: dict[str, dict[str, Any] | None] = {}
        self._fast: dict[str, Check] = {}  # yes-or-no checks, by operation

    async def __call__(self, request: Request) -> None:
        """Raise ``InvalidRequest`` for a body that breaks the schema (bad JSON is FastAPI's)."""
        route = request.scope.get("route")
        if not isinstance(route, APIRoute) or route.body_field is None:
            return
        key = f"{request.method.lower()} {route.path}"
        schema = self._schema(key, route.path, request.method.lower())
        raw = await request.body()
        if schema is None or not raw:
            return
        try:
            body = json.loads(raw)
        except ValueError:
            return  # FastAPI answers 400 for it
        if self._fast[key](body):  # ~30 µs for a submit
            return
        # Refused: the Python validator finds the error that explains it best. It is
        # imported here, on the rare refusal: ~150 ms less at every daemon start.
        from jsonschema import Draft202012Validator  # noqa: PLC0415
        from jsonschema.exceptions import best_match  # noqa: PLC0415

        error = best_match(Draft202012Validator(schema).iter_errors(body))
        if error is None:
            raise InvalidRequest("body: it breaks the API document's schema (see /openapi.json)")
        where = ".".join(str(part) for part in error.absolute_path) or "body"
        said = _said(error)
        if said and isinstance(error.instance, str | int | float) and len(str(error.instance)) < 80:
            said += f", not {error.instance!r}"
        raise InvalidRequest(f"{where}: {said or error.message}")

    def allows(self, method: str, path: str, body: Any) -> bool:
        """Whether ``body`` passes the operation's schema (the yes-or-no check alone)."""
        key = f"{method} {path}"
        return self._schema(key, path, method) is not None and self._fast[key](body)

    def _schema(self, key: str, path: str, method: str) -> dict[str, Any] | None:
        """The operation's body schema (with the components it refers to), cached."""
        if key not in self._schemas:
            document = self._document()
            content = document["paths"][path][method].get("requestBody", {}).get("content", {})
            schema = content.get("application/json", {}).get("schema")
            if schema is not None:
                schema = {**schema, "components": document["components"]}
                self._fast[key] = compile_schema(schema)
            self._schemas[key] = schema
        return self._schemas[key]


def _said(error: ValidationError) -> str | None:
    """Evd's words for ``error``: the ``x-evd-message`` of its rule or the nearest rule around.

    A message is a string, or a table by keyword (``{"oneOf": ..., "not": ...}``).
    """
    current: ValidationError | None = error
    while current is not None:
        said = current.schema.get(MESSAGE) if isinstance(current.schema, dict) else None
        if isinstance(said, dict):
            said = said.get(str(current.validator))
        if isinstance(said, str):
            return said
        current = current.parent  # type: ignore[assignment]
    return None
