"""Chunk pages as pure functions: splitting, a page's counts, the job's summary, API tokens."""

from __future__ import annotations

import base64
import json

import pytest

from shared.chunk_pages import (
    PAGE_SIZE,
    decode_token,
    encode_token,
    new_page,
    page_counts,
    page_id,
    pages_with,
    record_pages,
    split_into_pages,
    summary,
    unsettled_pages,
)
from shared.errors import ValidationError
from shared.frames import FrameSet
from shared.planning import chunks_to_json, plan_chunks


def chunks(frames: str = "1-1000", size: int = 2) -> list[dict]:
    return chunks_to_json(plan_chunks(FrameSet.parse(frames), size))


def test_chunks_split_into_pages_of_page_size_in_plan_order():
    planned = chunks()  # 500 chunks
    pages = split_into_pages(planned)
    assert [len(p) for p in pages] == [PAGE_SIZE, PAGE_SIZE, 500 - 2 * PAGE_SIZE]
    assert [c for p in pages for c in p] == planned
    assert page_id("job-a_1", 7) == "job-a_1.00007" != page_id("job-a", 7)


def test_a_pages_counts_say_its_frames_and_chunks_per_status():
    page = new_page("job-1", 0, chunks("1-10", 3))  # 3, 3, 3, 1 frames
    page["chunks"][0]["status"] = "succeeded"
    page["chunks"][3]["status"] = "failed"
    page["chunks"][1]["status"] = "running"
    assert page_counts(page) == [1, 10, 3, 1, 0, 1, 1, 1]  # rev, frames, done, pending…failed


def test_the_summary_takes_only_newer_revs_of_a_page_so_late_writers_cannot_undo_progress():
    doc: dict = {"progress": {"eta": "2026-12-01T13:00:00Z"}}
    first = new_page("job-1", 0, chunks("1-4", 1))
    second = new_page("job-1", 1, chunks("5-8", 1))
    assert record_pages(doc, [first, second])
    newer = {**first, "rev": 2, "chunks": [{**c, "status": "succeeded"} for c in first["chunks"]]}
    assert record_pages(doc, [newer])
    assert doc["progress"]["framesDone"] == 4 and doc["progress"]["chunksDone"] == 4
    assert not record_pages(doc, [first])  # rev 1 arrives after rev 2 (a slower writer): ignored
    assert doc["progress"]["framesDone"] == 4 and doc["progress"]["framesTotal"] == 8
    assert doc["progress"]["eta"] == "2026-12-01T13:00:00Z"  # the watch fields stay
    assert doc["progress"]["chunkStatus"] == {"pending": 4, "queued": 0, "running": 0, "succeeded": 4, "failed": 0}
    assert doc["chunkCount"] == 8 and doc["chunkPageCount"] == 2
    assert record_pages(doc, [new_page("job-1", 2, chunks("9-10", 1))])  # chunks planned later count at once
    assert doc["chunkCount"] == 10 and doc["chunkPageCount"] == 3 and doc["progress"]["framesTotal"] == 10


def test_pages_with_a_status_and_unsettled_pages_come_from_the_summary():
    pages = [new_page("job-1", n, group) for n, group in enumerate(split_into_pages(chunks("1-900", 1)))]
    for c in pages[1]["chunks"]:
        c["status"] = "succeeded"
    pages[2]["chunks"][5]["status"] = "failed"
    doc: dict = {}
    record_pages(doc, pages)
    assert pages_with(doc, "failed") == [2] and pages_with(doc, "succeeded") == [1]
    assert pages_with(doc, None) == list(range(5))
    assert unsettled_pages(doc) == {0, 2, 3, 4}
    assert pages_with({"chunkPageCount": 5, "chunkPages": {}}, "failed") is None  # unknown: read them all
    assert summary(doc["chunkPages"])["chunksTotal"] == 900


def test_a_token_comes_back_for_the_same_job_and_status_only():
    token = encode_token("job-1", "failed", 3, 17)
    assert decode_token(token, "job-1", "failed") == (3, 17)
    for job, status in (("job-2", "failed"), ("job-1", None), ("job-1", "succeeded")):
        with pytest.raises(ValidationError) as err:
            decode_token(token, job, status)
        assert err.value.code == "invalid_continuation_token" and err.value.field == "continuationToken"


@pytest.mark.parametrize("token", [
    "garbage", "!!!!", "a" * 300, "é", "",
    base64.urlsafe_b64encode(b'["job-1", "", -1, 0]').decode(),
    base64.urlsafe_b64encode(b'["job-1", "", 1.5, 0]').decode(),
    base64.urlsafe_b64encode(b'["job-1", "", true, 0]').decode(),
    base64.urlsafe_b64encode(json.dumps({"job": "job-1"}).encode()).decode(),
    base64.urlsafe_b64encode(b"\xff\xfe").decode(),
])
def test_a_garbage_token_is_a_validation_error(token):
    with pytest.raises(ValidationError) as err:
        decode_token(token, "job-1", None)
    assert err.value.code == "invalid_continuation_token"
