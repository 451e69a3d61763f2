"""The SDK's own DurableOrchestrationClient, built from the client binding JSON, against
the runtime served over real HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import azure.durable_functions as df
import azure.functions as func
from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus

from tests.devhost_durable.hosting import SYSTEM_KEY, hosted


def test_sdk_client_round_trip(functions, run, tmp_path):
    async def scenario() -> None:
        async with hosted(functions, tmp_path) as h:
            binding = json.loads(h.durable.client_binding_json())
            # The RPC base is this host's durabletask webhook; its user info carries the system key.
            rpc = urlsplit(binding["rpcBaseUrl"])
            assert urlunsplit(rpc._replace(netloc=rpc.hostname + f":{rpc.port}")) == \
                f"{h.base_url}/runtime/webhooks/durabletask/"
            assert (rpc.username, rpc.password) == ("durabletask", SYSTEM_KEY)
            assert binding["taskHubName"] == "DevHostHub"
            client = df.DurableOrchestrationClient(h.durable.client_binding_json())
            since = datetime.now(UTC) - timedelta(minutes=1)

            iid = await client.start_new("hello_sequence", client_input=["SDK"])
            await h.wait(iid)
            status = await client.get_status(iid, show_history=True, show_history_output=True,
                                             show_input=True)
            assert status.runtime_status == OrchestrationRuntimeStatus.Completed
            assert status.output == ["Hello SDK!", "Hello async!"]
            assert status.input_ == ["SDK"]
            assert status.history and status.history[1]["EventType"] == 0

            waiting = await client.start_new("with_status", instance_id="sdk-status")
            with_status = await h.wait(waiting, lambda s: s["customStatus"] is not None)
            assert with_status["customStatus"] == {"stage": "waiting"}
            try:
                await client.start_new("with_status", instance_id="sdk-status")
                raise AssertionError("a running instance id must conflict")
            except Exception as exc:
                assert "already" in str(exc)
            await client.raise_event(waiting, "go", {"x": 1})
            assert (await h.wait(waiting))["output"] == {"x": 1}

            stuck = await client.start_new("wait_forever")
            await h.wait(stuck, lambda s: s["runtimeStatus"] == "Running")
            running = await client.get_status_by(runtime_status=[OrchestrationRuntimeStatus.Running])
            assert [s.instance_id for s in running] == [stuck]
            await client.terminate(stuck, "no longer needed")
            terminated = await h.wait(stuck)
            assert terminated["runtimeStatus"] == "Terminated"
            assert len(await client.get_status_all()) == 3

            missing = await client.get_status("nobody")
            assert missing.runtime_status is None

            request = func.HttpRequest("POST", f"{h.base_url}/api/start", body=b"")
            response = client.create_check_status_response(request, iid)
            assert response.status_code == 202
            links = json.loads(response.get_body())
            async with h.http.get(links["statusQueryGetUri"]) as resp:
                assert resp.status == 200 and (await resp.json())["instanceId"] == iid

            purged = await client.purge_instance_history(iid)
            assert purged.instances_deleted == 1
            assert (await client.purge_instance_history(iid)).instances_deleted == 0
            by = await client.purge_instance_history_by(
                created_time_from=since, runtime_status=[OrchestrationRuntimeStatus.Terminated])
            assert by.instances_deleted == 1
            assert len(await client.get_status_all()) == 1

    run(scenario())


def test_activity_with_a_durable_client_and_context(functions, run, tmp_path):
    async def scenario() -> None:
        async with hosted(functions, tmp_path) as h:
            target = await h.start("wait_forever")
            await h.wait(target, lambda s: s["runtimeStatus"] == "Running")
            poker = await h.wait(await h.start("poke_it", target))
            assert poker["output"] == "poke:True", poker
            assert (await h.wait(target))["output"] == "woke"

    run(scenario())
