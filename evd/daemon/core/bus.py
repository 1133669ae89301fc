"""Fan-out of committed run events to live subscribers (the SSE stream, waiters)."""

from __future__ import annotations

import asyncio
from typing import Any

# A subscriber that falls this far behind is cut off; it resumes from the store
# with the last event id it saw, so nothing is lost, only replayed.
QUEUE_LIMIT = 10_000


class Subscription:
    """One subscriber's queue of event payloads; ``None`` means it was cut off."""

    def __init__(self) -> None:
        """Start with an empty queue."""
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.overflowed = False


class EventBus:
    """Publishes payloads to every subscription, in order, without blocking the publisher."""

    def __init__(self) -> None:
        """No subscribers yet."""
        self._subscriptions: set[Subscription] = set()

    @property
    def has_subscribers(self) -> bool:
        """Whether anyone listens (publishers skip building payloads otherwise)."""
        return bool(self._subscriptions)

    def subscribe(self) -> Subscription:
        """Add a subscription; pair with ``unsubscribe``."""
        subscription = Subscription()
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Remove a subscription."""
        self._subscriptions.discard(subscription)

    def publish(self, payload: dict[str, Any]) -> None:
        """Queue ``payload`` for every subscriber; cut off those too far behind."""
        for subscription in list(self._subscriptions):
            if subscription.queue.qsize() >= QUEUE_LIMIT:
                subscription.overflowed = True
                subscription.queue.put_nowait(None)
                self._subscriptions.discard(subscription)
            else:
                subscription.queue.put_nowait(payload)

    def close(self) -> None:
        """End every subscription (the daemon is stopping)."""
        for subscription in list(self._subscriptions):
            subscription.queue.put_nowait(None)
        self._subscriptions.clear()
