"""`evd run file.py a b --k v` turns into a call of the job's function."""

import pytest

from evd.sdk.calling import CallError, bind, split_words


def test_words_split_into_positional_and_options() -> None:
    assert split_words(["a", "--k", "v", "--flag", "--x=1", "b"]) == (
        ["a", "b"],
        {"k": "v", "flag": True, "x": "1"},
    )
    assert split_words(["--dry-run"]) == ([], {"dry_run": True})


def test_annotations_convert_words() -> None:
    def main(n: int, rate: float = 0.1, verbose: bool = False, name: str = "x") -> None:
        return None

    assert bind(main, ["3", "--rate", "0.5", "--verbose", "--name", "bob"]) == (
        [3],
        {"rate": 0.5, "verbose": True, "name": "bob"},
    )


def test_string_annotations_convert_too() -> None:
    namespace: dict[str, object] = {}
    exec("from __future__ import annotations\ndef f(n: int) -> None: pass", namespace)
    assert bind(namespace["f"], ["7"]) == ([7], {})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["1", "2"], "takes 1 positional argument"),
        (["--nope", "1"], "has no parameter --nope"),
        (["x"], "takes a number"),
        ([], "missing a required argument"),
    ],
)
def test_words_that_do_not_fit_say_why(words: list[str], message: str) -> None:
    def main(n: int) -> None:
        return None

    with pytest.raises(CallError, match=message):
        bind(main, words)
