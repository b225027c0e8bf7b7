"""Strict typing of JSON-shaped values against dataclass type hints: what makes a run's spec
(config.TrainConfig) and the notebooks' parameters reject a value of the wrong type instead of
hashing it into another run id."""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from typing import Any


def freeze(value: Any) -> Any:
    """JSON values to a frozen dataclass's: lists -> tuples (recursively), a dict of decays ->
    sorted (key, value) pairs; anything else (a nested spec, a number) as it is."""
    if isinstance(value, Mapping):
        return tuple((k, freeze(v)) for k, v in sorted(value.items()))
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def matches_type(value: Any, hint: Any) -> bool:
    """Whether `value` fits the type hint `hint` (strictly: a bool is not an int)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(matches_type(value, a) for a in args)
    if hint is type(None):
        return value is None
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(matches_type(v, args[0]) for v in value)
        return len(args) == len(value) and all(matches_type(v, a) for v, a in zip(value, args))
    if hint is float:  # an int is a fine float (JSON writes 1.0 as 1 in some tools); bool is not
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def describe_type(hint: Any) -> str:
    """A type hint as a person writes it in an error message: "float", "int or None",
    "tuple of str", "tuple of float or None"."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe_type(a) for a in args)
    if hint is type(None):
        return "None"
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"tuple of {describe_type(args[0])}"
        return f"tuple ({', '.join(describe_type(a) for a in args)})"
    return getattr(hint, "__name__", str(hint).replace("typing.", ""))


__all__ = ["freeze", "matches_type", "describe_type"]
