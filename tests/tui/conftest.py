"""Fixtures of the TUI tests: a fake daemon, a frozen clock, no cursor blink."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from textual.widgets import Input

from tests.tui.fakes import NOW, FakeBackend
from tui.app import EvdApp


@pytest.fixture(autouse=True)
def frozen_time() -> float:
    """The time the app's clock shows in every test (runtimes, "ago", next fires)."""
    return NOW


@pytest.fixture(autouse=True)
def no_cursor_blink(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inputs never blink, so a screenshot does not depend on when it is taken."""
    original = Input.__init__

    def steady(self: Input, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.cursor_blink = False

    monkeypatch.setattr(Input, "__init__", steady)


@pytest.fixture
def fake() -> Iterator[FakeBackend]:
    """A daemon with the sample runs; stopped afterwards so its stream thread ends."""
    backend = FakeBackend()
    yield backend
    backend.stop()


@pytest.fixture
def app(fake: FakeBackend, frozen_time: float) -> EvdApp:
    """The app on the fake daemon, at the frozen time."""
    return EvdApp(lambda: fake, clock=lambda: frozen_time)
