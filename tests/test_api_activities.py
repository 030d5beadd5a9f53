"""/api/v1/activities: the log as the caller may see it, filtered, and exported as CSV."""

from __future__ import annotations

import csv
import io

from portus.registry.actions import create_team
from tests.api import Api, api_fixture  # noqa: F401  (the api fixture)


def test_outsider_sees_their_own_lines_but_not_a_private_teams(api: Api) -> None:
    lines = api.get("activities", "outsider", per_page=100).body
    assert lines, "the outsider's account creation is theirs to see"
    assert all(line["team"] != "acme" and line["namespace"] != "acme" for line in lines)
    viewer = api.get("activities", "viewer", per_page=100).body
    assert any(line["action"] == "team.add_member" and line["team"] == "acme" for line in viewer)


def test_filters_by_action_prefix_actor_and_team(api: Api, world) -> None:  # type: ignore[no-untyped-def]
    create_team(name="later", owner=world.outsider, actor=world.outsider)
    exact = api.get("activities", action="team.create").body
    assert sorted(a["target"] for a in exact) == ["acme", "later"]
    prefix = api.get("activities", action="team.", actor="owner").body
    assert {a["action"] for a in prefix} == {"team.create", "team.add_member"}
    assert {a["target"] for a in api.get("activities", team="later").body} == {"later"}
    oldest_first = api.get("activities", sort="created_at").body
    assert oldest_first[0]["id"] < oldest_first[-1]["id"]


def test_csv_export_has_a_header_and_the_visible_lines(api: Api, world) -> None:  # type: ignore[no-untyped-def]
    answer = api.get("activities.csv", "viewer")
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert rows[0] == ["id", "created_at", "actor", "action", "target", "namespace", "team", "data"]
    assert len(rows) - 1 == int(api.get("activities", "viewer").headers["X-Total"])
    assert not any(r[4] == "outsider" for r in rows[1:])  # someone else's account line


def test_csv_cells_never_start_a_formula(api: Api, world) -> None:  # type: ignore[no-untyped-def]
    from portus.registry.activity import record

    record(world.admin, "user.update", '=HYPERLINK("http://evil")')
    rows = list(csv.reader(io.StringIO(api.get("activities.csv").text)))
    assert any(r[4] == '\'=HYPERLINK("http://evil")' for r in rows)


def test_dates_are_iso_in_a_sane_range_and_compared_in_utc(api: Api) -> None:
    assert api.get("activities", since="5").status == 422
    assert api.get("activities", since="0422-04-13T13:19:30+22:58").status == 422
    everything = api.get("activities", since="2000-01-01T00:00:00+14:00")
    assert everything.status == 200 and everything.body
