"""evd's terminal UI: a Textual app that attaches to the daemon (``evd tui``).

It is a client like any other: it reaches the daemon only through
``evd.client`` and the wire models in ``evd.models`` (an import-linter contract
keeps it off the store and the daemon's modules). Live changes arrive on the
daemon's events stream; see ``tui.live``.
"""

from tui.app import EvdApp

__all__ = ["EvdApp"]
