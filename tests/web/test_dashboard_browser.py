"""The dashboard in real headless Chromium against the local stack, with real renders."""

from __future__ import annotations

import json
import os
import re
import time
import urllib.request
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from azure.storage.blob import BlobServiceClient
from playwright.sync_api import expect

from shared.job_document import upload_job_id
from stack.local import StackInfo, api_request, wait_for
from tests.e2e.conftest import download, make_blend, make_bundle, upload, wait_for_job
from tests.web.conftest import TIMEZONE, screenshot, sign_in, ui_url

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def short_blend(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_blend(tmp_path_factory.mktemp("web-scene") / "shot020.blend", frames=6)


@pytest.fixture(scope="session")
def long_blend(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_blend(tmp_path_factory.mktemp("web-long") / "shot030.blend", frames=40, samples=8)


def submit_upload(info: StackInfo, blend: Path, folder: Path, blob_name: str, manifest: dict[str, Any]) -> str:
    bundle = make_bundle(folder / Path(blob_name).name, blend, manifest)
    url, etag = upload(info, bundle, blob_name)
    return upload_job_id(url, etag)


def raw_api(info: StackInfo, method: str, path: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(f"{info.api_url}{path}", data=json.dumps(body).encode(), method=method,
                                     headers={"x-functions-key": info.function_key,
                                              "content-type": "application/json", **headers})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read())


def served(info: StackInfo, path: str) -> bool:
    """Whether the API has this GET route: a 404 for a job carries an error code, one for the route does not."""
    status, body = api_request(info, "GET", path)
    return not (status == 404 and not (isinstance(body, dict) and isinstance(body.get("error"), dict)))


def described(info: StackInfo, template: str, method: str | None = None) -> bool:
    """Whether GET /api/openapi.json lists the route, with that method when one is named (the page
    shows optional controls only then: priority needs PATCH on a path that also has GET)."""
    status, body = api_request(info, "GET", "/openapi.json")
    return status == 200 and any(p.removeprefix("/api") == template and (method is None or method in ops)
                                 for p, ops in body.get("paths", {}).items())


def read_url(info: StackInfo, blob_name: str) -> str:
    """A short-lived read URL of a renders blob, as the API's outputs route will hand out."""
    from azure.storage.blob import BlobSasPermissions, BlobServiceClient, generate_blob_sas

    service = BlobServiceClient.from_connection_string(info.storage_connection_string)
    token = generate_blob_sas(service.account_name, "renders", blob_name, account_key=service.credential.account_key,
                              permission=BlobSasPermissions(read=True),
                              expiry=datetime.now(UTC) + timedelta(minutes=10))
    return f"{service.get_blob_client('renders', blob_name).url}?{token}"


def job_row(page: Any, job_id: str) -> Any:
    return page.locator(f'#jobs-table tr[data-job="{job_id}"]')


def test_a_wrong_key_gets_a_clear_message_and_the_key_stays_out_of_urls_and_cookies(stack, page, context, tmp_path):
    sent: list[tuple[str, dict[str, str]]] = []
    page.on("request", lambda r: sent.append((r.url, r.headers)))
    page.goto(ui_url(stack))
    dialog = page.locator("#key-dialog")
    assert dialog.is_visible()
    page.locator("#key-input").fill("not-the-key")
    page.locator("#key-save").click()
    error = page.locator("#key-error")
    error.wait_for(state="visible")
    assert "Wrong key" in error.inner_text() and "401" in error.inner_text()
    assert dialog.is_visible()
    screenshot(page, "wrong-key", tmp_path)

    page.locator("#key-input").fill(stack.function_key)
    page.locator("#key-save").click()
    dialog.wait_for(state="hidden")
    page.locator("#jobs-table").wait_for()
    assert page.evaluate("Object.values(sessionStorage)") == [stack.function_key]
    assert context.cookies() == []
    api_calls = [(url, headers) for url, headers in sent if "/api/" in url and "/api/ui/" not in url]
    assert api_calls, "the page made no API call"
    assert all(stack.function_key not in url for url, _ in sent)
    keyed = [headers.get("x-functions-key") for url, headers in api_calls if not url.endswith("/api/health")]
    assert keyed[-1] == stack.function_key and "not-the-key" in keyed
    assert not page.errors_


def test_a_job_appears_its_progress_moves_and_its_pages_show_it(stack, page, short_blend, tmp_path):
    sign_in(page, stack)
    job_id = submit_upload(stack, short_blend, tmp_path, "web/shot020.zip",
                           {"chunkSize": 1, "video": {"name": "shot020.mp4"}})
    row = job_row(page, job_id)
    row.wait_for(timeout=30_000)
    labels: list[str] = []
    heights: set[float] = set()
    tops: set[float] = set()
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        labels.append(row.locator(".bar-label").inner_text())
        box = row.bounding_box()
        heights.add(round(box["height"], 1))
        tops.add(round(page.locator("#jobs-table thead").bounding_box()["y"], 1))
        if "Completed" in row.locator(".status").inner_text():
            break
        time.sleep(0.4)
    assert "Completed" in row.locator(".status").inner_text()
    labels.append(row.locator(".bar-label").inner_text())  # read after the status that ended the loop
    done = [int(m.group(1)) for text in labels if (m := re.match(r"(\d+) / 6 frames", text))]
    assert done == sorted(done), labels  # never goes back
    # The page showed the job unfinished and then updated by itself (how many steps between
    # depends on how often the pipeline records progress, not on the page).
    assert done[0] < 6 and done[-1] == 6, labels
    assert len(heights) == 1 and len(tops) == 1, (heights, tops)  # no layout jumps while polling
    assert row.locator("td").nth(4).inner_text() == "upload: web"

    row.locator("a").click()
    page.wait_for_url(re.compile(f"#/jobs/{job_id}$"))
    page.locator("#chunk-grid .chunk").first.wait_for()
    assert page.locator("h1").inner_text() == "shot020.zip"
    assert page.locator(".row .status").first.inner_text() == "Completed"
    cells = page.locator("#chunk-grid .chunk")
    assert cells.count() == 6
    assert all("Succeeded" in cells.nth(i).inner_text() for i in range(6))
    assert re.search(r"\d+(\.\d)? s/frame", cells.first.inner_text())
    assert page.locator("#progress-label").inner_text().startswith("6 of 6 frames")

    doc = api_request(stack, "GET", f"/jobs/{job_id}")[1]
    created = datetime.fromisoformat(doc["timestamps"]["createdAt"].replace("Z", "+00:00"))
    shown = page.locator("dl.facts time").first
    assert shown.get_attribute("datetime") == doc["timestamps"]["createdAt"]
    assert created.astimezone(ZoneInfo(TIMEZONE)).strftime("%H:%M:%S") in shown.inner_text()
    assert page.locator("#cancel-job").is_hidden()  # a finished job cannot be cancelled

    preview = page.locator("#preview-image")
    if served(stack, f"/jobs/{job_id}/preview"):
        preview.wait_for(state="visible")
        page.wait_for_function("() => document.querySelector('#preview-image').naturalWidth > 0")
    else:  # the API has no previews yet: the panel stays hidden, and no error shows
        assert preview.is_hidden()
    video = page.locator("#job-video")
    if not served(stack, f"/jobs/{job_id}/outputs"):  # no read URLs yet: no player
        assert video.is_hidden() and page.locator("#downloads").is_hidden()
        # The player's plumbing with the real stitched video from storage: only the answer of the
        # missing route is supplied, in the shape renderctl reads ({url, name, size} at any depth).
        sas = read_url(stack, doc["outputs"]["videoBlob"])
        page.route(re.compile(r".*/api/jobs/[^/]+/outputs$"), lambda route: route.fulfill(
            json={"files": [{"name": "shot020.mp4", "url": sas, "size": 1000}]}))
        if not served(stack, f"/jobs/{job_id}/preview"):  # likewise the preview route, with real frames
            asked_frames: list[str] = []

            def frame(route: Any) -> None:
                number = int(re.search(r"frame=(\d+)", route.request.url + "frame=6").group(1))
                asked_frames.append(str(number))
                route.fulfill(body=download(stack, "renders", f"{job_id}/frames/shot020_{number:04d}.png"),
                              content_type="image/png")
            page.route(re.compile(r".*/api/jobs/[^/]+/preview(\?frame=\d+)?$"), frame)
        page.reload()
        video.wait_for(state="visible")
        preview.wait_for(state="visible")
        page.wait_for_function("() => document.querySelector('#preview-image').naturalWidth === 96")
        expect(page.locator(".thumbs img")).to_have_count(6)
    else:
        video.wait_for(state="visible")
    page.wait_for_function("() => document.querySelector('#job-video').readyState >= 1", timeout=30_000)
    assert page.evaluate("document.querySelector('#job-video').duration") == pytest.approx(6 / 24, abs=0.05)
    assert page.locator("#downloads a").count() >= 1
    page.unroute_all()
    screenshot(page, "job", tmp_path)

    page.locator("a", has_text="Orchestration timeline").click()
    page.locator("#timeline .tl-row").first.wait_for()
    names = page.locator("#timeline > .tl-row .tl-name").all_inner_texts()
    assert names[0] == "register_job" and names[-1] == "finalize_job"
    assert names.count("await_tasks") >= 2
    outcomes = page.locator("#timeline > .tl-row").evaluate_all("rows => rows.map(r => r.dataset.outcome)")
    assert set(outcomes) == {"completed"}
    page.locator("#timeline details summary").first.click()
    assert page.locator("#timeline details[open] .tl-row").count() > 0
    page.locator('#health tr[data-check="renderBackend"]').wait_for()
    assert page.locator("#health td .status").all_inner_texts() == ["OK", "OK", "OK"]
    screenshot(page, "ops", tmp_path)

    for width, height in ((1280, 720), (2560, 1440)):  # a laptop and a large monitor
        page.set_viewport_size({"width": width, "height": height})
        page.goto(ui_url(stack) + f"#/jobs/{job_id}")
        page.locator("#chunk-grid .chunk").first.wait_for()
        assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    assert not page.errors_


def test_cancel_from_the_keyboard_stops_a_rendering_job(stack, page, long_blend, tmp_path):
    job_id = submit_upload(stack, long_blend, tmp_path, "web/shot030.zip", {"chunkSize": 1, "video": None})
    sign_in(page, stack, f"#/jobs/{job_id}")
    badge = page.locator(".row .status").first
    expect(badge).to_have_text("Rendering", timeout=120_000)
    page.locator("#chunk-grid .c-running").first.wait_for(timeout=60_000)
    screenshot(page, "job-rendering", tmp_path)
    if served(stack, f"/jobs/{job_id}/tasks/chunk-0001/log"):
        # The running task's own log, read from its node through the API.
        expect(page.locator("#live-log")).to_contain_text("Fra:", timeout=60_000)
    else:
        # The live log's plumbing: the task log route's answer is supplied until the API has it.
        tail = "Fra:3 Mem:12M | Rendering 5 / 8 samples\n<b>not bold</b>"
        page.route(re.compile(r".*/api/jobs/[^/]+/tasks/[^/]+/log\?stream=stdout&tail=40$"),
                   lambda route: route.fulfill(json={"text": tail}))
        page.reload()
        expect(page.locator("#live-log")).to_contain_text("Rendering 5 / 8 samples")
    assert page.locator("#live-log b").count() == 0
    for control, template, method in (("#pause-job", "/jobs/{jobId}/pause", None),
                                      ("#priority", "/jobs/{jobId}", "patch")):
        expect(page.locator(control)).to_be_visible(visible=described(stack, template, method))
    expect(page.locator("#retry-job")).to_be_hidden()  # only a failed or cancelled job can be retried

    page.evaluate("document.activeElement && document.activeElement.blur()")
    reached = []
    for _ in range(40):  # the button is reachable with Tab alone
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.id"))
        if reached[-1] == "cancel-job":
            break
    assert reached[-1] == "cancel-job", reached
    page.once("dialog", lambda d: d.accept())
    page.keyboard.press("Enter")
    page.unroute_all()
    result = page.locator("#action-result")
    expect(result).to_have_text("Cancel: done; the job is now Cancelled.")
    expect(badge).to_have_text("Cancelled")
    assert page.locator("#cancel-job").is_hidden()
    expect(page.locator("#retry-job")).to_be_visible(visible=described(stack, "/jobs/{jobId}/retry"))
    if not described(stack, "/jobs/{jobId}/retry"):
        # A refusal is shown as the API words it: the route is described and answers 409.
        page.route(re.compile(r".*/api/openapi\.json$"), lambda route: route.fulfill(
            json={"paths": {"/api/jobs/{jobId}/retry": {"post": {}}}}))
        page.route(re.compile(r".*/api/jobs/[^/]+/retry$"), lambda route: route.fulfill(
            status=409, json={"error": {"code": "retry_limit", "message": "this job was retried too often"}}))
        page.reload()
        page.locator("#retry-job").click()
        expect(result).to_have_text("Retry refused: this job was retried too often (HTTP 409)")
        page.unroute_all()
    assert api_request(stack, "GET", f"/jobs/{job_id}")[1]["status"] == "cancelled"
    assert not page.errors_


def test_the_submit_form_refuses_bad_options_before_sending_and_then_starts_a_job(stack, page, short_blend, tmp_path):
    bundle = make_bundle(tmp_path / "form.zip", short_blend, {"video": None, "frames": "1"})
    upload(stack, bundle, "web-form/form.zip")
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    sign_in(page, stack, "#/submit")
    page.locator("#bundle-path").fill("../outside.zip")
    page.locator("#opt-frames").fill("10-1")
    page.locator("#opt-chunkSize").fill("0")
    page.locator("#opt-resolution").fill("2x2")
    page.locator("#opt-priority").fill("5000")
    page.locator("#submit-job").click()
    assert "nothing was sent" in page.locator("#submit-result").inner_text()
    assert "no . or .." in page.locator("#bundle-path-error").inner_text()
    assert "reversed" in page.locator("#opt-frames-error").inner_text()
    assert "1..10000, or auto" in page.locator("#opt-chunkSize-error").inner_text()
    assert "4..16384" in page.locator("#opt-resolution-error").inner_text()
    assert "-1000..1000" in page.locator("#opt-priority-error").inner_text()
    assert page.locator("#opt-frames").get_attribute("aria-invalid") == "true"
    assert page.evaluate("document.activeElement.id") == "bundle-path"
    assert posts == []
    screenshot(page, "submit", tmp_path)

    page.locator("#bundle-path").fill("web-form/form.zip")
    page.locator("#opt-frames").fill("1-2")
    page.locator("#opt-chunkSize").fill("1")
    page.locator("#opt-resolution").fill("64x36")
    page.locator("#opt-priority").fill("10")
    page.locator("#video-mode").select_option("none")
    page.locator("#submit-job").click()
    page.wait_for_url(re.compile(r"#/jobs/[^/]+$"))
    job_id = page.url.rsplit("/", 1)[1]
    assert [url for url in posts if url.endswith("/api/jobs")] == [f"{stack.api_url}/jobs"]
    doc = wait_for_job(stack, job_id)
    assert doc["status"] == "completed", doc.get("error")
    assert doc["spec"]["frames"] == "1-2" and doc["spec"]["priority"] == 10 and doc["spec"]["video"] is None
    assert doc["spec"]["resolution"] == {"width": 64, "height": 36}
    expect(page.locator(".row .status").first).to_have_text("Completed")
    assert not page.errors_


# The page's progress bar, recorded as it changes (the init script runs outside the page's CSP,
# as Playwright injects it; the page itself stays free of inline script).
RECORD_PROGRESS = """
window.__progress = [];
new MutationObserver((changes) => {
  for (const c of changes) {
    if (c.target.id === "upload-progress" && !c.target.hidden) window.__progress.push(Number(c.target.value));
  }
}).observe(document, { subtree: true, attributes: true, attributeFilter: ["value", "hidden"] });
"""


def padded_bundle(path: Path, blend: Path, manifest: dict[str, Any], pad_bytes: int) -> Path:
    """A bundle bigger than one upload block: the scene plus an incompressible asset."""
    make_bundle(path, blend, manifest)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("textures/noise.bin", os.urandom(pad_bytes))
    return path


def test_a_bundle_file_is_sent_through_the_upload_route_or_the_page_says_it_cannot(stack, page, short_blend, tmp_path):
    # 9 MiB: three blocks of the page's 4 MiB, so the bar moves between blocks as well as within them.
    bundle = padded_bundle(tmp_path / "picked.zip", short_blend, {"video": None, "frames": "1-2", "chunkSize": 1},
                           9 * 1024 * 1024)
    page.add_init_script(RECORD_PROGRESS)
    sent: list[Any] = []
    page.on("request", lambda r: sent.append(r))
    sign_in(page, stack, "#/submit")
    file_field = page.locator("#bundle-file")
    if api_request(stack, "POST", "/uploads", {"name": "probe.zip"})[0] == 404:
        file_field.set_input_files(str(bundle))
        page.locator("#submit-job").click()
        result = page.locator("#submit-result")
        expect(result).to_contain_text("cannot take uploads yet")
        assert file_field.is_hidden()
        assert page.locator("#bundle-path").is_visible()
    else:
        file_field.set_input_files(str(bundle))
        page.locator("#submit-job").click()
        page.wait_for_url(re.compile(r"#/jobs/[^/]+$"))
        job_id = page.url.rsplit("/", 1)[1]
        doc = wait_for_job(stack, job_id)
        assert doc["status"] == "completed", doc.get("error")
        assert doc["progress"]["framesDone"] == 2
        progress = page.evaluate("window.__progress")
        assert progress == sorted(progress) and progress[-1] == 100, progress
        assert len({p for p in progress if 0 < p < 100}) >= 2, progress  # it moved, not 0 then 100
        storage = f"http://127.0.0.1:{stack.azurite_port}/"
        puts = [r for r in sent if r.url.startswith(storage)]
        assert [r.method for r in puts] == ["PUT"] * 4  # three blocks and the block list
        assert sum("comp=block&" in r.url for r in puts) == 3 and "comp=blocklist" in puts[-1].url
        blob_name = doc["source"]["blobName"]
        assert blob_name.startswith("_uploads/") and blob_name.endswith("/picked.zip")
        stored = BlobServiceClient.from_connection_string(stack.storage_connection_string).get_blob_client(
            "scenes", blob_name).download_blob().readall()
        assert stored == bundle.read_bytes()
    assert not page.errors_


def test_the_page_never_sends_the_function_key_to_the_storage_origin(stack, page, short_blend, tmp_path):
    """The attack: a page that leaked the key to storage would hand it to whoever runs or logs
    that origin. Every request the browser makes to storage (uploads, previews, videos) is read."""
    if api_request(stack, "POST", "/uploads", {"name": "probe.zip"})[0] == 404:
        pytest.skip("the API has no upload URLs")
    bundle = make_bundle(tmp_path / "keyless.zip", short_blend, {"video": None, "frames": "1"})
    sent: list[Any] = []
    page.on("request", lambda r: sent.append(r))
    sign_in(page, stack, "#/submit")
    page.locator("#bundle-file").set_input_files(str(bundle))
    page.locator("#submit-job").click()
    page.wait_for_url(re.compile(r"#/jobs/[^/]+$"))
    assert wait_for_job(stack, page.url.rsplit("/", 1)[1])["status"] == "completed"
    storage = f"http://127.0.0.1:{stack.azurite_port}/"
    to_storage = [r for r in sent if r.url.startswith(storage)]
    assert to_storage, "the page sent nothing to storage"
    keyed_api = [r for r in sent if r.url.startswith(stack.api_url) and "/ui/" not in r.url
                 and not r.url.endswith("/health")]
    assert keyed_api and all(r.all_headers().get("x-functions-key") == stack.function_key for r in keyed_api)
    for request in to_storage:
        headers = request.all_headers()
        assert "x-functions-key" not in headers and "authorization" not in headers and "cookie" not in headers
        assert stack.function_key not in request.url
        assert stack.function_key not in " ".join(headers.values())
        body = request.post_data_buffer or b""
        assert stack.function_key.encode() not in body
    assert not page.errors_


def test_text_from_the_api_is_shown_as_text_never_as_markup(stack, page, tmp_path):
    hostile = '<img src=x onerror="document.body.dataset.pwned=1">'
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip at all")
    upload(stack, bad, "xss/bad.zip")
    status, job = raw_api(stack, "POST", "/jobs", {"bundle": "xss/bad.zip"},
                          {"x-ms-client-principal-name": hostile})
    assert status == 202
    wait_for(lambda: api_request(stack, "GET", f"/jobs/{job['id']}")[1]["status"] == "failed", 60,
             what="the hostile job to fail")
    sign_in(page, stack)
    row = job_row(page, job["id"])
    row.wait_for()
    assert row.locator("td").nth(4).inner_text() == hostile
    assert row.locator("img").count() == 0
    row.locator("a").click()
    page.locator("#job-error .error").wait_for()
    assert "bundle_not_zip_or_blend" in page.locator("#job-error").inner_text()
    assert page.evaluate("document.body.dataset.pwned") is None
    assert page.locator("main img[src='x']").count() == 0
    assert not page.errors_


def test_the_health_page_shows_each_dependency(stack, page, tmp_path):
    sign_in(page, stack, "#/health")
    page.locator('#health tr[data-check="jobStore"]').wait_for()
    assert page.locator("#health-summary").inner_text() == "Healthy"
    assert page.locator("#health th").all_inner_texts() == [
        "Job store (Cosmos DB)", "Blob storage", "Render backend (Batch)"]
    screenshot(page, "health", tmp_path)
    assert not page.errors_


def test_the_jobs_page_filters_by_status(stack, page, tmp_path):
    sign_in(page, stack)
    page.locator("#jobs-table tbody tr").first.wait_for()
    for status in ("failed", "completed"):
        expected = [j["id"] for j in api_request(stack, "GET", f"/jobs?status={status}&top=25")[1]["jobs"]]
        page.locator("#status-filter").select_option(status)
        assert page.url.endswith(f"#/jobs?status={status}")
        rows = page.locator("#jobs-table tbody tr")
        expect(rows).to_have_count(len(expected))
        assert rows.evaluate_all("rows => rows.map(r => r.dataset.job)") == expected
        assert set(page.locator("#jobs-table tbody .status").all_inner_texts()) <= {status.capitalize()}
    page.locator("#status-filter").select_option("")
    expect(page.locator("#jobs-table tbody tr")).to_have_count(
        len(api_request(stack, "GET", "/jobs?top=25")[1]["jobs"]))
    screenshot(page, "jobs", tmp_path)
    assert not page.errors_


@pytest.mark.parametrize("job_id", ["job-0123456789abcdef0123456789abcdef", "..%2F..%2Fhost.json",
                                    "%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E"])
def test_an_unknown_or_hostile_job_id_says_there_is_no_such_job(stack, page, job_id):
    sign_in(page, stack, f"#/jobs/{job_id}")
    title = page.locator("main h1")
    expect(title).to_have_text(re.compile(r"^No job "))
    assert page.locator("#notice").is_visible()
    assert page.locator("main img:not(#preview-image)").count() == 0
    assert not page.errors_


def test_the_jobs_page_revalidates_with_the_etag_the_api_sends(stack, page):
    """The conditional-request plumbing: the list comes from the real API, an ETag is added to its
    answer (as the API will send), and the page must then ask If-None-Match and keep its rows on 304."""
    asked: list[str | None] = []

    def answer(route: Any) -> None:
        tag = route.request.headers.get("if-none-match")
        asked.append(tag)
        if tag == '"list-v1"':
            route.fulfill(status=304, headers={"ETag": '"list-v1"'})
        else:
            response = route.fetch()
            route.fulfill(status=response.status, body=response.body(),
                          headers={**response.headers, "etag": '"list-v1"'})

    page.route(re.compile(r".*/api/jobs\?.*"), answer)
    sign_in(page, stack)
    for _ in range(60):  # the page's timer, not a sleep: route handlers run while Playwright waits
        if len(asked) >= 3:
            break
        page.wait_for_timeout(500)
    assert asked[0] is None and set(asked[1:]) == {'"list-v1"'}
    expected = api_request(stack, "GET", "/jobs?top=25")[1]["jobs"]
    expect(page.locator("#jobs-table tbody tr")).to_have_count(len(expected))
    assert not page.errors_
