"""The domain types: frames, specs, status transitions, job ids, manifests."""

from __future__ import annotations

import pytest

from shared.errors import ValidationError
from shared.frames import MAX_FRAMES_PER_JOB, FrameSet
from shared.job_document import (
    Chunk,
    ChunkStatus,
    JobSource,
    JobStatus,
    SourceKind,
    job_document,
    new_job_id,
    normalize_etag,
    upload_job_id,
    validate_job_id,
)
from shared.job_spec import JobSpec, Resolution, VideoSpec, manifest_from_json

# ---------------------------------------------------------------- FrameSet


@pytest.mark.parametrize(("spec", "frames"), [
    ("1-5", [1, 2, 3, 4, 5]),
    ("1,5,10-12", [1, 5, 10, 11, 12]),
    ("1-10x3", [1, 4, 7, 10]),
    ("0", [0]),
    (" 7 , 3 ", [3, 7]),
    ("10-12,1-2", [1, 2, 10, 11, 12]),
    ("1-9x2,2-10x2", list(range(1, 11))),
])
def test_frame_specs_parse_to_ascending_frames(spec, frames):
    assert list(FrameSet.parse(spec)) == frames


@pytest.mark.parametrize("spec", [
    "", " ", "1,,2", "5-1", "-5", "-5--1", "1-10x0", "a-b", "1.5", "1-", "1-10x", "5x2",
    "1-10,5", "3,3", "1-10,10-20", "1-2000000",
])
def test_bad_frame_specs_are_rejected_naming_frames(spec):
    with pytest.raises(ValidationError) as err:
        FrameSet.parse(spec)
    assert err.value.field == "frames"


def test_frame_sets_above_the_job_limit_are_rejected_without_expanding():
    with pytest.raises(ValidationError, match="more than"):
        FrameSet.parse(f"0-{MAX_FRAMES_PER_JOB}")
    assert len(FrameSet.parse(f"1-{MAX_FRAMES_PER_JOB}")) == MAX_FRAMES_PER_JOB


@pytest.mark.parametrize("spec", ["1-240", "1,5,10-20", "1-100x5", "1,3", "0,2,4,6,9", "7"])
def test_canonical_spec_round_trips(spec):
    frames = FrameSet.parse(spec)
    assert FrameSet.parse(frames.to_spec()) == frames
    assert FrameSet.from_json(frames.to_json()) == frames


def test_canonical_spec_and_blender_form():
    frames = FrameSet.parse("10-20,1,5,30-40x5")
    assert frames.to_spec() == "1,5,10-20,30-40x5"
    assert frames.to_blender() == "1,5,10..20,30,35,40"
    assert 12 in frames and 14 not in FrameSet.parse("1-20x2") and "1" not in frames


def test_frame_set_type_is_checked():
    with pytest.raises(ValidationError):
        FrameSet.parse(240)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        FrameSet((3, 2))


# ---------------------------------------------------------------- spec parts


def test_resolution_accepts_object_or_wxh_and_keeps_odd_sizes():
    assert Resolution.from_json("1921x1081") == Resolution(1921, 1081)
    assert Resolution.from_json({"width": 64, "height": 36}).to_json() == {"width": 64, "height": 36}


@pytest.mark.parametrize(("value", "field"), [
    ({"width": 0, "height": 10}, "resolution.width"),
    ({"width": 10, "height": 99999}, "resolution.height"),
    ({"width": 10.5, "height": 10}, "resolution.width"),
    ({"width": 10, "height": 10, "depth": 3}, "resolution.depth"),
    ("10 by 10", "resolution"),
    (1080, "resolution"),
])
def test_bad_resolutions_name_the_field(value, field):
    with pytest.raises(ValidationError) as err:
        Resolution.from_json(value)
    assert err.value.field == field


@pytest.mark.parametrize(("video", "field"), [
    ({"codec": "h264"}, "video.codec"),
    ({"crf": 52}, "video.crf"),
    ({"crf": True}, "video.crf"),
    ({"name": "../x.mp4"}, "video.name"),
    ({"name": "a/b.mp4"}, "video.name"),
    ({"name": "x.mov"}, "video.name"),
    ({"name": ".hidden.mp4"}, "video.name"),
    ({"bitrate": 5}, "video.bitrate"),
])
def test_bad_video_specs_name_the_field(video, field):
    with pytest.raises(ValidationError) as err:
        VideoSpec.from_json(video)
    assert err.value.field == field


def test_job_spec_round_trips_through_json():
    spec = JobSpec(frames=FrameSet.parse("1-48"), fps=23.976, resolution=Resolution(64, 36), scene="Shot",
                   chunk_size=8, video=VideoSpec("libx265", 20, "shot.mp4"), priority=-5, max_retries=0,
                   engine="CYCLES", samples=4)
    data = spec.to_json()
    assert data["frames"] == "1-48" and data["fps"] == 23.976 and data["chunkSize"] == 8
    assert JobSpec.from_json(data) == spec
    no_video = JobSpec(frames=FrameSet.parse("1"), fps=24, resolution=Resolution(4, 4), video=None)
    assert no_video.to_json()["video"] is None and no_video.to_json()["fps"] == 24
    assert JobSpec.from_json(no_video.to_json()).video is None


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"chunk_size": 0}, "chunkSize"), ({"priority": 1001}, "priority"), ({"max_retries": 11}, "maxRetries"),
    ({"fps": 0}, "fps"), ({"engine": "LUXCORE"}, "engine"), ({"samples": 0}, "samples"),
    ({"scene": ""}, "scene"),
])
def test_job_spec_checks_its_ranges(kwargs, field):
    base = {"frames": FrameSet.parse("1"), "fps": 24, "resolution": Resolution(4, 4)}
    with pytest.raises(ValidationError) as err:
        JobSpec(**{**base, **kwargs})
    assert err.value.field == field


def test_chunk_and_source_round_trip():
    chunk = Chunk("chunk-0001", FrameSet.parse("1-10"), ChunkStatus.FAILED, attempts=2, seconds=3.5)
    assert Chunk.from_json(chunk.to_json()) == chunk
    source = JobSource(SourceKind.BLOB, "scenes", "a/shot.zip", "http://x/scenes/a/shot.zip", etag="0x1")
    assert JobSource.from_json(source.to_json()) == source
    assert source.to_json()["eTag"] == "0x1"


# ---------------------------------------------------------------- status


def test_status_moves_forward_and_terminal_states_are_final():
    assert JobStatus.QUEUED.can_become(JobStatus.VALIDATING)
    assert JobStatus.RENDERING.can_become(JobStatus.COMPLETED)  # no video: no stitching
    assert JobStatus.STITCHING.can_become(JobStatus.CANCELLED)
    assert not JobStatus.STITCHING.can_become(JobStatus.RENDERING)
    assert not JobStatus.QUEUED.can_become(JobStatus.COMPLETED)
    for terminal in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED):
        assert terminal.is_terminal
        assert not any(terminal.can_become(s) for s in JobStatus if s != terminal)
    assert not JobStatus.RENDERING.is_terminal


# ---------------------------------------------------------------- job ids


def test_upload_job_id_is_stable_and_ignores_etag_quoting():
    url = "https://acct.blob.core.windows.net/scenes/shots/a.zip"
    job_id = upload_job_id(url, "0x8D4BCC2E4835CD0")
    assert job_id == upload_job_id(url, '"0x8D4BCC2E4835CD0"')
    assert job_id == upload_job_id(url, ' W/"0x8D4BCC2E4835CD0" ')
    assert job_id.startswith("job-") and len(job_id) == 36
    assert job_id != upload_job_id(url, "0x8D4BCC2E4835CD1")
    assert validate_job_id(job_id) == job_id
    assert normalize_etag('"abc"') == "abc"


def test_upload_job_id_needs_url_and_etag():
    with pytest.raises(ValidationError):
        upload_job_id("https://x/y", "  ")


@pytest.mark.parametrize("value", ["", "a" * 65, "job 1", "job/1", "jöb", "a.b", None, 5])
def test_client_ids_are_checked(value):
    with pytest.raises(ValidationError) as err:
        validate_job_id(value, field_name="Idempotency-Key")
    assert err.value.field == "Idempotency-Key"


def test_client_ids_allow_batch_characters():
    assert validate_job_id("Shot_010-v2" + "x" * 53) == "Shot_010-v2" + "x" * 53
    assert new_job_id("0" * 32) == "job-" + "0" * 32
    with pytest.raises(ValueError):
        new_job_id("xyz")


# ---------------------------------------------------------------- job document


def test_new_job_document_has_the_design_fields():
    source = JobSource(SourceKind.HTTP, "scenes", "a.blend", "http://x/scenes/a.blend", submitter="ci")
    doc = job_document("job-1", source, now="2026-01-01T00:00:00Z", renders_container="renders")
    assert doc["status"] == "queued" and doc["chunkCount"] == 0 and doc["error"] is None
    assert doc["outputs"] == {"container": "renders", "framesPrefix": "job-1/frames/", "videoUrl": None}
    assert doc["timestamps"]["createdAt"] == doc["timestamps"]["updatedAt"] == "2026-01-01T00:00:00Z"
    assert doc["progress"]["framesDone"] == 0 and doc["source"]["kind"] == "http"
    with pytest.raises(ValidationError):
        job_document("bad id", source, now="x", renders_container="renders")


# ---------------------------------------------------------------- manifests


def test_manifest_is_normalized_and_keeps_only_given_keys():
    manifest = manifest_from_json({"frames": "10-20, 1", "resolution": "64x36", "video": {"crf": 30},
                                   "chunkSize": 4, "fps": 25.0, "blend": "scenes/shot.blend"})
    assert manifest == {"frames": "1,10-20", "resolution": {"width": 64, "height": 36},
                        "video": {"codec": "libx264", "crf": 30, "name": "video.mp4"}, "chunkSize": 4,
                        "fps": 25, "blend": "scenes/shot.blend"}
    assert manifest_from_json({}) == {}
    assert manifest_from_json({"video": None}) == {"video": None}


@pytest.mark.parametrize(("data", "field"), [
    ({"video": {"crf": 99}}, "video.crf"),
    ({"frames": "5-1"}, "frames"),
    ({"chunkSize": "10"}, "chunkSize"),
    ({"chunkSize": True}, "chunkSize"),
    ({"priority": -1001}, "priority"),
    ({"maxRetries": 11}, "maxRetries"),
    ({"format": "GIF"}, "format"),
    ({"fps": "24"}, "fps"),
    ({"resolution": {"width": 4, "height": 0}}, "resolution.height"),
    ({"engine": "cycles"}, "engine"),
    ({"blend": "../x.blend"}, "blend"),
    ({"blend": "x.txt"}, "blend"),
    ({"color": "red"}, "color"),
    ({"bundle": "a.zip"}, "bundle"),  # only the HTTP body names a bundle
])
def test_bad_manifest_fields_are_named(data, field):
    with pytest.raises(ValidationError) as err:
        manifest_from_json(data)
    assert err.value.code == "manifest_invalid"
    assert err.value.field == field
    assert err.value.to_json()["field"] == field


def test_every_manifest_problem_is_listed():
    with pytest.raises(ValidationError) as err:
        manifest_from_json({"fps": -1, "video": {"crf": 99}, "extra": 1})
    fields = [e["field"] for e in err.value.details["errors"]]
    assert sorted(fields) == ["extra", "fps", "video.crf"]


def test_request_body_must_name_a_safe_bundle():
    assert manifest_from_json({"bundle": "shots/a.zip"}, request=True) == {"bundle": "shots/a.zip"}
    for body, field in (({}, "bundle"), ({"bundle": "/etc/a.zip"}, "bundle"),
                        ({"bundle": "a\\b.zip"}, "bundle"), ({"bundle": "a.tar"}, "bundle"), ([], "body")):
        with pytest.raises(ValidationError) as err:
            manifest_from_json(body, request=True)
        assert err.value.field == field
