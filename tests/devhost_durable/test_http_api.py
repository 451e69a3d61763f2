"""The public Durable HTTP API: status codes, JSON shapes, listing, purging."""

from __future__ import annotations

from typing import Any

from tests.devhost_durable.hosting import hosted

STATUS_KEYS = {"name", "instanceId", "runtimeStatus", "input", "customStatus", "output", "createdTime",
               "lastUpdatedTime"}


def test_start_and_status_shapes(functions, run, tmp_path):
    async def scenario() -> None:
        async with hosted(functions, tmp_path) as h:
            async with h.http.post(f"{h.hook}/orchestrators/wait_forever/shape-1", json={"a": 1}) as resp:
                assert resp.status == 202
                payload = await resp.json()
                assert resp.headers["Location"] == payload["statusQueryGetUri"]
            assert payload["id"] == "shape-1"
            assert payload["statusQueryGetUri"].startswith(f"{h.hook}/instances/shape-1?")
            assert "/instances/shape-1/raiseEvent/{eventName}" in payload["sendEventPostUri"]
            running = await h.wait("shape-1", lambda s: s["runtimeStatus"] == "Running")
            assert set(running) == STATUS_KEYS
            assert running["input"] == {"a": 1}
            code, body = await h.status("shape-1")
            assert code == 202
            code, body = await h.status("shape-1", showInput="false")
            assert body["input"] is None
            code, body = await h.status("missing")
            assert code == 404

            iid = await h.start("hello_sequence", ["Z"])
            done = await h.wait(iid, showHistory="true")
            code, _ = await h.status(iid)
            assert code == 200
            types = [e["EventType"] for e in done["historyEvents"]]
            assert types[:2] == [12, 0] and types[-2:] == [1, 13]
            assert all({"EventType", "EventId", "Timestamp", "IsPlayed"} <= set(e) for e in done["historyEvents"])
            assert not any("Result" in e for e in done["historyEvents"])  # no showHistoryOutput
            full = await h.wait(iid, showHistory="true", showHistoryOutput="true")
            completed = [e for e in full["historyEvents"] if e["EventType"] == 5]
            assert completed[0]["Result"] == '"Hello Z!"'

    run(scenario())


def test_create_and_wait_returns_the_output(functions, run, tmp_path):
    async def scenario() -> None:
        async with hosted(functions, tmp_path) as h:
            url = f"{h.hook}/orchestrators/hello_sequence?timeout=10&pollingInterval=0.05"
            async with h.http.post(url, json=["W"]) as resp:
                assert resp.status == 200
                assert await resp.json() == ["Hello W!", "Hello async!"]
            url = f"{h.hook}/orchestrators/wait_forever?timeout=0.2&pollingInterval=0.05"
            async with h.http.post(url) as resp:
                assert resp.status == 202

    run(scenario())


def test_raise_event_and_terminate_errors(functions, run, tmp_path):
    async def scenario() -> None:
        async with hosted(functions, tmp_path) as h:
            iid = await h.start("wait_forever")
            url = f"{h.hook}/instances/{iid}/raiseEvent/never"
            async with h.http.post(url, data=b"{not json", headers={"Content-Type": "application/json"}) as r:
                assert r.status == 400
            async with h.http.post(f"{h.hook}/instances/nobody/terminate?reason=x") as r:
                assert r.status == 404
            async with h.http.post(url, json={"k": "v"}) as r:
                assert r.status == 202
            status = await h.wait(iid)
            assert status["output"] == "woke"

    run(scenario())


async def _list(h: Any, headers: dict[str, str] | None = None, **query: str) -> tuple[list[Any], str | None]:
    async with h.http.get(f"{h.hook}/instances", params=query, headers=headers or {}) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json(), resp.headers.get("x-ms-continuation-token")


def test_list_filters_and_continuation(functions, run, tmp_path):
    async def scenario() -> None:
        async with hosted(functions, tmp_path) as h:
            done = [await h.start("hello_sequence", [str(i)], instance_id=f"list-{i}") for i in range(3)]
            for iid in done:
                await h.wait(iid)
            await h.start("wait_forever", instance_id="list-running")
            await h.wait("list-running", lambda s: s["runtimeStatus"] == "Running")

            everything, token = await _list(h)
            assert {s["instanceId"] for s in everything} == {*done, "list-running"} and token is None
            running, _ = await _list(h, runtimeStatus="Running,Pending")
            assert [s["instanceId"] for s in running] == ["list-running"]
            seen: list[str] = []
            page, token = await _list(h, top="2", runtimeStatus="Completed")
            seen += [s["instanceId"] for s in page]
            assert token is not None and len(page) == 2
            page, token = await _list(h, {"x-ms-continuation-token": token}, top="2", runtimeStatus="Completed")
            seen += [s["instanceId"] for s in page]
            assert token is None and sorted(seen) == sorted(done)
            future, _ = await _list(h, createdTimeFrom="2999-01-01T00:00:00Z")
            assert future == []
            async with h.http.get(f"{h.hook}/instances", params={"runtimeStatus": "Bogus"}) as resp:
                assert resp.status == 400

    run(scenario())


def test_purge_one_and_by_filter(functions, run, tmp_path):
    async def scenario() -> None:
        async with hosted(functions, tmp_path) as h:
            for i in range(3):
                await h.wait(await h.start("hello_sequence", [str(i)], instance_id=f"purge-{i}"))
            await h.start("wait_forever", instance_id="purge-running")
            await h.wait("purge-running", lambda s: s["runtimeStatus"] == "Running")

            async with h.http.delete(f"{h.hook}/instances/purge-0") as resp:
                assert resp.status == 200 and await resp.json() == {"instancesDeleted": 1}
            assert (await h.status("purge-0"))[0] == 404
            async with h.http.delete(f"{h.hook}/instances/purge-0") as resp:
                assert resp.status == 404
            async with h.http.delete(f"{h.hook}/instances/purge-running") as resp:
                assert resp.status == 404  # a running instance is not purged
            async with h.http.delete(f"{h.hook}/instances") as resp:
                assert resp.status == 400  # createdTimeFrom is required
            query = {"createdTimeFrom": "2000-01-01T00:00:00Z", "runtimeStatus": "Completed"}
            async with h.http.delete(f"{h.hook}/instances", params=query) as resp:
                assert resp.status == 200 and await resp.json() == {"instancesDeleted": 2}
            assert (await h.status("purge-running"))[0] == 202
            async with h.http.delete(f"{h.hook}/instances", params=query) as resp:
                assert resp.status == 404

    run(scenario())
