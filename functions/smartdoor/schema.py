"""Typed shapes for what crosses a boundary (events, task inputs, records, settings), on msgspec.

msgspec validates in C and imports in a few milliseconds; pydantic, which this code used
before, cost every handler 80-100 ms of its cold start (docs/performance.md, figure 3). A shape
is a frozen, keyword-only `Model`; `Model.parse` validates a decoded object (a Lambda event, a
DynamoDB item) and raises `msgspec.ValidationError` (a ValueError: Step Functions sees the error
name `ValidationError`) saying where and what, never the value. `WireModel` is camelCase on the
wire and snake_case in Python. Field rules are `Annotated[T, Meta(...)]`; a rule that needs
code is `__post_init__` raising ValueError, which msgspec reports as a ValidationError.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Self, dataclass_transform

import msgspec
from msgspec import Meta, ValidationError, field

__all__ = [
    "Meta",
    "Model",
    "Record",
    "ValidationError",
    "WireModel",
    "field",
    "parse",
    "replace",
    "what",
    "where",
    "without_none",
]


def parse[ModelT](model: type[ModelT], data: Any, *, strict: bool = True) -> ModelT:
    """`data` (decoded JSON, a DynamoDB item, the environment) as a `model`; ValidationError if it is not one.

    `strict=False` also reads numbers and booleans written as strings (environment variables)."""
    return msgspec.convert(data, model, strict=strict)


@dataclass_transform(frozen_default=True, field_specifiers=(msgspec.field,))
class _Frozen(msgspec.StructMeta):
    """Every subclass is frozen (msgspec inherits `frozen`; this tells type checkers so)."""


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(msgspec.field,))
class _KeywordOnly(_Frozen):
    """Fields are keyword-only and the model frozen in every subclass (msgspec does not inherit
    `kw_only`), so a subclass may add required fields after its base's defaults. Type checkers
    read `kw_only` from the class statement only: a class whose required fields follow defaults
    says `kw_only=True` too."""

    def __new__(mcs, name: str, bases: tuple[type, ...], namespace: dict[str, Any], **options: Any) -> Any:
        options.setdefault("kw_only", True)
        return super().__new__(mcs, name, bases, namespace, **options)


class Record(msgspec.Struct, metaclass=_Frozen, frozen=True):
    """An immutable value (positional fields allowed), for the code's own results and requests:
    a frozen dataclass that costs 20 us to define instead of 650 (the API defines dozens at import)."""

    # Fields kept out of repr and str (phone numbers, task tokens, approval ids, codes), so a
    # logged value or a traceback cannot leak them.
    __hidden__: ClassVar[frozenset[str]] = frozenset()

    def __repr__(self) -> str:
        shown = (
            f"{name}={getattr(self, name)!r}"
            for name in self.__struct_fields__
            if name not in self.__hidden__
        )
        return f"{type(self).__name__}({', '.join(shown)})"


class Model(Record, metaclass=_KeywordOnly, frozen=True):
    """An immutable shape, validated by `parse`; constructing one in Python checks nothing."""

    @classmethod
    def parse(cls, data: Any) -> Self:
        return parse(cls, data)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (its wire names, enums as values, datetimes ISO-8601), without unset fields."""
        value: dict[str, Any] = without_none(msgspec.to_builtins(self))
        return value


class WireModel(Model, rename="camel"):
    """camelCase on the wire, snake_case in Python, immutable."""

    def to_wire(self) -> dict[str, Any]:
        return self.to_dict()


_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")


def where(error: ValidationError) -> str:
    """The dotted path of the field a ValidationError is about (`detail.doorId`, `items[0].id`),
    or "" when it is about the whole object (a missing field, a rule across fields)."""
    match = _AT.search(str(error))
    return match.group("path").removeprefix(".") if match else ""


def what(error: ValidationError) -> str:
    """The ValidationError's message without its path: what is wrong, never the value."""
    return _AT.sub("", str(error))


def without_none(value: Any) -> Any:
    """`value` with every None-valued key of its mappings dropped, at every depth."""
    if isinstance(value, dict):
        return {key: without_none(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [without_none(item) for item in value]
    return value


def replace[ModelT: msgspec.Struct](model: ModelT, **changes: Any) -> ModelT:
    """A copy of `model` with `changes` (not validated, like the constructor)."""
    return msgspec.structs.replace(model, **changes)
