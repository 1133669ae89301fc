"""The store: every SQL statement of evd lives in this package."""

from evd.store.records import GroupRecord, RunRecord
from evd.store.store import Store

__all__ = ["GroupRecord", "RunRecord", "Store"]
