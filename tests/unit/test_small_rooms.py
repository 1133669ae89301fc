"""Small rooms: no module of evd or its TUI is over 400 lines."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LIMIT = 400


def test_no_module_is_over_400_lines() -> None:
    modules = sorted([*(REPO / "evd").rglob("*.py"), *(REPO / "tui").rglob("*.py")])
    assert modules
    big = {
        str(path.relative_to(REPO)): count
        for path in modules
        if (count := len(path.read_text().splitlines())) > LIMIT
    }
    assert big == {}, f"split these into rooms of their own: {big}"
