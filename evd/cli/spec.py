"""Options as data: one table per command builds its argparse parser and parses its usual words.

argparse (with ``gettext`` and ``locale`` under it) and the building of a
parser cost an ``evd ps`` more than its call to the daemon. A hot command's
words are parsed here, from its table, when they are plain: known options
spelt out (``--name x``, ``--name=x``, ``-q``), values that convert, the
positionals it takes. Anything else (``-h``, an unknown or abbreviated option,
combined short flags, a value that does not convert or starts with ``-``,
``--``) is left to argparse, built from the same table, which answers or says
what is wrong exactly as before. ``tests/unit/test_spec.py`` checks that both
read every word list alike.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: see evd/__init__.py

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable
    from typing import Any

_UNSET: Any = object()


class Args:
    """Parsed words, one attribute per option and positional, as ``argparse.Namespace``."""

    def __init__(self, **values: Any) -> None:
        """Hold ``values`` as attributes."""
        self.__dict__.update(values)

    def __eq__(self, other: object) -> bool:
        """Equal to another holder of the same attributes (a ``Namespace`` too)."""
        return vars(self) == vars(other) if hasattr(other, "__dict__") else NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, as argparse's Namespace

    def __repr__(self) -> str:
        """``Args(name=..., ...)``."""
        return "Args(" + ", ".join(f"{k}={v!r}" for k, v in sorted(vars(self).items())) + ")"

    if TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any:
            """Any attribute: the parser decides which there are."""


class Option:
    """An option: ``kind`` is ``value`` (takes one), ``append`` (repeatable) or ``flag``.

    ``convert`` turns the word into the value (argparse's ``type``); ``extra``
    (``help``, ``metavar``) goes to argparse only.
    """

    __slots__ = ("choices", "convert", "default", "dest", "extra", "flags", "kind", "required")

    def __init__(
        self,
        *flags: str,
        kind: str = "value",
        convert: Callable[[str], Any] | None = None,
        choices: tuple[str, ...] | None = None,
        default: Any = _UNSET,
        required: bool = False,
        **extra: Any,
    ) -> None:
        """An option spelt ``flags`` (``"-q", "--quiet"``); its name comes from the long one."""
        self.flags = flags
        long = next((flag for flag in flags if flag.startswith("--")), flags[0])
        self.dest = long.lstrip("-").replace("-", "_")
        self.kind = kind
        self.convert = convert
        self.choices = choices
        self.default = default
        self.required = required
        self.extra = extra

    @property
    def initial(self) -> Any:
        """The value when the option is not given (argparse's default for its kind)."""
        if self.default is not _UNSET:
            return self.default
        return False if self.kind == "flag" else None

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        """Add this option to ``parser``."""
        kwargs = dict(self.extra)
        if self.kind == "flag":
            kwargs["action"] = "store_true"
        elif self.kind == "append":
            kwargs["action"] = "append"
        if self.convert is not None:
            kwargs["type"] = self.convert
        if self.choices is not None:
            kwargs["choices"] = self.choices
        if self.default is not _UNSET:
            kwargs["default"] = self.default
        if self.required:
            kwargs["required"] = True
        parser.add_argument(*self.flags, **kwargs)


class Positional:
    """A positional argument: one word, or (``many``) one or more."""

    __slots__ = ("convert", "dest", "extra", "many")

    def __init__(
        self,
        dest: str,
        convert: Callable[[str], Any] | None = None,
        many: bool = False,
        **extra: Any,
    ) -> None:
        """``extra`` (``metavar``) goes to argparse only."""
        self.dest = dest
        self.convert = convert
        self.many = many
        self.extra = extra

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        """Add this positional to ``parser``."""
        kwargs = dict(self.extra)
        if self.convert is not None:
            kwargs["type"] = self.convert
        if self.many:
            kwargs["nargs"] = "+"
        parser.add_argument(self.dest, **kwargs)


class Command:
    """A command's options and positionals; ``extra`` (``usage``, ``description``) for argparse."""

    def __init__(self, name: str, *params: Option | Positional, **extra: Any) -> None:
        """The command ``name`` taking ``params``, in the order its help lists them."""
        self.name = name
        self.params = params
        self.extra = extra
        self.options = {
            flag: param for param in params if isinstance(param, Option) for flag in param.flags
        }
        self.positionals = [param for param in params if isinstance(param, Positional)]
        self.takes_value = frozenset(
            flag for flag, option in self.options.items() if option.kind != "flag"
        )

    def add_to(
        self, sub: argparse._SubParsersAction[argparse.ArgumentParser], help_line: str
    ) -> argparse.ArgumentParser:
        """Add this command's parser to ``sub``; return it."""
        parser = sub.add_parser(self.name, help=help_line, **self.extra)
        for param in self.params:
            param.add_to(parser)
        return parser

    def parse(self, words: list[str]) -> Args | None:
        """``words`` as argparse would read them, or ``None`` to leave them to argparse."""
        values = {param.dest: param.initial for param in self.params if isinstance(param, Option)}
        loose: list[str] = []
        closed = False  # positionals, then an option: argparse may take no more
        index = 0
        while index < len(words):
            word = words[index]
            if word.startswith("-") and word != "-":
                closed = bool(loose)
                taken = self._take_option(words, index, values)
                if taken is None:
                    return None
                index = taken
            elif closed:
                return None
            else:
                loose.append(word)
                index += 1
        if any(values[o.dest] is None for o in self.options.values() if o.required):
            return None
        return self._with_positionals(values, loose)

    def _take_option(self, words: list[str], index: int, values: dict[str, Any]) -> int | None:
        """Read the option at ``words[index]`` into ``values``; the index after it, or ``None``."""
        word = words[index]
        name, equals, text = word.partition("=") if word.startswith("--") else (word, "", "")
        option = self.options.get(name)
        if option is None or (option.kind == "flag" and equals):
            return None
        if option.kind == "flag":
            values[option.dest] = True
            return index + 1
        if not equals:
            index += 1
            text = words[index] if index < len(words) else ""
        if not text or text.startswith("-"):
            return None
        value = _converted(option.convert, text)
        if value is _UNSET or (option.choices is not None and value not in option.choices):
            return None
        if option.kind == "append":
            values[option.dest] = [*(values[option.dest] or []), value]
        else:
            values[option.dest] = value
        return index + 1

    def _with_positionals(self, values: dict[str, Any], loose: list[str]) -> Args | None:
        if len(self.positionals) > 1:  # argparse shares words out by pattern: leave it that
            return None
        if not self.positionals:
            return Args(**values) if not loose else None
        positional = self.positionals[0]
        if not loose or (len(loose) > 1 and not positional.many):
            return None
        converted = [_converted(positional.convert, word) for word in loose]
        if any(value is _UNSET for value in converted):
            return None
        values[positional.dest] = converted if positional.many else converted[0]
        return Args(**values)


def _converted(convert: Callable[[str], Any] | None, text: str) -> Any:
    """``convert(text)``, or ``_UNSET`` when it refuses the word (argparse will say why)."""
    if convert is None:
        return text
    try:
        return convert(text)
    except Exception:  # a type's error of any kind is argparse's to report
        return _UNSET
