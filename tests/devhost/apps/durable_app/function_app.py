"""A Durable Functions app: an HTTP starter with a durable client, an orchestrator, an activity."""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
bp = df.Blueprint()


@app.route(route="start/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    instance_id = await client.start_new(req.route_params["name"], None, req.get_json())
    return client.create_check_status_response(req, instance_id)


@app.orchestration_trigger(context_name="context")
def greet(context: df.DurableOrchestrationContext):
    names = context.get_input()["names"]
    greetings = []
    for name in names:
        greetings.append((yield context.call_activity("hello", name)))
    return greetings


@app.orchestration_trigger(context_name="context")
def wait_for_go(context: df.DurableOrchestrationContext):
    """Runs until a "go" event arrives: an instance that stays running for the key tests."""
    return (yield context.wait_for_external_event("go"))


@app.activity_trigger(input_name="name")
def hello(name: str) -> str:
    return f"Hello {name}"


@bp.event_grid_trigger(arg_name="event")
@bp.durable_client_input(client_name="client")
async def on_blob(event: func.EventGridEvent, client: df.DurableOrchestrationClient) -> None:
    """Starts one orchestration per event, with the event id as the instance id."""
    name = event.subject.rsplit("/", 1)[-1]
    await client.start_new("greet", event.id, {"names": [name]})


app.register_functions(bp)
