"""Threads per render task and automatic chunk sizes (issue #15), as the pure functions they are."""

from __future__ import annotations

import pytest

from shared import names
from shared.errors import ValidationError
from shared.frames import FrameSet
from shared.job_spec import JobSpec, Resolution, manifest_from_json
from shared.planning import (
    FALLBACK_CHUNK_SIZE,
    ProbeTiming,
    SpecDefaults,
    frames_per_task,
    merge_spec,
    plan_probe_chunks,
    probe_timing,
    render_threads,
    size_chunks,
    unplanned_frames,
)

# ---------------------------------------------------------------- threads


@pytest.mark.parametrize(("cores", "slots", "override", "threads"), [
    (2, 2, 0, 1),      # localbatch here: two slots on two cores, one thread each
    (2, 1, 0, 2),
    (8, 1, 0, 8),      # Standard_F8s_v2 with one task per node
    (8, 3, 0, 2),      # what is left over stays with the node, never more threads than cores
    (2, 4, 0, 1),      # more slots than cores: still one thread each
    (0, 2, 0, None),   # cores unknown: Blender takes what it sees, as it does alone
    (8, 2, 3, 3),      # RENDER_THREADS wins
    (0, 2, 6, 6),
])
def test_a_render_task_gets_the_nodes_cores_shared_by_its_slots(cores, slots, override, threads):
    assert render_threads(cores, slots, override) == threads


# ---------------------------------------------------------------- "auto" in the spec


def test_a_manifest_may_ask_for_automatic_chunks_and_a_job_without_one_gets_the_default():
    assert manifest_from_json({"chunkSize": "auto"}) == {"chunkSize": "auto"}
    blend_free = {"frames": "1-10", "fps": 24, "resolution": "64x36"}
    assert merge_spec(blend_free, None, SpecDefaults(chunk_size=None)).chunk_size is None
    assert merge_spec(blend_free, None, SpecDefaults(chunk_size=12)).chunk_size == 12
    # the job's own word wins over the studio default, either way
    assert merge_spec({**blend_free, "chunkSize": "auto"}, None, SpecDefaults(chunk_size=12)).chunk_size is None
    assert merge_spec({**blend_free, "chunkSize": 5}, None, SpecDefaults(chunk_size=None)).chunk_size == 5


@pytest.mark.parametrize("value", ["AUTO", "automatic", "", "12", 0, 10_001, 2.5, True, None, ["auto"]])
def test_a_chunk_size_is_auto_or_a_whole_number_of_frames(value):
    with pytest.raises(ValidationError) as err:
        manifest_from_json({"chunkSize": value})
    assert err.value.field == "chunkSize"


def test_an_automatic_spec_survives_the_job_document():
    spec = JobSpec(frames=FrameSet.parse("1-48"), fps=24, resolution=Resolution(320, 180), chunk_size=None)
    assert spec.to_json()["chunkSize"] == "auto"
    assert JobSpec.from_json(spec.to_json()) == spec
    fixed = JobSpec(frames=FrameSet.parse("1-48"), fps=24, resolution=Resolution(320, 180), chunk_size=12)
    assert JobSpec.from_json(fixed.to_json()).chunk_size == 12


# ---------------------------------------------------------------- probes


def test_probes_are_single_frames_spread_over_the_shot_one_per_slot():
    probes = plan_probe_chunks(FrameSet.parse("1-48"), slots=2)
    assert [c.id for c in probes] == ["probe-0001", "probe-0002"]
    assert [list(c.frames) for c in probes] == [[1], [48]]
    assert [list(c.frames) for c in plan_probe_chunks(FrameSet.parse("1-48"), slots=3)] == [[1], [48], [24]]


def test_probes_follow_a_stepped_range_and_never_outnumber_its_frames():
    assert [list(c.frames) for c in plan_probe_chunks(FrameSet.parse("1001-1100x10"), slots=2)] == [[1001], [1091]]
    assert [list(c.frames) for c in plan_probe_chunks(FrameSet.parse("7"), slots=4)] == [[7]]
    assert [list(c.frames) for c in plan_probe_chunks(FrameSet.parse("1-3"), slots=8)] == [[1], [3], [2]]


def test_a_probes_marker_wakes_the_probe_wait_not_the_render_wait():
    assert names.wait_instance_for_task("job-1", "probe-0002") == "job-1:probe:0"
    assert names.wait_instance_for_task("job-1", "probe-0002-r1") == "job-1:probe:1"
    assert names.wait_instance_for_task("job-1", "chunk-0002") == "job-1:render:0"


# ---------------------------------------------------------------- what the probes measured


def test_probe_timing_is_the_median_frame_and_the_median_start_up():
    timing = probe_timing([(5.0, {"1": 3.0}), (6.5, {"48": 4.0}), (9.0, {"24": 5.0})])
    assert timing == ProbeTiming(seconds_per_frame=4.0, startup_seconds=2.5)


def test_probe_timing_ignores_what_is_not_a_sane_number_and_needs_one_timed_frame():
    assert probe_timing([]) is None
    assert probe_timing([(5.0, {}), (None, None)]) is None
    assert probe_timing([(5.0, {"1": "fast", "2": float("nan"), "3": -1, "4": True})]) is None
    timing = probe_timing([(float("inf"), {"1": 2.0}), (None, {"2": 4.0})])
    assert timing == ProbeTiming(seconds_per_frame=3.0, startup_seconds=0.0)  # no task time: no start-up seen


# ---------------------------------------------------------------- sizing

DEMO = FrameSet.parse("1-48")


def _probed(frames: FrameSet, slots: int = 2) -> tuple:
    return plan_probe_chunks(frames, slots)


def test_each_task_runs_about_the_target_start_up_included():
    assert frames_per_task(ProbeTiming(2.0, 10.0), target_seconds=300) == 145
    # a target shorter than the start-up: as many seconds of frames as of start-up
    assert frames_per_task(ProbeTiming(2.0, 60.0), target_seconds=30) == 30
    assert frames_per_task(ProbeTiming(900.0, 20.0), target_seconds=300) == 1      # very slow frames
    assert frames_per_task(ProbeTiming(0.0, 1.0), target_seconds=300) == 10_000    # very fast: the cap


def test_the_demo_on_two_slots_becomes_one_chunk_per_slot_of_the_frames_left():
    probes = _probed(DEMO)
    sized = size_chunks(DEMO, probes, ProbeTiming(2.0, 1.5), target_seconds=300, slots=2)
    assert [c.id for c in sized] == ["chunk-0001", "chunk-0002"]
    assert [c.frames.to_spec() for c in sized] == ["2-24", "25-47"]
    assert sorted(f for c in (*probes, *sized) for f in c.frames) == list(DEMO)  # every frame once


def test_chunks_come_in_whole_waves_of_equal_size_so_the_last_wave_ends_together():
    frames = FrameSet.parse("1-100")
    probes = _probed(frames, slots=4)
    sized = size_chunks(frames, probes, ProbeTiming(10.0, 5.0), target_seconds=100, slots=4)
    assert len(sized) % 4 == 0
    sizes = [len(c.frames) for c in sized]
    assert max(sizes) - min(sizes) <= 1
    # 96 frames, ~10 a task: 2 waves of 12 (125 s) or 3 of 8 (85 s), as near; the shorter wins
    assert sizes == [8] * 12


def test_a_few_frames_left_are_one_per_chunk_and_none_left_adds_nothing():
    frames = FrameSet.parse("1-5")
    probes = _probed(frames, slots=2)
    sized = size_chunks(frames, probes, ProbeTiming(900.0, 1.0), target_seconds=300, slots=8)
    assert [list(c.frames) for c in sized] == [[2], [3], [4]]
    one = FrameSet.parse("1")
    assert size_chunks(one, _probed(one), ProbeTiming(1.0, 1.0), target_seconds=300, slots=2) == ()
    again = (*probes, *sized)
    assert size_chunks(frames, again, ProbeTiming(1.0, 1.0), target_seconds=300, slots=2) == ()  # sized twice


def test_very_fast_frames_still_keep_every_slot_busy():
    frames = FrameSet.parse("1-1000")
    sized = size_chunks(frames, _probed(frames, 2), ProbeTiming(0.01, 1.0), target_seconds=300, slots=2)
    assert [len(c.frames) for c in sized] == [499, 499]


def test_a_stepped_range_is_chunked_in_its_own_frames():
    frames = FrameSet.parse("1-99x2")  # 50 frames
    probes = _probed(frames, 2)
    sized = size_chunks(frames, probes, ProbeTiming(3.0, 1.0), target_seconds=30, slots=2)
    assert all(f % 2 == 1 for c in sized for f in c.frames)
    assert sorted(f for c in (*probes, *sized) for f in c.frames) == list(frames)
    assert {len(c.frames) for c in sized} == {8}  # 48 left; ~10 frames a task, in waves of 2: 6 of 8


def test_without_a_timed_probe_the_fallback_size_is_used():
    frames = FrameSet.parse("1-42")
    sized = size_chunks(frames, _probed(frames, 2), None, target_seconds=300, slots=2)
    assert len(sized) == 4 and {len(c.frames) for c in sized} == {10}
    assert FALLBACK_CHUNK_SIZE == 10


def test_preview_order_spreads_the_sized_chunks_too_and_max_chunks_bounds_them():
    frames = FrameSet.parse("1-40")
    probes = _probed(frames, 2)
    preview = size_chunks(frames, probes, ProbeTiming(10.0, 0.0), target_seconds=40, slots=2, order="preview")
    first = list(preview[0].frames)
    assert first[-1] - first[0] > len(first)  # not consecutive: spread over the shot
    capped = size_chunks(frames, probes, ProbeTiming(10.0, 0.0), target_seconds=10, slots=2, max_chunks=3)
    assert len(capped) == 3 and sum(len(c.frames) for c in capped) == 38
    assert unplanned_frames(frames, (*probes, *capped)) == ()
