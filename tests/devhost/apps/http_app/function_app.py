"""A function app exercising devhost's HTTP trigger support (not the project's app)."""

from __future__ import annotations

import json
import os

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.route(route="items/{id:int?}", methods=["GET", "POST"])
def items(req: func.HttpRequest) -> func.HttpResponse:
    body = req.get_body()
    payload = {
        "method": req.method,
        "route_params": dict(req.route_params),
        "params": dict(req.params),
        "x_test": req.headers.get("X-Test"),
        "body": body.decode("utf-8", "replace"),
        "json": req.get_json() if body and req.headers.get("content-type", "").startswith("application/json")
        else None,
        "url": req.url,
        "setting": os.environ.get("HTTP_APP_GREETING"),
    }
    return func.HttpResponse(json.dumps(payload), mimetype="application/json", status_code=200,
                             headers={"X-Served-By": "items"})


@app.route(route="items/special", methods=["GET"])
def special_item(req: func.HttpRequest) -> str:
    return "literal beats parameter"


@app.route(route="files/{*path}", auth_level=func.AuthLevel.ANONYMOUS)
def files(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"path={req.route_params.get('path', '')}")


@app.route(route="binary", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def binary(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(bytes(range(256)), mimetype="image/png")


@app.route(route="upload", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def upload(req: func.HttpRequest) -> func.HttpResponse:
    data = req.get_body()
    return func.HttpResponse(data[::-1], mimetype="application/octet-stream", status_code=201)


@app.route(route="admin-only", auth_level=func.AuthLevel.ADMIN)
def admin_only(req: func.HttpRequest) -> str:
    return "admin ok"


@app.route(route="boom", auth_level=func.AuthLevel.ANONYMOUS)
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("the function failed on purpose")


@app.route(route="whoami", auth_level=func.AuthLevel.ANONYMOUS)
async def whoami(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return func.HttpResponse(json.dumps({"invocation_id": context.invocation_id,
                                         "function_name": context.function_name}),
                             mimetype="application/json")


@app.route(route="cookies", auth_level=func.AuthLevel.ANONYMOUS)
def cookies(req: func.HttpRequest) -> func.HttpResponse:
    response = func.HttpResponse("cookies", status_code=202)
    response.headers.add("Set-Cookie", "a=1; Path=/")
    response.headers.add("Set-Cookie", "b=2; Path=/")
    return response


@app.route(route="nothing", auth_level=func.AuthLevel.ANONYMOUS)
def nothing(req: func.HttpRequest) -> None:
    return None


@app.timer_trigger(schedule="0 0 * * * *", arg_name="timer")
def hourly(timer: func.TimerRequest) -> None:
    """A trigger devhost does not run: listed, not served."""


@app.route(route="with-blob", auth_level=func.AuthLevel.ANONYMOUS)
@app.blob_input(arg_name="blob", path="scenes/{name}", connection="AzureWebJobsStorage")
def with_blob(req: func.HttpRequest, blob: str) -> str:
    return blob


@app.route(route="jobs/{jobId}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def job(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(json.dumps({"job": dict(req.route_params)}), mimetype="application/json")


@app.route(route="jobs/{jobId}/history", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def job_history(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(json.dumps({"history": dict(req.route_params)}), mimetype="application/json")
