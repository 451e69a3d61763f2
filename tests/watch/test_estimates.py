"""The pure numbers of a watched job: ETA, cost, stuck limits (shared/pipeline/estimates.py)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from shared.pipeline.estimates import (
    ChunkWork,
    TaskRun,
    budget_reached,
    clean_frame_seconds,
    estimate_cost,
    estimate_eta,
    is_spot_node,
    median_seconds,
    node_seconds,
    observed_slots,
    remaining_seconds,
    stuck_after_seconds,
    task_overhead,
)

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@dataclass
class SimChunk:
    frames: list[float]            # each frame's seconds
    start: float = 0.0
    finishes: list[float] = field(default_factory=list)  # when each frame was done

    @property
    def end(self) -> float:
        return self.finishes[-1]


def simulate(frame_count: int, chunk_size: int, slots: int, seconds: float, overhead: float,
             jitter: float, seed: int) -> list[SimChunk]:
    """A render as Batch runs it: chunks in order onto the slot that frees first; each task starts
    up for `overhead` seconds, then renders its frames one by one."""
    rng = random.Random(seed)
    times = [seconds * (1 + rng.uniform(-jitter, jitter)) for _ in range(frame_count)]
    chunks = [SimChunk(times[i:i + chunk_size]) for i in range(0, frame_count, chunk_size)]
    free = [0.0] * slots
    for chunk in chunks:
        slot = min(range(slots), key=lambda s: free[s])
        chunk.start = free[slot]
        t = chunk.start + overhead
        for frame in chunk.frames:
            t += frame
            chunk.finishes.append(t)
        free[slot] = t
    return chunks


def watch_at(chunks: list[SimChunk], now: float) -> tuple[list[ChunkWork], list[float], float | None, int]:
    """What watching sees at `now`: each chunk's work left, the frame times so far, the overhead of
    the finished tasks, the tasks running."""
    work, seen, gaps, running = [], [], [], 0
    for chunk in chunks:
        done = [f for f, end in zip(chunk.frames, chunk.finishes, strict=True) if end <= now]
        seen += done
        if chunk.end <= now:
            gaps.append((chunk.end - chunk.start, done))
        elif chunk.start <= now:
            running += 1
            last = chunk.finishes[len(done) - 1] if done else chunk.start
            work.append(ChunkWork(len(chunk.frames) - len(done), running=True, elapsed=now - last,
                                  starting=not done))
        else:
            work.append(ChunkWork(len(chunk.frames)))
    return work, seen, task_overhead(gaps), running


@pytest.mark.parametrize(("frames", "chunk_size", "slots", "overhead"), [
    (48, 1, 1, 2.0), (48, 4, 2, 2.0), (100, 10, 2, 5.0), (240, 10, 4, 5.0), (240, 5, 3, 1.0),
    (120, 1, 8, 3.0), (60, 12, 2, 0.0), (250, 25, 2, 10.0),
])
def test_the_eta_at_a_quarter_of_uniform_frames_is_within_20_percent_of_the_real_end(
        frames, chunk_size, slots, overhead):
    for seed in range(5):
        chunks = simulate(frames, chunk_size, slots, seconds=10.0, overhead=overhead, jitter=0.1, seed=seed)
        real_end = max(c.end for c in chunks)
        finishes = sorted(end for c in chunks for end in c.finishes)
        quarter = finishes[frames // 4 - 1]  # the moment a quarter of the frames is done
        work, seen, task_start, running = watch_at(chunks, quarter)
        eta = estimate_eta(work, median_seconds(seen), observed_slots(running, running), T0 + timedelta(
            seconds=quarter), task_start)
        assert eta is not None
        predicted = (eta - T0).total_seconds()
        assert abs(predicted - real_end) <= 0.2 * real_end, (seed, predicted, real_end)
        # and the time still to go, the harder half, is within 20% of what it really was
        assert abs(predicted - real_end) <= 0.2 * (real_end - quarter), (seed, predicted, real_end)


def test_queued_chunks_take_the_slot_that_frees_first():
    # two slots, free in 10 s and in 30 s; each queued chunk is 2 frames of 10 s
    running = [ChunkWork(1, running=True), ChunkWork(3, running=True)]
    assert remaining_seconds([*running, ChunkWork(2)], 10.0, 2) == 30.0   # on the first slot: 10 → 30
    assert remaining_seconds([*running, ChunkWork(2), ChunkWork(2)], 10.0, 2) == 50.0  # then 30 → 50
    assert remaining_seconds([*running, ChunkWork(2), ChunkWork(2), ChunkWork(2)], 10.0, 2) == 50.0


def test_a_running_chunk_is_into_its_current_frame_and_a_new_one_pays_its_start_up():
    assert remaining_seconds([ChunkWork(2, running=True, elapsed=4.0)], 10.0, 1) == 16.0
    assert remaining_seconds([ChunkWork(2, running=True, elapsed=4.0, starting=True)], 10.0, 1, 5.0) == 21.0
    assert remaining_seconds([ChunkWork(2)], 10.0, 1, 5.0) == 25.0
    # a frame slower than the median never makes the time left negative
    assert remaining_seconds([ChunkWork(1, running=True, elapsed=60.0)], 10.0, 1) == 0.0


def test_free_slots_start_queued_chunks_at_once():
    assert remaining_seconds([ChunkWork(3), ChunkWork(3), ChunkWork(3)], 2.0, 3) == 6.0
    assert remaining_seconds([ChunkWork(3), ChunkWork(3), ChunkWork(3)], 2.0, 1) == 18.0


def test_no_eta_before_a_frame_is_timed_and_now_when_nothing_is_left():
    assert estimate_eta([ChunkWork(5)], None, 1, T0) is None
    assert estimate_eta([ChunkWork(0, running=True)], 3.0, 1, T0) == T0


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        remaining_seconds([ChunkWork(1)], 1.0, 0)
    with pytest.raises(ValueError):
        remaining_seconds([ChunkWork(1)], -1.0, 1)


def test_observed_slots_are_the_running_tasks_else_the_peak():
    assert observed_slots(3, 5) == 3
    assert observed_slots(0, 4) == 4
    assert observed_slots(0, 0) == 1


def test_the_median_frame_time_shrugs_off_one_slow_frame():
    assert median_seconds([10, 11, 9, 10, 300]) == 10
    assert median_seconds([]) is None


def test_task_overhead_is_the_median_run_time_beyond_the_frames():
    assert task_overhead([(25.0, [10.0, 10.0]), (27.0, [10.0, 10.0]), (None, [1.0])]) == 6.0
    assert task_overhead([(5.0, [10.0])]) == 0.0   # clocks disagree: never negative
    assert task_overhead([]) is None


def test_frame_seconds_from_a_node_keep_only_the_chunks_frames_and_sane_numbers():
    raw = {"1": 2.5, "2": -1, "3": "fast", "4": True, "99": 3.0, "5": 1e12, "6": 4}
    assert clean_frame_seconds(raw, [1, 2, 3, 4, 5, 6]) == {"1": 2.5, "6": 4.0}
    assert clean_frame_seconds(["1", 2], [1]) == {}
    assert clean_frame_seconds(None, [1]) == {}


def test_node_seconds_weigh_each_task_by_its_share_of_a_node():
    runs = [TaskRun(100.0), TaskRun(50.0), TaskRun(30.0, spot=True)]
    assert node_seconds(runs, 1) == (150.0, 30.0)
    assert node_seconds(runs, 2) == (75.0, 15.0)
    with pytest.raises(ValueError):
        node_seconds(runs, 0)


def test_the_cost_prices_dedicated_and_spot_node_hours_apart():
    assert estimate_cost(3600, 7200, price_dedicated=1.0, price_spot=0.25) == 1.5
    assert estimate_cost(1800, 0, price_dedicated=0.8, price_spot=0.1) == 0.4
    assert estimate_cost(3600, 3600, price_dedicated=0, price_spot=0) == 0


def test_spot_nodes_are_batchs_low_priority_ones():
    assert is_spot_node("tvmps_0123abcd_p")
    assert not is_spot_node("tvmps_0123abcd_d")
    assert not is_spot_node("render-host.local")
    assert not is_spot_node(None)


def test_a_budget_is_reached_at_the_max_cost_and_never_without_one():
    assert budget_reached(10.0, 10.0) and budget_reached(10.5, 10.0)
    assert not budget_reached(9.99, 10.0)
    assert not budget_reached(1e9, None)


def test_stuck_after_is_the_jobs_own_else_the_floor_or_five_median_frames():
    assert stuck_after_seconds(900, 600, 1000.0) == 900
    assert stuck_after_seconds(None, 600, None) == 600
    assert stuck_after_seconds(None, 600, 60.0) == 600
    assert stuck_after_seconds(None, 600, 200.0) == 1000
