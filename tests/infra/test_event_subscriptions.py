"""The Event Grid subscriptions deliver exactly what the app's Event Grid functions handle.

Names and filters are read from infra/modules/eventgrid-subscriptions.bicep and
checked against function_app.py (its eventGridTrigger functions), the container
defaults in shared/config.py, and the blob layout the code writes and accepts.
A small model of Event Grid's filter semantics (prefix/suffix on the subject,
case-insensitive; every advanced filter must match) replays sample events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.infra import bicep

SUBJECT = "/blobServices/default/containers/{container}/blobs/{blob}"


@dataclass(frozen=True)
class Subscription:
    name: str
    function: str
    begins: str
    ends: str
    advanced: tuple[dict[str, Any], ...]

    def delivers(self, subject: str, api: str) -> bool:
        """Event Grid's matching for these filters (string comparisons are case-insensitive)."""
        lowered = subject.lower()
        if not lowered.startswith(self.begins.lower()) or not lowered.endswith(self.ends.lower()):
            return False
        fields = {"subject": subject, "data.api": api}
        for rule in self.advanced:
            value = fields[rule["key"].lower()].lower()
            options = [v.lower() for v in rule["values"]]
            matched = {
                "StringIn": value in options,
                "StringEndsWith": any(value.endswith(v) for v in options),
                "StringContains": any(v in value for v in options),
                "StringBeginsWith": any(value.startswith(v) for v in options),
            }[rule["operatorType"]]
            if not matched:
                return False
        return True


def _containers() -> dict[str, str]:
    return {param: bicep.main_default_for("blobSubscriptions", param)
            for param in ("scenesContainerName", "rendersContainerName", "deadLetterContainerName")}


def _subscriptions() -> dict[str, Subscription]:
    template = bicep.module("eventgrid-subscriptions")
    committed = bicep.variable(template, "committedBlobApis")
    values = _containers()
    result = {}
    for entry in bicep.variable(template, "subscriptions"):
        rules = []
        for rule in entry["advancedFilters"]:
            rule = dict(rule)
            if rule["values"] == "committedBlobApis":
                rule["values"] = committed
            rules.append(rule)
        sub = Subscription(name=entry["name"], function=entry["functionName"],
                           begins=bicep.resolve(entry["subjectBeginsWith"], values),
                           ends=entry["subjectEndsWith"], advanced=tuple(rules))
        result[sub.function] = sub
    return result


def _code_defaults() -> Any:
    from shared.config import Settings

    return Settings.from_env({"STORAGE_ACCOUNT_URL": "https://x", "COSMOS_ENDPOINT": "https://x",
                              "LOCALBATCH_URL": "http://x"})


def _event_grid_functions() -> set[str]:
    from tests.app_functions import event_grid_function_names

    return event_grid_function_names()


def test_subscriptions_target_exactly_the_event_grid_functions() -> None:
    assert set(_subscriptions()) == _event_grid_functions()


def test_container_defaults_match_the_code() -> None:
    settings = _code_defaults()
    containers = _containers()
    assert containers["scenesContainerName"] == settings.scenes_container
    assert containers["rendersContainerName"] == settings.renders_container
    storage = bicep.main_module_params("storage")
    for param in containers:
        assert storage[param] == param, f"storage and subscriptions must get the same {param}"


def test_subscription_resource_applies_each_filter_and_dead_letters() -> None:
    template = bicep.module("eventgrid-subscriptions")
    body = template["resources"]["eventSubscriptions"]["config"]
    assert body["loop_type"]["detail"]["array_name"] == "subscriptions"
    properties = body["config"]["properties"]
    destination = properties["destination"]
    assert destination["endpointType"] == "AzureFunction"
    assert destination["properties"]["resourceId"] == "${site.id}/functions/${sub.functionName}"
    flt = properties["filter"]
    assert flt["includedEventTypes"] == ["Microsoft.Storage.BlobCreated"]
    for field in ("subjectBeginsWith", "subjectEndsWith", "advancedFilters"):
        accessor = flt[field]["operator"]["operands"]
        assert accessor == {"operand_1": "sub", "operand_2": field}
    assert properties["retryPolicy"] == {"maxDeliveryAttempts": "maxDeliveryAttempts",
                                         "eventTimeToLiveInMinutes": "eventTimeToLiveInMinutes"}
    assert 1 <= template["parameters"]["maxDeliveryAttempts"]["default"] <= 30
    assert 1 <= template["parameters"]["eventTimeToLiveInMinutes"]["default"] <= 1440
    dead_letter = properties["deadLetterWithResourceIdentity"]
    assert dead_letter["identity"] == {"type": "SystemAssigned"}
    assert dead_letter["deadLetterDestination"]["properties"]["blobContainerName"] == "deadLetterContainerName"


def test_only_committed_blobs_are_delivered_as_the_code_expects() -> None:
    from shared.pipeline.submission import COMMITTED_APIS, SCENE_SUFFIXES

    for sub in _subscriptions().values():
        apis = [r for r in sub.advanced if r["key"] == "data.api"]
        assert len(apis) == 1 and apis[0]["operatorType"] == "StringIn"
        assert set(apis[0]["values"]) == COMMITTED_APIS
    scenes = _subscriptions()["on_scene_uploaded"]
    suffixes = [r for r in scenes.advanced if r["key"].lower() == "subject"]
    assert suffixes == [{"operatorType": "StringEndsWith", "key": "subject", "values": list(SCENE_SUFFIXES)}]
    assert scenes.ends == "", "one subjectEndsWith cannot express two suffixes: use the advanced filter"


def _blob_event(container: str, blob: str, api: str) -> Any:
    from shared.pipeline.submission import parse_blob_created

    subject = SUBJECT.format(container=container, blob=blob)
    data = {"url": f"https://acct.blob.core.windows.net/{container}/{blob}", "eTag": "0x1", "api": api}
    return subject, parse_blob_created("Microsoft.Storage.BlobCreated", subject, data)


SCENE_SAMPLES = [
    ("shots/seq010/shot010.zip", "PutBlockList"),
    ("shot010.blend", "PutBlob"),
    ("a/b/SHOT.ZIP", "CopyBlob"),
    ("shot010.blend", "FlushWithClose"),
    ("shot010.blend1", "PutBlob"),
    ("notes.txt", "PutBlob"),
    ("shot010.zip", "PutBlock"),
    ("shot010.zip", "DeleteBlob"),
]


@pytest.mark.parametrize(("blob", "api"), SCENE_SAMPLES)
def test_scene_upload_filter_agrees_with_the_code(blob: str, api: str) -> None:
    from shared.pipeline.submission import scene_upload_reason_to_skip

    settings = _code_defaults()
    subject, event = _blob_event(settings.scenes_container, blob, api)
    accepted = scene_upload_reason_to_skip(event, settings.scenes_container) is None
    assert _subscriptions()["on_scene_uploaded"].delivers(subject, api) == accepted


def test_scene_filter_ignores_other_containers() -> None:
    settings = _code_defaults()
    subject = SUBJECT.format(container=settings.renders_container, blob="job-1/x.zip")
    assert not _subscriptions()["on_scene_uploaded"].delivers(subject, "PutBlob")


def _render_samples() -> list[tuple[str, str]]:
    from shared.pipeline import layout

    return [
        (layout.marker_blob("job-0123abcd", "render-0001"), "PutBlob"),
        (layout.marker_blob("job-0123abcd", "stitch"), "PutBlockList"),
        (layout.frames_prefix("job-0123abcd") + "shot_0001.png", "PutBlob"),
        (layout.logs_prefix("job-0123abcd", "render-0001") + "stdout.txt", "PutBlob"),
        (layout.inspect_blob("job-0123abcd"), "PutBlob"),
        (layout.video_blob("job-0123abcd", "shot.mp4"), "PutBlockList"),
    ]


def test_render_output_filter_delivers_every_marker_the_code_accepts() -> None:
    from shared.pipeline.submission import parse_marker

    settings = _code_defaults()
    sub = _subscriptions()["on_render_output"]
    assert sub.ends == ".json"
    assert {"operatorType": "StringContains", "key": "subject", "values": ["/chunks/"]} in sub.advanced
    for blob, api in _render_samples():
        subject, event = _blob_event(settings.renders_container, blob, api)
        is_marker = parse_marker(event, settings.renders_container) is not None
        delivered = sub.delivers(subject, api)
        assert delivered or not is_marker, f"marker {blob} would never reach on_render_output"
        if blob.endswith((".png", ".txt", ".mp4")) or "inspect" in blob:
            assert not delivered, f"{blob} is no marker but would wake on_render_output"
