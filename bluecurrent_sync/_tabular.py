"""Models as data: plain records for pandas and CSV, HTML tables for Jupyter.

[`to_records()`][bluecurrent_sync.to_records] turns models into plain dicts that
``pandas.DataFrame(...)`` or ``csv.DictWriter`` take directly:

* enums become their wire values (``"charging"``), so columns hold plain strings;
* datetimes stay timezone-aware `datetime.datetime` objects (pandas makes them a tz-aware column);
  dates and times stay `datetime.date` / `datetime.time`;
* nested models are flattened into dotted columns (``tariff.price_ex_vat``,
  ``public_charging.value``); a nested model that is None gives None in each of its columns,
  so every record of one model type has the same keys in the same order;
* lists of models (``OverrideSchedule.charge_points`` is a list of strings and stays one)
  become lists of such dicts, and dicts (``RawEvent.raw``) are copied as they are;
* fields that are never shown (the server-issued token) are left out.

[`html_table()`][bluecurrent_sync.html_table] renders a list of models as one HTML table in Jupyter;
a single model renders itself (``_repr_html_``) as a two-column field/value table.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import html
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

__all__ = ["HtmlTable", "html_table", "model_html", "to_record", "to_records"]


def to_record(model: object) -> dict[str, Any]:
    """Return one model as a flat dict of plain values (see the module docstring).

    Raises:
        TypeError: ``model`` is not one of the package's models.
    """
    if not attrs.has(type(model)):
        raise TypeError(f"expected a bluecurrent_sync model, got {type(model).__name__}")
    record: dict[str, Any] = {}
    _flatten(model, type(model), "", record)
    return record


def to_records(models: Iterable[object] | Mapping[Any, object]) -> list[dict[str, Any]]:
    """Return models as a list of flat dicts, ready for ``pandas.DataFrame(records)``.

    Args:
        models: Models, for example ``client.get_charge_points()``; a mapping (such as the
            ``{evse_id: ChStatus}`` of ``get_statuses``) contributes its values.

    Returns:
        One dict per model, in order: enum values, aware datetimes, nested models as dotted
        columns (see the module docstring).

    Raises:
        TypeError: ``models`` is a single model or holds something that is not a model.
    """
    if attrs.has(type(models)):
        raise TypeError("to_records() takes a list of models; use to_record() for one model")
    items = models.values() if isinstance(models, Mapping) else models
    return [to_record(model) for model in items]


def model_html(model: object) -> str:
    """Return an HTML field/value table of one model (nested models as nested tables)."""
    rows = "".join(
        f"<tr><th style='text-align:left'>{html.escape(field.name)}</th>"
        f"<td style='text-align:left'>{_cell_html(getattr(model, field.name))}</td></tr>"
        for field in attrs.fields(typing.cast(Any, type(model)))
        if field.repr is not False
    )
    title = html.escape(type(model).__name__)
    return f"<table><caption style='text-align:left'><b>{title}</b></caption>{rows}</table>"


class HtmlTable:
    """A table of records that Jupyter displays as HTML (``str()`` gives the HTML too).

    Attributes:
        columns: The column names, in order.
        records: The rows, as [`to_records()`][bluecurrent_sync.to_records] returns them.
    """

    __slots__ = ("caption", "columns", "records")

    def __init__(self, records: list[dict[str, Any]], caption: str | None = None) -> None:
        self.records = records
        self.caption = caption
        self.columns: list[str] = list(dict.fromkeys(key for row in records for key in row))

    def __repr__(self) -> str:
        return f"<HtmlTable {len(self.records)} rows x {len(self.columns)} columns>"

    def __str__(self) -> str:
        return self._repr_html_()

    def __len__(self) -> int:
        return len(self.records)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(name)}</th>" for name in self.columns)
        body = "".join(
            "<tr>"
            + "".join(f"<td>{_cell_html(row.get(name))}</td>" for name in self.columns)
            + "</tr>"
            for row in self.records
        )
        caption = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def html_table(
    models: Iterable[object] | Mapping[Any, object], caption: str | None = None
) -> HtmlTable:
    """Return a list of models as one table that renders as HTML in Jupyter.

    Args:
        models: Models, as for [`to_records()`][bluecurrent_sync.to_records] (one row each, nested
            models as dotted columns).
        caption: An optional caption.

    Returns:
        An [`HtmlTable`][bluecurrent_sync.HtmlTable]; display it (last expression of a cell) or
        ``str()`` it.

    Raises:
        TypeError: As [`to_records()`][bluecurrent_sync.to_records].
    """
    return HtmlTable(to_records(models), caption)


# --------------------------------------------------------------------------- internals


def _flatten(model: object, cls: type, prefix: str, out: dict[str, Any]) -> None:
    nested = _nested_models(cls)
    for field in attrs.fields(cls):
        if field.repr is False:
            continue
        key = prefix + field.name
        value = None if model is None else getattr(model, field.name)
        inner = nested.get(field.name)
        if inner is not None:
            _flatten(value, inner, key + ".", out)
        else:
            out[key] = _plain(value)


def _plain(value: object) -> object:
    if isinstance(value, enum.Enum):
        return value.value
    if attrs.has(type(value)):
        return to_record(value)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


@functools.cache
def _nested_models(cls: type) -> dict[str, type]:
    """The fields of ``cls`` that hold one model (``X`` or ``X | None``), by name."""
    hints = typing.get_type_hints(cls)
    nested: dict[str, type] = {}
    for name, hint in hints.items():
        options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        models = [option for option in options if isinstance(option, type) and attrs.has(option)]
        if len(models) == 1:
            nested[name] = models[0]
    return nested


def _cell_html(value: object) -> str:
    if value is None:
        return ""
    if attrs.has(type(value)):
        return model_html(value)
    if isinstance(value, enum.Enum):
        return html.escape(str(value.value))
    if isinstance(value, dt.datetime):
        return html.escape(value.isoformat(sep=" "))
    if isinstance(value, dt.date | dt.time):
        return html.escape(value.isoformat())
    if isinstance(value, list | tuple):
        return ", ".join(_cell_html(item) for item in value)
    return html.escape(str(value))
