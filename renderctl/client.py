"""The HTTP API as renderctl uses it: JSON in and out, the API's errors as ApiError.

The key travels in the x-functions-key header only (never in a URL, so it cannot end
up in a log line or an error message).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests

from renderctl.config import Target

USER_AGENT = "renderctl/0.1"
TIMEOUT = (5, 60)  # connect, read (seconds)


class CliError(Exception):
    """An expected failure: printed as one line, exit code `exit_code`, no traceback."""

    exit_code = 1

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class Unreachable(CliError):
    exit_code = 5


class NotSupported(CliError):
    """The route itself is missing: the API has no such feature yet."""

    exit_code = 6


class ApiError(CliError):
    """The API answered with an error: its HTTP status, error code and message."""

    def __init__(self, status: int, code: str, message: str, body: Any = None) -> None:
        super().__init__(message, code=code)
        self.status = status
        self.body = body

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


def job_path(job_id: str, *rest: str) -> str:
    """`jobs/<job id>/<rest…>` with each part quoted whole: a job or task id as typed (or read
    from a file) can never name another route, add a query or climb with `..`."""
    return "/".join(["jobs", *(_segment(part) for part in (job_id, *rest))])


def _segment(part: str) -> str:
    quoted = quote(part, safe="")
    return quoted.replace(".", "%2E") if quoted in (".", "..") else quoted  # dots alone are unreserved


def _error_of(body: Any) -> dict[str, Any] | None:
    if isinstance(body, dict) and isinstance(body.get("error"), dict) and "code" in body["error"]:
        return body["error"]
    return None


class Api:
    def __init__(self, target: Target, session: requests.Session | None = None) -> None:
        self.target = target
        self.session = session or requests.Session()
        self.session.headers["user-agent"] = USER_AGENT
        if target.key:
            self.session.headers["x-functions-key"] = target.key

    def url(self, path: str) -> str:
        return f"{self.target.api_url}/{path.lstrip('/')}"

    def call(self, method: str, path: str, *, body: Any = None, params: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None, feature: str | None = None) -> Any:
        """The decoded JSON answer of a 2xx; ApiError, NotSupported or Unreachable otherwise.

        `feature` names what a route that does not exist yet would do: a 404 without the
        API's JSON error body means the route is missing, not the job."""
        try:
            response = self.session.request(method, self.url(path), json=body, params=params,
                                            headers=headers, timeout=TIMEOUT)
        except requests.ConnectionError:
            raise Unreachable(f"cannot reach the API at {self.target.api_url} ({self.target.source}); "
                              "is it running? (`make status` shows the local one)", code="unreachable") from None
        except requests.Timeout:
            raise Unreachable(f"the API at {self.target.api_url} did not answer in time", code="timeout") from None
        try:
            data: Any = response.json() if response.content else None
        except ValueError:
            data = response.text
        if response.ok:
            return data
        error = _error_of(data)
        if response.status_code == 401:
            raise ApiError(401, "unauthorized", "the API refused the key: pass the function key with --key, "
                           "RENDER_API_KEY or a profile (`make status` shows the local stack's)", data)
        if response.status_code in (404, 405) and error is None and feature is not None:
            raise NotSupported(f"the API cannot do this yet: {feature} ({method} /api/{path.lstrip('/')} "
                               "does not exist on this API)", code="not_supported")
        if error is not None:
            message = str(error.get("message", ""))
            if error.get("field"):
                message += f" (field {error['field']})"
            raise ApiError(response.status_code, str(error["code"]), message, data)
        raise ApiError(response.status_code, f"http_{response.status_code}",
                       (data if isinstance(data, str) else response.reason or "error")[:300], data)

    # ------------------------------------------------------------------ the routes

    def get_job(self, job_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call("GET", job_path(job_id))
        return result

    def list_jobs(self, status: str | None, top: int, name_prefix: str | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"top": top}
        if status:
            params["status"] = status
        if name_prefix:
            params["namePrefix"] = name_prefix
        result: dict[str, Any] = self.call("GET", "jobs", params=params)
        return result

    def submit(self, body: dict[str, Any], idempotency_key: str | None) -> dict[str, Any]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        result: dict[str, Any] = self.call("POST", "jobs", body=body, headers=headers)
        return result

    def create_upload(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call("POST", "uploads", body={"name": name},
                                           feature="upload URLs (POST /api/uploads)")
        return result
