"""Friendly errors for mistyped keyword arguments ("did you mean eta?")."""

from __future__ import annotations

import difflib
import functools
import inspect
from typing import Callable, Mapping, TypeVar

__all__ = ["suggest_keywords", "did_you_mean"]

F = TypeVar("F", bound=Callable)


def did_you_mean(word: str, choices, aliases: Mapping[str, str] | None = None) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``choices`` (or an alias), else ``""``."""
    key = word.lower().replace("-", "_")
    if aliases and key in aliases:
        return f"; did you mean {aliases[key]!r}?"
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def suggest_keywords(aliases: Mapping[str, str] | None = None,
                     hints: Callable[[str], str | None] | None = None) -> Callable[[F], F]:
    """Decorate a function so that an unknown keyword argument raises a
    ``TypeError`` naming the closest valid one.

    The signature stays as written (editors and ``help()`` see every
    parameter); the check runs only when binding fails.

    Parameters
    ----------
    aliases : mapping, optional
        Other names users reach for, e.g. ``{"lr": "eta"}``.
    hints : callable, optional
        ``hints(name)`` may return a whole hint for a name that belongs
        elsewhere (an optimizer's hyper-parameter given to ``fit``).
    """
    def decorate(function: F) -> F:
        signature = inspect.signature(function)
        names = [n for n, p in signature.parameters.items() if p.kind is not p.VAR_KEYWORD]

        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            unknown = [k for k in kwargs if k not in signature.parameters]
            if unknown:
                word = unknown[0]
                hint = (hints(word) if hints else None) or did_you_mean(word, names, aliases)
                raise TypeError(f"{function.__name__}() got an unexpected keyword argument {word!r}{hint}")
            return function(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
