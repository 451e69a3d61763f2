"""Conditional GETs of the job routes (RFC 9110 If-None-Match → 304) through the app's own
trigger functions over fakes, and the entity-tag grammar on its own."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import azure.functions as func
import pytest

import triggers.api as api
from shared.bootstrap import Services
from tests.app_functions import app_functions
from tests.qa.fakes import FakeDurableClient, make_services
from triggers.conditional import entity_tag, not_modified, parse_if_none_match


def _trigger(name: str) -> Any:
    return {f.get_function_name(): f for f in app_functions()}[name].get_user_function()


@pytest.fixture
def svc(monkeypatch) -> Services:
    services = make_services()
    for n in range(3):
        services.jobs.create({"id": f"job-{n}", "status": "completed", "chunks": [{"id": "chunk-0000"}],
                              "timestamps": {"createdAt": f"2026-01-0{n + 1}"}})
    monkeypatch.setattr(api, "services", lambda: services)
    return services


def get_job(job_id: str, headers: dict[str, str] | None = None) -> func.HttpResponse:
    request = func.HttpRequest("GET", f"http://localhost/api/jobs/{job_id}", body=b"",
                               route_params={"jobId": job_id}, headers=headers or {})
    return asyncio.run(_trigger("get_job").__wrapped__(request, FakeDurableClient()))


def list_jobs(headers: dict[str, str] | None = None, **params: str) -> func.HttpResponse:
    request = func.HttpRequest("GET", "http://localhost/api/jobs", body=b"", params=params, headers=headers or {})
    return asyncio.run(_trigger("list_jobs").__wrapped__(request, FakeDurableClient()))


def test_a_job_answer_carries_the_etag_of_its_bytes_and_asks_to_be_revalidated(svc):
    answer = get_job("job-1")
    assert answer.status_code == 200
    assert answer.headers["ETag"] == entity_tag(answer.get_body())
    assert answer.headers["Cache-Control"] == "private, no-cache"
    assert json.loads(answer.get_body())["id"] == "job-1"


def test_the_etag_it_sent_back_answers_304_with_no_body_but_the_same_headers(svc):
    first = get_job("job-1")
    again = get_job("job-1", {"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert again.get_body() == b""
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Cache-Control"] == "private, no-cache"


def test_a_changed_job_answers_200_with_a_new_etag(svc):
    before = get_job("job-1").headers["ETag"]
    doc = svc.jobs.get("job-1")
    svc.jobs.replace({**doc, "priority": 5}, etag=doc["_etag"])
    answer = get_job("job-1", {"If-None-Match": before})
    assert answer.status_code == 200
    assert answer.headers["ETag"] != before
    assert json.loads(answer.get_body())["priority"] == 5


def test_another_jobs_etag_is_no_match(svc):
    other = get_job("job-2").headers["ETag"]
    assert get_job("job-1", {"If-None-Match": other}).status_code == 200


@pytest.mark.parametrize("header", ['W/{tag}', '"nope", {tag}', '"a,b" ,, W/{tag}', "*", ' {tag} '])
def test_weak_tags_lists_and_star_match_as_rfc_9110_compares(svc, header):
    tag = get_job("job-1").headers["ETag"]
    assert get_job("job-1", {"If-None-Match": header.format(tag=tag)}).status_code == 304


@pytest.mark.parametrize("header", ["{bare}", '"nope"', "{tag}x", '*, {tag}', "", "W/ {tag}", "{tag} {tag}"])
def test_a_malformed_or_unmatched_if_none_match_gets_the_full_answer(svc, header):
    tag = get_job("job-1").headers["ETag"]
    answer = get_job("job-1", {"If-None-Match": header.format(tag=tag, bare=tag.strip('"'))})
    assert answer.status_code == 200 and json.loads(answer.get_body())["id"] == "job-1"


def test_star_for_a_job_that_does_not_exist_is_still_404(svc):
    answer = get_job("job-9", {"If-None-Match": "*"})
    assert answer.status_code == 404
    assert json.loads(answer.get_body())["error"]["code"] == "not_found"


def test_a_page_of_jobs_answers_304_until_a_job_on_it_changes(svc):
    first = list_jobs(top="2")
    tag = first.headers["ETag"]
    assert first.status_code == 200 and tag == entity_tag(first.get_body())
    assert list_jobs({"If-None-Match": tag}, top="2").status_code == 304
    doc = svc.jobs.get("job-2")  # the newest: on the first page
    svc.jobs.replace({**doc, "status": "failed"}, etag=doc["_etag"])
    changed = list_jobs({"If-None-Match": tag}, top="2")
    assert changed.status_code == 200 and changed.headers["ETag"] != tag


def test_each_page_and_filter_has_its_own_etag(svc):
    tags = {list_jobs(top="1").headers["ETag"], list_jobs(top="2").headers["ETag"],
            list_jobs(status="failed").headers["ETag"], list_jobs().headers["ETag"]}
    assert len(tags) == 4


def test_a_bad_query_with_a_matching_star_is_still_a_400(svc):
    answer = list_jobs({"If-None-Match": "*"}, top="0")
    assert answer.status_code == 400 and json.loads(answer.get_body())["error"]["field"] == "top"


@pytest.mark.parametrize(("value", "tags"), [
    ('"a"', ['"a"']),
    ('W/"a", "b"', ['"a"', '"b"']),
    ('"a,b", "c"', ['"a,b"', '"c"']),   # a comma inside a tag is part of it
    (', "a" ,,', ['"a"']),              # empty list elements are allowed
    ('""', ['""']),
    ("*", ["*"]),
    ('"a" "b"', None), ('a', None), ('"a', None), ('w/"a"', None), ('"a"b', None), ('* ,"a"', None),
    ('"\x7f"', None), ('"é"', ['"é"']), (",", None),
])
def test_if_none_match_is_read_as_its_grammar_says(value, tags):
    assert parse_if_none_match(value) == tags


def test_weak_comparison_ignores_the_weak_prefix_on_either_side():
    assert not_modified('W/"x"', '"x"') and not_modified('"x"', 'W/"x"') and not_modified('W/"x"', 'W/"x"')
    assert not not_modified('"y"', '"x"') and not not_modified(None, '"x"') and not not_modified("", '"x"')


def test_equal_bytes_have_one_tag_and_one_byte_more_another():
    assert entity_tag(b'{"a": 1}') == entity_tag(b'{"a": 1}')
    assert entity_tag(b'{"a": 1}') != entity_tag(b'{"a": 1} ')
    assert parse_if_none_match(entity_tag(b"x")) == [entity_tag(b"x")]


@pytest.mark.parametrize("token", [" ", " abc", "abc "])
def test_a_continuation_token_with_spaces_around_it_is_a_400_not_an_outage(svc, monkeypatch, token):
    # Found by the generated requests: the token goes into a Cosmos header, whose client refuses
    # a value with leading whitespace; that was a 503. Now the store never sees it.
    def store_list(**_: Any) -> Any:
        raise AssertionError("the store was asked with a token the API refuses")

    monkeypatch.setattr(svc.jobs, "list", store_list)
    answer = list_jobs(continuationToken=token)
    assert answer.status_code == 400
    assert json.loads(answer.get_body())["error"]["code"] == "invalid_continuation_token"
