"""What every contract test against a vendor's OpenAPI description needs: finding the description,
patching its known defects by JSON pointer, and openapi-core's Request/Response protocols over
plain exchanges (the sandbox answers on loopback, the description names the vendor's host)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx


def spec_dir(vendor: str, filename: str) -> Path:
    """``../shared/specs/<vendor>`` beside the repo, or ``$OPSCONSOLE_SPECS`` (the folder or its parent)."""
    root = os.environ.get("OPSCONSOLE_SPECS")
    if root:
        path = Path(root)
        return path if (path / filename).exists() else path / vendor
    return Path(__file__).resolve().parents[2].parent / "shared/specs" / vendor


def resolve(doc: Any, pointer: str) -> tuple[Any, str]:
    """The parent of the JSON pointer's target and the target's key."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.lstrip("/").split("/")]
    for part in parts[:-1]:
        doc = doc[int(part)] if isinstance(doc, list) else doc[part]
    return doc, parts[-1]


class SpecRequest:
    """openapi-core's Request protocol over a plain (method, url, headers, body)."""

    def __init__(self, method: str, url: str, headers: dict[str, str], body: bytes | None, *, host_url: str) -> None:
        from openapi_core.datatypes import RequestParameters
        from werkzeug.datastructures import Headers, ImmutableMultiDict

        parts = urlsplit(url)
        self.host_url = host_url
        self.path = parts.path
        self.method = method.lower()
        self.body = body or None
        self.content_type = headers.get("content-type", headers.get("Content-Type", ""))
        self.parameters = RequestParameters(query=ImmutableMultiDict(parse_qsl(parts.query)),
                                            header=Headers(list(headers.items())), cookie=ImmutableMultiDict())


class SpecResponse:
    def __init__(self, response: httpx.Response) -> None:
        from werkzeug.datastructures import Headers

        self.status_code = response.status_code
        self.content_type = response.headers.get("content-type", "")
        self.headers = Headers(list(response.headers.items()))
        self.data = response.content


def validate_exchange(api, response: httpx.Response, host_url: str) -> None:
    """Validate one request and its response against the description ``api``."""
    req = response.request
    spec_request = SpecRequest(req.method, str(req.url), dict(req.headers), req.content, host_url=host_url)
    api.validate_request(spec_request)
    api.validate_response(spec_request, SpecResponse(response))
