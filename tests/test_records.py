"""Models as data: to_records for pandas/CSV, _repr_html_ and html_table for Jupyter."""

from __future__ import annotations

import datetime as dt
import html

import attrs
import pandas
import pytest

import bluecurrent_sync
from bluecurrent_sync import Client, html_table, to_record, to_records
from bluecurrent_sync.models import RawEvent, TokenStatus
from bluecurrent_sync.simulator import DEFAULT_TOKEN, Simulator


@pytest.fixture
def client(simulator: Simulator) -> Client:
    with Client(DEFAULT_TOKEN, url=simulator.url) as connected:
        yield connected  # type: ignore[misc]


def test_records_go_straight_into_a_dataframe(client: Client) -> None:
    points = client.get_charge_points()
    statuses = client.get_statuses([p.evse_id for p in points])
    frame = pandas.DataFrame(to_records(statuses))  # a {evse_id: ChStatus} mapping
    assert list(frame["evse_id"]) == [p.evse_id for p in points]
    assert set(frame["activity"]) <= {"charging", "available", "offline", "unavailable"}
    assert all(type(value) is str for value in frame["activity"])  # values, not Enum members
    assert str(frame["start_datetime"].dtype).startswith("datetime64")
    assert frame["start_datetime"].dt.tz is not None  # aware datetimes stay aware
    assert frame.loc[frame["evse_id"] == "BCU100001", "total_kw"].iloc[0] > 0

    records = to_records(points)
    assert len({tuple(r) for r in records}) == 1  # same keys, same order, for every point
    first = records[0]
    assert first["tariff.currency"] == "EUR"
    assert first["public_charging.value"] in (True, False)
    assert "preferred_card.uid" in first
    assert pandas.DataFrame(records).shape == (len(points), len(first))


def test_record_rules() -> None:
    # A nested model that is None still gives its columns (None), so rows line up.
    status = TokenStatus(success=True, customer_id="C1", token="secret-issued", error=None)
    assert to_record(status) == {"success": True, "customer_id": "C1", "error": None}
    event = RawEvent(object_name="X", raw={"a": [1, {"b": 2}]})
    assert to_record(event) == {"object_name": "X", "raw": {"a": [1, {"b": 2}]}}
    with pytest.raises(TypeError, match="use to_record"):
        to_records(event)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expected a bluecurrent_sync model"):
        to_records([{"evse_id": "X"}])
    when = dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.timezone.utc)
    status_model = bluecurrent_sync.ChStatus(
        evse_id="E1",
        activity=bluecurrent_sync.Activity.CHARGING,
        vehicle_status=bluecurrent_sync.VehicleStatus.READY,
        start_datetime=when,
        avg_voltage=0.0,
        avg_current=0.0,
        total_kw=0.0,
    )
    record = to_record(status_model)
    assert record["activity"] == "charging" and record["vehicle_status"] == "ready"
    assert record["start_datetime"] is when


def test_every_model_renders_as_html_in_jupyter(client: Client, simulator: Simulator) -> None:
    point = client.get_charge_points()[0]
    models: list[object] = [
        point,
        client.get_status("BCU100001"),
        client.get_settings("BCU100001"),
        client.get_grid_status("BCU100001"),
        *client.get_charge_cards(),
        RawEvent(object_name="<X>", raw={"k": "<b>&"}),
        TokenStatus(success=True, customer_id="C", token="never-shown", error=None),
    ]
    for model in models:
        rendered = model._repr_html_()  # type: ignore[attr-defined]
        assert rendered.startswith("<table>") and rendered.endswith("</table>")
        assert f"<b>{type(model).__name__}</b>" in rendered
        for field in attrs.fields(type(model)):
            if field.repr is not False:
                assert f">{field.name}</th>" in rendered
    assert "never-shown" not in models[-1]._repr_html_()  # type: ignore[attr-defined]
    assert html.escape("<b>&") in models[-2]._repr_html_()  # type: ignore[attr-defined]
    assert "<b>&</b>" not in models[-2]._repr_html_()  # type: ignore[attr-defined]
    assert ">Garage<" in point._repr_html_()  # nested models become nested tables
    assert point._repr_html_().count("<table>") > 1
    for name in bluecurrent_sync.__all__:
        cls = getattr(bluecurrent_sync, name)
        if attrs.has(cls):
            assert callable(getattr(cls, "_repr_html_", None)), name


def test_html_table_of_a_list(client: Client) -> None:
    points = client.get_charge_points()
    table = html_table(points, caption="My charge points")
    rendered = table._repr_html_()
    assert str(table) == rendered
    assert len(table) == len(points)
    assert rendered.count("<tr>") == len(points) + 1  # header + one row each
    assert "<th>evse_id</th>" in rendered and "<th>tariff.currency</th>" in rendered
    assert "<caption>My charge points</caption>" in rendered
    assert repr(table).startswith(f"<HtmlTable {len(points)} rows")
