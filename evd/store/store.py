"""``Store``: evd's SQLite file, one face over a table class per resource.

Each resource's SQL lives in its own module (``runs``, ``groups``, ``catalog``,
``triggers``, ``cache``); they share one ``Connection`` (transactions, the error a full
disk gives). Nothing outside ``evd.store`` says ``SELECT``.
"""

from __future__ import annotations

from evd.store.cache import CacheTable
from evd.store.catalog import CatalogTable
from evd.store.durations import DurationsTable
from evd.store.groups import GroupsTable
from evd.store.runs import RunsTable
from evd.store.spans import SpansTable
from evd.store.triggers import TriggersTable


class Store(
    RunsTable, GroupsTable, CatalogTable, TriggersTable, CacheTable, DurationsTable, SpansTable
):
    """Runs, groups, environments, volumes, watches, schedules, the cache, durations, spans."""
