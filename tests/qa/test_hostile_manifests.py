"""render.json and POST bodies from outside: every bad value is a ValidationError naming its field."""

from __future__ import annotations

import pytest

from shared.errors import ValidationError
from shared.job_document import validate_job_id
from shared.job_spec import VideoSpec, manifest_from_json


@pytest.mark.parametrize(("manifest", "field"), [
    ({"format": ["PNG"]}, "format"),          # was TypeError: unhashable (a 500 over HTTP)
    ({"format": {"PNG": 1}}, "format"),
    ({"engine": ["CYCLES"]}, "engine"),
    ({"fps": 1e-300}, "fps"),                 # was accepted and stored as fps 0
    ({"fps": 4e-7}, "fps"),
    ({"video": {"name": "shot.mp4\n"}}, "video.name"),  # "$" matched before the newline
    # Passed validation, then failed every render task: Blender renders nothing under 4 px.
    ({"resolution": "1x1"}, "resolution.width"),
    ({"resolution": "1920x3"}, "resolution.height"),
    ({"resolution": {"width": 2, "height": 1080}}, "resolution.width"),
])
def test_bad_manifest_values_name_their_field(manifest, field):
    with pytest.raises(ValidationError) as err:
        manifest_from_json(manifest)
    assert err.value.field == field
    assert err.value.code == "manifest_invalid"


def test_a_tiny_but_positive_fps_that_survives_rounding_is_kept():
    assert manifest_from_json({"fps": 23.976}) == {"fps": 23.976}
    assert manifest_from_json({"fps": 0.001}) == {"fps": 0.001}


def test_a_video_name_with_a_trailing_newline_is_refused():
    with pytest.raises(ValidationError):
        VideoSpec(name="a.mp4\n")


@pytest.mark.parametrize("value", ["job-1\n", "job-1\r", "abc\n"])
def test_job_ids_with_a_trailing_newline_are_refused(value):
    with pytest.raises(ValidationError):
        validate_job_id(value)


@pytest.mark.parametrize("bundle", ["a\x01.zip", "shots/a\n.zip", "a\x7f.blend", "a\t.zip"])
def test_a_bundle_name_with_control_characters_names_the_bundle_field(bundle):
    # The blob store refused these later with field "name", which the caller never sent.
    with pytest.raises(ValidationError) as err:
        manifest_from_json({"bundle": bundle}, request=True)
    assert err.value.field == "bundle"


@pytest.mark.parametrize("body", [[], [1, 2], None, "text", 5])
def test_a_body_that_is_not_an_object_names_the_body(body):
    with pytest.raises(ValidationError) as err:
        manifest_from_json(body, request=True)
    assert err.value.field == "body"


def test_a_blend_that_renders_under_4_px_fails_planning_naming_the_resolution():
    from shared.pipeline.batch_tasks import blend_info_from_inspection

    scene = {"name": "Scene", "frame_start": 1, "frame_end": 2, "fps": 24, "resolution_x": 32,
             "resolution_y": 32, "resolution_percentage": 10}
    with pytest.raises(ValidationError) as err:
        blend_info_from_inspection({"active_scene": "Scene", "scenes": [scene]}, None)
    assert err.value.field == "resolution"
    assert "3x3" in err.value.message
