"""Conditions, eligibility and amounts as rule-engine expressions: typed symbols checked on load, never `eval`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from functools import lru_cache
from typing import Any

import rule_engine

from ledgers.schema import FieldSpec

_TYPES = {
    "text": rule_engine.DataType.STRING,
    "enum": rule_engine.DataType.STRING,
    "place": rule_engine.DataType.STRING,
    "ref": rule_engine.DataType.STRING,
    "integer": rule_engine.DataType.FLOAT,
    "decimal": rule_engine.DataType.FLOAT,
    "bool": rule_engine.DataType.BOOLEAN,
    "date": rule_engine.DataType.DATETIME,
}
# symbols every expression may name beside the form fields and the facts
BUILTIN = {"amount": "decimal", "objections": "integer"}


class ExpressionError(ValueError):
    """An expression that does not parse or names an unknown symbol."""


def symbol_types(form: list[FieldSpec], facts: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """(name, field type) of every symbol an item's expressions may name: its form fields, the facts, the built-ins."""
    named = {f.key: f.type for f in form if f.type in _TYPES}
    return tuple(sorted({**BUILTIN, **facts, **named}.items()))


@lru_cache(maxsize=1024)
def compile_rule(text: str, symbols: tuple[tuple[str, str], ...]) -> rule_engine.Rule:
    """The compiled expression; ExpressionError naming what is wrong."""
    types = {name: _TYPES[kind] for name, kind in symbols}
    context = rule_engine.Context(type_resolver=rule_engine.type_resolver_from_dict(types), default_value=None)
    try:
        return rule_engine.Rule(text, context=context)
    except rule_engine.SymbolResolutionError as exc:
        raise ExpressionError(f"expression {text!r} names unknown symbol {exc.symbol_name!r}") from None
    except rule_engine.EngineError as exc:
        raise ExpressionError(f"expression {text!r} does not parse: {exc.message}") from None


def _plain(value: Any) -> Any:
    if isinstance(value, bool | str | Decimal | dt.datetime) or value is None:
        return value
    if isinstance(value, int | float):
        return Decimal(str(value))
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return dt.datetime(value.year, value.month, value.day)
    return str(value)


def context_of(symbols: tuple[tuple[str, str], ...], values: Mapping[str, Any]) -> dict[str, Any]:
    """Every symbol's value for evaluation (None where not given), numbers as Decimal and dates as datetimes."""
    return {name: _plain(values.get(name)) for name, _ in symbols}


def holds(text: str, symbols: tuple[tuple[str, str], ...], values: Mapping[str, Any]) -> bool:
    """Whether the condition holds; a comparison with a missing value counts as not holding."""
    try:
        return bool(compile_rule(text, symbols).matches(context_of(symbols, values)))
    except rule_engine.EvaluationError:
        return False


def evaluate(text: str, symbols: tuple[tuple[str, str], ...], values: Mapping[str, Any]) -> Any:
    """The expression's value; None when it cannot be evaluated on these values."""
    try:
        return compile_rule(text, symbols).evaluate(context_of(symbols, values))
    except rule_engine.EvaluationError:
        return None
