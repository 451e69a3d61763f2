"""Shared Key authentication as the Batch service checks it.

The string to sign: the method, eleven standard headers, the `ocp-` headers
sorted by name, `/<account><path>`, then each query parameter sorted by name;
signed with HMAC-SHA256 under the base64-decoded account key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import parse_qs

SIGNED_HEADERS = ("content-encoding", "content-language", "content-length", "content-md5", "content-type",
                  "date", "if-modified-since", "if-match", "if-none-match", "if-unmodified-since", "range")

# A made-up key for the local server; never a real account's.
TEST_KEY = base64.b64encode(b"test-key-for-the-local-batch-server").decode()


def string_to_sign(method: str, path: str, query: str, headers: Mapping[str, str], account: str) -> str:
    lowered = {k.lower(): v for k, v in headers.items() if v}
    if method not in ("GET", "HEAD"):
        lowered.setdefault("content-length", "0")
    text = method + "\n" + "\n".join(lowered.get(h, "") for h in SIGNED_HEADERS) + "\n"
    for name, value in sorted((k, v) for k, v in lowered.items() if k.startswith("ocp-")):
        text += f"{name}:{value}\n"
    text += f"/{account}{path}"
    params = parse_qs(query)
    for name in sorted(params):
        if params[name][0]:
            text += f"\n{name}:{params[name][0]}"
    return text


def signature(text: str, key: str) -> str:
    digest = hmac.new(base64.b64decode(key), text.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def valid(authorization: str, *, method: str, path: str, query: str, headers: Mapping[str, str],
          account: str, key: str) -> bool:
    prefix = f"SharedKey {account}:"
    if not authorization.startswith(prefix):
        return False
    expected = signature(string_to_sign(method, path, query, headers, account), key)
    return hmac.compare_digest(authorization[len(prefix):], expected)
