"""Pure pieces of devhost: route templates and Event Grid subscription filters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devhost.blob_watcher import listing_scopes
from devhost.eventgrid_schema import PayloadError, parse_events
from devhost.indexing import import_function_app
from devhost.routing import compile_route, precedence_key
from devhost.settings import ConfigError, load_settings_file
from devhost.subscriptions import load_subscriptions, parse_subscription


@pytest.mark.parametrize("template,path,expected", [
    ("jobs/{jobId}", "jobs/job-1", {"jobId": "job-1"}),
    ("jobs/{jobId}", "JOBS/job-1", {"jobId": "job-1"}),
    ("jobs/{jobId}", "jobs", None),
    ("jobs/{jobId}/history", "jobs/j/history", {"jobId": "j"}),
    ("items/{id:int?}", "items", {}),
    ("items/{id:int?}", "items/7", {"id": "7"}),
    ("items/{id:int?}", "items/seven", None),
    ("items/{id:int}", "items/99999999999", None),
    ("items/{id:long}", "items/99999999999", {"id": "99999999999"}),
    ("g/{id:guid}", "g/6f9619ff-8b86-d011-b42d-00cf4fc964ff", {"id": "6f9619ff-8b86-d011-b42d-00cf4fc964ff"}),
    ("g/{id:guid}", "g/nope", None),
    ("b/{flag:bool}", "b/True", {"flag": "True"}),
    ("n/{n:range(1,10)}", "n/10", {"n": "10"}),
    ("n/{n:range(1,10)}", "n/11", None),
    ("s/{name:alpha:maxlength(3)}", "s/abc", {"name": "abc"}),
    ("s/{name:alpha:maxlength(3)}", "s/abcd", None),
    ("r/{code:regex(^[a-z]+$)}", "r/ab1", None),
    ("f/{*path}", "f/a/b/c.png", {"path": "a/b/c.png"}),
    ("f/{*path}", "f", {}),
    ("d/{page=1}", "d", {"page": "1"}),
    ("file/{name}.{ext}", "file/a.b.png", {"name": "a.b", "ext": "png"}),
])
def test_route_templates_match_like_the_functions_host(template: str, path: str, expected: object) -> None:
    assert compile_route(template).match(path) == expected


def test_route_precedence_prefers_literals_then_constraints_then_catch_all() -> None:
    routes = [compile_route(t) for t in ("items/{*rest}", "items/{id}", "items/{id:int}", "items/special")]
    ordered = [r.template for r in sorted(routes, key=precedence_key)]
    assert ordered == ["items/special", "items/{id:int}", "items/{id}", "items/{*rest}"]


@pytest.mark.parametrize("template", ["a/{*rest}/b", "x/{id:nosuch}", "x/{id}/{id}", "x/{a b}"])
def test_bad_route_templates_are_rejected(template: str) -> None:
    with pytest.raises(ConfigError):
        compile_route(template)


def blob_event(container: str, name: str, api: str = "PutBlob", **data: object) -> dict[str, object]:
    return {"subject": f"/blobServices/default/containers/{container}/blobs/{name}",
            "eventType": "Microsoft.Storage.BlobCreated", "data": {"api": api, **data}}


def test_subscription_filters_follow_event_grid_semantics() -> None:
    sub = parse_subscription({
        "name": "s", "functionName": "f",
        "subjectBeginsWith": "/blobServices/default/containers/scenes/blobs/Artist-A/",
        "subjectEndsWith": ".ZIP",
        "advancedFilters": [{"operatorType": "StringIn", "key": "data.api", "values": ["PutBlob", "PutBlockList"]},
                            {"operatorType": "NumberLessThan", "key": "data.contentLength", "value": 100}],
    }, 0)
    assert sub.containers == ["scenes"]
    assert sub.matches(blob_event("scenes", "artist-a/shot.zip", contentLength=5))  # case-insensitive
    assert not sub.matches(blob_event("scenes", "artist-a/shot.zip", contentLength=500))
    assert not sub.matches(blob_event("scenes", "artist-a/shot.zip", api="CopyBlob", contentLength=5))
    assert not sub.matches(blob_event("scenes", "artist-b/shot.zip", contentLength=5))
    assert not sub.matches(blob_event("scenes2", "artist-a/shot.zip", contentLength=5))
    # Listing by prefix would be case-sensitive, so this subscription lists the whole container.
    assert sub.listing_prefix("scenes") == ""


def test_case_sensitive_subscription_lists_by_prefix() -> None:
    sub = parse_subscription({"functionName": "f", "isSubjectCaseSensitive": True,
                              "subjectBeginsWith": "/blobServices/default/containers/renders/blobs/job-1/"}, 0)
    assert sub.listing_prefix("renders") == "job-1/"
    assert listing_scopes([sub]) == {"renders": ["job-1/"]}


def test_included_event_types_filter() -> None:
    sub = parse_subscription({"functionName": "f", "container": "ccc",
                              "includedEventTypes": ["Microsoft.Storage.BlobDeleted"]}, 0)
    assert not sub.matches(blob_event("ccc", "x"))


@pytest.mark.parametrize("entry", [
    {"container": "c"},
    {"functionName": "f"},
    {"functionName": "f", "container": "Bad_Name"},
    {"functionName": "f", "container": "ccc", "advancedFilters": [{"operatorType": "StringIn", "key": "data.api"}]},
    {"functionName": "f", "container": "ccc", "includedEventTypes": "Microsoft.Storage.BlobCreated"},
])
def test_invalid_subscriptions_are_rejected(entry: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        parse_subscription(entry, 0)


def test_event_grid_time_with_seven_fraction_digits_is_valid() -> None:
    schema, events = parse_events(b'[{"id": "1", "subject": "", "eventType": "t", '
                                  b'"eventTime": "2026-11-26T18:41:00.9584103Z"}]', "application/json")
    assert schema == "eventgrid" and len(events) == 1
    with pytest.raises(PayloadError):
        parse_events(b'{"id": "1"}', "application/json")


@pytest.mark.parametrize("config,message", [
    ([{"name": "x", "functionName": "record"}], "name the container"),
    ({"not": "a list"}, "must be a list"),
    ([{"name": "x", "functionName": "record", "container": "scenes",
       "advancedFilters": [{"operatorType": "Matches", "key": "data.api", "values": ["PutBlob"]}]}],
     "operatorType must be one of"),
    ([{"name": "x", "functionName": "a", "container": "scenes"},
      {"name": "x", "functionName": "b", "container": "scenes"}], "names must be unique"),
])
def test_bad_eventgrid_config_files_are_rejected(tmp_path: Path, config: object, message: str) -> None:
    path = tmp_path / "eventgrid.json"
    path.write_text(json.dumps(config))
    with pytest.raises(ConfigError, match=message):
        load_subscriptions(path)
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_subscriptions(path)


def test_app_dir_without_function_app_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"function_app\.py"):
        import_function_app(tmp_path)


def test_settings_values_become_environment_but_do_not_override_it(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVHOST_TEST_ALREADY", "from-env")
    monkeypatch.delenv("DEVHOST_TEST_NEW", raising=False)
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps({"Values": {"DEVHOST_TEST_ALREADY": "from-file", "DEVHOST_TEST_NEW": "new"}}))
    applied = load_settings_file(path)
    assert applied == {"DEVHOST_TEST_ALREADY": "from-env", "DEVHOST_TEST_NEW": "new"}
    monkeypatch.delenv("DEVHOST_TEST_NEW")
    path.write_text(json.dumps({"Values": {"X": {"nested": 1}}}))
    with pytest.raises(ConfigError):
        load_settings_file(path)


def test_private_files_are_created_0600_and_older_readable_ones_are_narrowed(tmp_path: Path) -> None:
    import stat

    from devhost.private_files import touch_private, write_private

    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    write_private(tmp_path / "state" / "keys.json", "{}")
    assert mode(tmp_path / "state") == 0o700 and mode(tmp_path / "state" / "keys.json") == 0o600
    assert (tmp_path / "state" / "keys.json").read_text() == "{}"
    assert [p.name for p in (tmp_path / "state").iterdir()] == ["keys.json"]  # no temporary left
    old = tmp_path / "hub.sqlite3"
    old.write_text("")
    old.chmod(0o644)
    touch_private(old)
    assert mode(old) == 0o600
    assert mode(touch_private(tmp_path / "new.sqlite")) == 0o600
