"""The settings files beside the code say what the code reads and serves."""

from __future__ import annotations

import json
from pathlib import Path

from shared.config import Settings
from shared.pipeline.submission import COMMITTED_APIS, SCENE_SUFFIXES
from stack.local import StackInfo, app_settings

ROOT = Path(__file__).resolve().parent.parent


def test_the_example_settings_are_what_make_up_writes_with_the_default_ports():
    example = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]
    info = StackInfo(data_dir=".data/stack", azurite_port=10000, cosmos_port=8081, localbatch_port=7072,
                     devhost_port=7071, function_key="local-function-key", master_key="local-master-key",
                     eventgrid_key="local-eventgrid-key")
    assert example == app_settings(info)
    assert set(Settings.env_keys()) <= set(example)
    Settings.from_env(example)  # and they are valid


def test_the_local_event_subscriptions_route_to_the_apps_event_grid_functions():
    from tests.app_functions import event_grid_function_names

    grid_functions = event_grid_function_names()
    config = json.loads((ROOT / "devhost.eventgrid.json").read_text())["subscriptions"]
    assert {s["functionName"] for s in config} == grid_functions
    settings = Settings.from_env(json.loads((ROOT / "local.settings.example.json").read_text())["Values"])
    scenes = next(s for s in config if s["functionName"] == "on_scene_uploaded")
    assert scenes["subjectBeginsWith"].endswith(f"/containers/{settings.scenes_container}/blobs/")
    filters = {f["key"] if f["operatorType"] == "StringIn" else f["operatorType"]: set(f["values"])
               for f in scenes["advancedFilters"]}
    assert filters["data.api"] == COMMITTED_APIS
    assert filters["StringEndsWith"] == set(SCENE_SUFFIXES)
    markers = next(s for s in config if s["functionName"] == "on_render_output")
    assert markers["subjectBeginsWith"].endswith(f"/containers/{settings.renders_container}/blobs/")
