"""Spec merging, chunking, retries, progress and frame file names."""

from __future__ import annotations

import itertools

import pytest

from shared.errors import ValidationError
from shared.frames import FrameSet
from shared.job_document import ChunkStatus
from shared.job_spec import ImageFormat, Resolution, VideoSpec
from shared.names import split_render_task_id
from shared.planning import (
    BlendInfo,
    SpecDefaults,
    all_settled,
    chunks_from_json,
    chunks_to_json,
    combine_manifests,
    expected_frame_files,
    frame_file_name,
    merge_spec,
    plan_chunks,
    plan_requeue,
    progress,
    safe_name,
    start_attempts,
    task_id,
    with_chunk_result,
)


def test_chunks_are_consecutive_frames_in_order_with_padded_ids():
    chunks = plan_chunks(FrameSet.parse("1-25"), 10)
    assert [c.id for c in chunks] == ["chunk-0001", "chunk-0002", "chunk-0003"]
    assert [c.frames.to_spec() for c in chunks] == ["1-10", "11-20", "21-25"]
    assert all(c.status == ChunkStatus.PENDING and c.attempts == 0 for c in chunks)


def test_chunks_follow_sparse_frames_and_widen_ids_past_9999():
    sparse = plan_chunks(FrameSet.parse("1,5,10-12,40"), 2)
    assert [c.frames.to_spec() for c in sparse] == ["1,5", "10-11", "12,40"]
    many = plan_chunks(FrameSet.parse("1-10001"), 1)
    assert many[0].id == "chunk-00001" and many[-1].id == "chunk-10001"
    assert plan_chunks(FrameSet.parse("1-100"), 10) == plan_chunks(FrameSet.parse("1-100"), 10)
    with pytest.raises(ValidationError):
        plan_chunks(FrameSet.parse("1"), 0)


def test_manifest_wins_over_blend_which_wins_over_defaults():
    blend = BlendInfo(scene="Shot", frame_start=1, frame_end=48, fps=25, resolution=Resolution(1280, 720))
    spec = merge_spec({"fps": 30, "chunkSize": 4}, blend, SpecDefaults(chunk_size=10, max_retries=3))
    assert spec.fps == 30 and spec.frames.to_spec() == "1-48" and spec.resolution == Resolution(1280, 720)
    assert spec.scene == "Shot" and spec.chunk_size == 4 and spec.max_retries == 3
    assert spec.format == ImageFormat.PNG and spec.video == VideoSpec()


def test_defaults_fill_what_neither_manifest_nor_blend_says():
    spec = merge_spec({}, None, SpecDefaults(frames="1-3", fps=12, resolution=Resolution(64, 36)))
    assert (spec.frames.to_spec(), spec.fps, spec.resolution) == ("1-3", 12, Resolution(64, 36))
    assert spec.scene is None and spec.engine is None


def test_video_null_in_the_manifest_means_no_video():
    spec = merge_spec({"video": None, "frames": "1-2", "format": "OPEN_EXR"}, None, SpecDefaults())
    assert spec.video is None and spec.format == ImageFormat.OPEN_EXR


def test_blend_frame_step_and_json_round_trip():
    blend = BlendInfo(frame_start=1, frame_end=10, frame_step=3, resolution=Resolution(4, 4))
    assert BlendInfo.from_json(blend.to_json()) == blend
    assert merge_spec({}, blend, SpecDefaults()).frames.to_spec() == "1-10x3"


def test_combined_manifests_prefer_the_first():
    assert combine_manifests({"fps": 30}, None, {"fps": 24, "chunkSize": 2}) == {"fps": 30, "chunkSize": 2}


def test_task_ids_get_a_suffix_per_rerun():
    assert task_id("chunk-0001", 1) == "chunk-0001"
    assert task_id("chunk-0001", 3) == "chunk-0001-r2"
    assert split_render_task_id("chunk-0001-r2")[0] == split_render_task_id("chunk-0001")[0] == "chunk-0001"
    assert [split_render_task_id(task_id("chunk-0007", n)) for n in (1, 2, 12)] == [
        ("chunk-0007", 0), ("chunk-0007", 1), ("chunk-0007", 11)]
    with pytest.raises(ValueError):
        task_id("chunk-0001", 0)


def test_failed_chunks_rerun_until_their_attempts_are_used_up():
    chunks = plan_chunks(FrameSet.parse("1-30"), 10)
    chunks = start_attempts(chunks, ["chunk-0001", "chunk-0002", "chunk-0003"])
    chunks = with_chunk_result(chunks, "chunk-0001", ChunkStatus.SUCCEEDED, 4.0)
    chunks = with_chunk_result(chunks, "chunk-0002", ChunkStatus.FAILED)
    chunks = with_chunk_result(chunks, "chunk-0003", ChunkStatus.FAILED)
    chunks = start_attempts(chunks, ["chunk-0003"])
    chunks = with_chunk_result(chunks, "chunk-0003", ChunkStatus.FAILED)
    plan = plan_requeue(chunks, max_retries=1)
    assert plan.requeue == ("chunk-0002",) and plan.exhausted == ("chunk-0003",)
    assert plan_requeue(chunks, max_retries=0).requeue == ()
    assert plan.to_json() == {"requeue": ["chunk-0002"], "exhausted": ["chunk-0003"]}
    with pytest.raises(KeyError):
        with_chunk_result(chunks, "chunk-9999", ChunkStatus.FAILED)


def test_progress_counts_frames_of_succeeded_chunks():
    chunks = plan_chunks(FrameSet.parse("1-25"), 10)
    chunks = with_chunk_result(chunks, "chunk-0003", ChunkStatus.SUCCEEDED, 1.5)
    chunks = with_chunk_result(chunks, "chunk-0001", ChunkStatus.FAILED)
    assert progress(chunks) == {"framesDone": 5, "framesTotal": 25, "chunksDone": 1, "chunksFailed": 1,
                                "chunksTotal": 3}
    assert not all_settled(chunks)
    assert chunks_from_json(chunks_to_json(chunks)) == chunks


def test_frame_file_names_are_padded_to_four_or_more():
    assert frame_file_name("shot", 7, "PNG") == "shot_0007.png"
    assert frame_file_name("shot", 12345, ImageFormat.OPEN_EXR) == "shot_12345.exr"
    chunk = plan_chunks(FrameSet.parse("9-10"), 2)[0]
    assert expected_frame_files("a", chunk, "JPEG") == ["a_0009.jpg", "a_0010.jpg"]
    assert frame_file_name("a", 1, "TIFF") == "a_0001.tif"
    with pytest.raises(ValidationError):
        frame_file_name("../x", 1, "PNG")


def test_safe_names_come_from_artists_names():
    assert safe_name("Shot 010 (final)") == "Shot_010_final"
    assert safe_name("Shot 010") == "Shot_010"
    assert safe_name("../..") == "frame"
    assert safe_name("ĉu") == "u"


def test_preview_order_renders_first_last_then_evenly_spaced_frames_coarse_to_fine():
    frames = FrameSet.parse("1-240")
    order = frames.preview_order()
    assert sorted(order) == list(frames) and len(set(order)) == 240
    assert order[:3] == (1, 240, 120)
    first_eight = sorted(order[:9])
    gaps = [b - a for a, b in itertools.pairwise(first_eight)]
    assert max(gaps) <= 2 * min(gaps)  # evenly spread over the shot, not bunched at its start


def test_preview_chunks_spread_over_the_shot_and_each_is_one_blender_frame_list():
    chunks = plan_chunks(FrameSet.parse("1-100"), 10, "preview")
    first = list(chunks[0].frames)
    assert first[0] == 1 and first[-1] == 100 and len(first) == 10
    assert sorted(f for c in chunks for f in c.frames) == list(range(1, 101))
    assert all(list(c.frames) == sorted(c.frames) for c in chunks)
    assert [c.frames.to_spec() for c in plan_chunks(FrameSet.parse("1-25"), 10)] == ["1-10", "11-20", "21-25"]
