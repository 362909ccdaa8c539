"""Response models of the stored objects, derived from their ORM columns, so a column added to the
store appears in the contract (and in generated clients) instead of being dropped by the response
model; timestamps keep the API's ISO-8601 text with the offset (`+00:00`)."""

from datetime import datetime
from types import NoneType, UnionType
from typing import Annotated, Any, Union, get_args, get_origin, get_type_hints

from pydantic import BaseModel, ConfigDict, PlainSerializer, WithJsonSchema, create_model

from dataops_platform.clock import as_utc

Timestamp = Annotated[
    datetime,
    PlainSerializer(lambda value: as_utc(value).isoformat(), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class Record(BaseModel):
    """A stored object as the API shows it."""

    model_config = ConfigDict(from_attributes=True)


def _api_type(hint: Any) -> Any:
    if hint is datetime:
        return Timestamp
    if get_origin(hint) in (Union, UnionType):
        args = get_args(hint)
        if datetime in args:
            return Timestamp | None if NoneType in args else Timestamp
    return hint


def record_model(
    orm: type, name: str, doc: str, exclude: tuple[str, ...] = (), types: dict[str, Any] | None = None
) -> type[Record]:
    """A pydantic model named `name` with one typed field per column of `orm` (but `exclude`);
    `types` narrows a JSON column whose shape the store does not type (`list[Any]` -> `list[str]`)."""
    hints = get_type_hints(orm)
    fields: dict[str, Any] = {}
    for column in orm.__mapper__.column_attrs:  # type: ignore[attr-defined]
        if column.key in exclude:
            continue
        (hint,) = get_args(hints[column.key])  # Mapped[X] -> X
        fields[column.key] = (_api_type((types or {}).get(column.key, hint)), ...)
    return create_model(name, __base__=Record, __doc__=doc, __module__=__name__, **fields)
