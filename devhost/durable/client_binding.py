"""The client binding JSON a `durable_client_input` parameter receives: where the Durable
HTTP API lives and the management URLs of an instance, as the extension hands them out.

As in Azure, every URL carries the extension's system key: the management URLs in
`code=` (part of requiredQueryStringParameters). The SDK's client calls rpcBaseUrl and
appends its own paths and queries, never a header or `code`; in Azure that endpoint is
a loopback listener inside the app's sandbox, here it is the public API, so the key
rides in the URL's user info and aiohttp sends it as Basic credentials.
"""

from __future__ import annotations

import json
from urllib.parse import quote, urlsplit, urlunsplit

WEBHOOK_PATH = "/runtime/webhooks/durabletask"
RPC_USER = "durabletask"


class ClientBinding:
    def __init__(self, base_url: str, task_hub: str, system_key: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.task_hub = task_hub
        self.system_key = system_key

    @property
    def webhook_url(self) -> str:
        return f"{self.base_url}{WEBHOOK_PATH}"

    @property
    def required_query(self) -> str:
        return f"taskHub={self.task_hub}&connection=Storage&code={quote(self.system_key, safe='')}"

    @property
    def rpc_base_url(self) -> str:
        parts = urlsplit(f"{self.webhook_url}/")
        credentials = f"{RPC_USER}:{quote(self.system_key, safe='')}@"
        return urlunsplit(parts._replace(netloc=credentials + parts.netloc))

    def json(self) -> str:
        hook, qs = self.webhook_url, self.required_query
        inst = f"{hook}/instances/INSTANCEID"
        return json.dumps({
            "taskHubName": self.task_hub,
            "creationUrls": {
                "createNewInstancePostUri": f"{hook}/orchestrators/{{functionName}}[/{{instanceId}}]?{qs}",
                "createAndWaitOnNewInstancePostUri":
                    f"{hook}/orchestrators/{{functionName}}[/{{instanceId}}]?timeout={{timeoutInSeconds}}"
                    f"&pollingInterval={{intervalInSeconds}}&{qs}",
            },
            "managementUrls": {
                "id": "INSTANCEID",
                "statusQueryGetUri": f"{inst}?{qs}",
                "sendEventPostUri": f"{inst}/raiseEvent/{{eventName}}?{qs}",
                "terminatePostUri": f"{inst}/terminate?reason={{text}}&{qs}",
                "rewindPostUri": f"{inst}/rewind?reason={{text}}&{qs}",
                "purgeHistoryDeleteUri": f"{inst}?{qs}",
                "restartPostUri": f"{inst}/restart?{qs}",
                "suspendPostUri": f"{inst}/suspend?reason={{text}}&{qs}",
                "resumePostUri": f"{inst}/resume?reason={{text}}&{qs}",
            },
            "baseUrl": hook,
            "requiredQueryStringParameters": qs,
            "rpcBaseUrl": self.rpc_base_url,
            "httpBaseUrl": hook,
            "maxGrpcMessageSizeInBytes": 0,
            "grpcHttpClientTimeout": "00:01:40",
        })

    def management_urls(self, instance_id: str) -> dict[str, str]:
        urls: dict[str, str] = json.loads(self.json())["managementUrls"]
        return {key: value.replace("INSTANCEID", instance_id) for key, value in urls.items()}
