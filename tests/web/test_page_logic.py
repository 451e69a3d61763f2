"""The page's pure modules (form checks, frame lists, output links, the history timeline) run in
Chromium as the page loads them, fed inputs the API really sends and hostile ones."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.conftest import ui_url

pytestmark = pytest.mark.slow


def call(page: Any, module: str, expression: str, arg: Any = None) -> Any:
    """Runs `expression` with `m` = the imported module and `arg` = the argument."""
    return page.evaluate(
        f"async (arg) => {{ const m = await import(new URL('js/{module}', document.baseURI)); return {expression}; }}",
        arg)


@pytest.fixture
def loaded(stack, page) -> Any:
    page.goto(ui_url(stack))
    return page


def test_the_form_keeps_only_filled_fields_and_names_each_bad_one(loaded):
    good = call(loaded, "validate.js", "m.buildRequest(arg, 'custom')", {
        "frames": "1001-1100x5, 2000", "chunkSize": "10", "fps": "23.976", "resolution": "1920x1080",
        "priority": "-5", "maxRetries": "0", "video.crf": "18", "video.name": "shot010.mp4", "scene": " "})
    assert good == {"errors": {}, "body": {
        "frames": "1001-1100x5, 2000", "chunkSize": 10, "fps": 23.976, "resolution": "1920x1080", "priority": -5,
        "maxRetries": 0, "video": {"crf": 18, "name": "shot010.mp4"}}}
    bad = call(loaded, "validate.js", "m.buildRequest(arg, 'custom')", {
        "frames": "1-5,3", "chunkSize": "1.5", "fps": "0", "resolution": "3x1080", "priority": "1e3",
        "maxRetries": "11", "samples": "-1", "video.crf": "52", "video.name": "../x.mp4", "format": "GIF"})
    assert set(bad["errors"]) == {"frames", "chunkSize", "fps", "resolution", "priority", "maxRetries", "samples",
                                  "video.crf", "video.name", "format"}
    assert bad["errors"]["frames"] == "frame 3 is listed more than once"
    assert bad["body"] == {}
    assert call(loaded, "validate.js", "m.buildRequest({}, 'none')") == {"errors": {}, "body": {"video": None}}
    for typed in ("auto", "AUTO"):  # automatic chunk sizes, as the API's "auto"
        sized = call(loaded, "validate.js", "m.buildRequest(arg, 'default')", {"chunkSize": typed})
        assert sized == {"errors": {}, "body": {"chunkSize": "auto"}}


def test_the_forms_job_name_is_trimmed_and_a_name_with_control_characters_is_refused(loaded):
    good = call(loaded, "validate.js", "m.buildRequest(arg, 'default')", {"name": "  shot010 lighting v3 "})
    assert good == {"errors": {}, "body": {"name": "shot010 lighting v3"}}
    for bad in ("shot\u001b[2J", "a\u2028b", "evil\u202etxt", "x" * 201):
        answer = call(loaded, "validate.js", "m.buildRequest(arg, 'default')", {"name": bad})
        assert set(answer["errors"]) == {"name"} and answer["body"] == {}, bad
    emoji = call(loaded, "validate.js", "m.buildRequest(arg, 'default')", {"name": "🎬" * 200})
    assert emoji["errors"] == {}  # 200 characters, as the API counts them (not UTF-16 units)


@pytest.mark.parametrize("path", ["../x.zip", "/abs.zip", "a//b.zip", "a/./b.zip", "a/b.tar", ""])
def test_a_bundle_path_that_leaves_the_container_or_is_no_bundle_is_refused(loaded, path):
    assert call(loaded, "validate.js", "m.bundlePathError(arg)", path)


def test_frame_lists_expand_as_render_json_means_them(loaded):
    assert call(loaded, "frames.js", "m.parseFrames(arg)", "1-10x3,20,22-23") == [1, 4, 7, 10, 20, 22, 23]
    assert call(loaded, "frames.js", "m.parseFrames(arg, 5)", "1-1000000") == [1, 2, 3, 4, 5]
    assert call(loaded, "frames.js", "m.parseFrames(arg)", "<b>,1") == [1]


def test_output_links_are_found_at_any_depth_and_only_http_urls_count(loaded):
    answer = {"video": {"name": "shot.mp4", "url": "http://127.0.0.1:1/r/job/shot.mp4?sig=x", "size": 10},
              "frames": [{"url": "https://acct.blob.core.windows.net/r/job/frames/f_0001.png"}],
              "evil": {"url": "javascript:alert(1)"}, "other": "http://not-an-object"}
    links = call(loaded, "frames.js", "m.outputLinks(arg)", answer)
    assert links == [{"name": "shot.mp4", "url": answer["video"]["url"], "size": 10},
                     {"name": "f_0001.png", "url": answer["frames"][0]["url"], "size": None}]


def test_the_timeline_pairs_each_activity_with_its_end_and_counts_retries(loaded):
    history = [
        {"EventType": "ExecutionStarted", "Timestamp": "2026-01-01T00:00:00Z"},
        {"EventType": "TaskScheduled", "EventId": 0, "Name": "plan_job", "Timestamp": "2026-01-01T00:00:01Z"},
        {"EventType": "TaskFailed", "TaskScheduledId": 0, "Reason": "boom", "Timestamp": "2026-01-01T00:00:02Z"},
        {"EventType": "TimerCreated", "EventId": 1, "FireAt": "2026-01-01T00:00:05Z",
         "Timestamp": "2026-01-01T00:00:02Z"},
        {"EventType": "TimerFired", "TimerId": 1, "Timestamp": "2026-01-01T00:00:05Z"},
        {"EventType": "TaskScheduled", "EventId": 2, "Name": "plan_job", "Timestamp": "2026-01-01T00:00:05Z"},
        {"EventType": "TaskCompleted", "TaskScheduledId": 2, "Timestamp": "2026-01-01T00:00:07Z"},
        {"EventType": "SubOrchestrationInstanceCreated", "EventId": 3, "Name": "await_tasks",
         "InstanceId": "job-1:render:0", "Timestamp": "2026-01-01T00:00:07Z"},
        {"EventType": "EventRaised", "Name": "tasks_changed", "Timestamp": "2026-01-01T00:00:08Z"},
    ]
    row = "[s.kind, s.name, s.outcome, s.attempt, s.end === null ? null : s.end - s.start]"
    steps = call(loaded, "timeline.js", f"m.steps(arg).map(s => {row})", history)
    assert steps == [["activity", "plan_job", "failed", 1, 1000], ["timer", "timer", "fired", 1, 3000],
                     ["activity", "plan_job", "completed", 2, 2000], ["wait", "await_tasks", "running", 1, None],
                     ["event", "event tasks_changed", "received", 1, 0]]
