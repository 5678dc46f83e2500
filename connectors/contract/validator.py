"""One request and its response, checked against the vendor's description.

openapi-core's core validators (DESIGN: not its Starlette integration) do the checking; this module
adapts plain exchanges to them, finds the operation, applies the rules below and turns openapi-core's
exceptions into :class:`Violation` records that name the operation, where the problem is (a JSON
pointer into the body, or a header) and why.

Rules:

- Only paths inside the vendor's API are checked (:data:`SCOPES`): Xero's ``/api.xro/2.0/``, the
  Accounting description's server (its identity routes -- the authorize page and ``/connect/token``
  at identity.xero.com, ``/connections`` -- are OAuth 2.0 and tenant plumbing that no Xero OpenAPI
  description covers; tests/unit/test_xero_oauth.py pins their shapes); HubSpot's ``/crm/``;
  everything for Intercom. ``/_sandbox/`` control routes never.
- A request the description has no operation for is a violation, unless it was answered 404 or
  405 (an unrouted request, turned away).
- The request is held to the description only when it was answered below 400: a test that probes an
  error path sends a bad request on purpose, and then it is the error response that is checked. A
  request the description forbids but the sandbox accepted is a violation (of the client, or of a
  sandbox more lenient than the vendor).
- A response whose status the operation lists is held to that response (body schema, media type,
  headers). Any other status is held to the vendor's documented error shape
  (:mod:`connectors.contract.vendor_errors`); a status with no such shape is a violation.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import asdict, dataclass
from typing import Any, Iterable
from urllib.parse import parse_qsl, urlsplit

import orjson

from connectors.contract.specs import SPEC_HOSTS, document, openapi
from connectors.contract.vendor_errors import shape_for

SCOPES = {"hubspot": ("/crm/",), "xero": ("/api.xro/2.0/",), "intercom": ("/",)}
"""Path prefixes a vendor's description covers; ``/_sandbox/`` control routes never are."""
CONTROL_PREFIX = "/_sandbox/"


@dataclass(frozen=True)
class Violation:
    """One way an exchange departs from the description."""

    vendor: str
    operation: str
    """The operationId, or ``METHOD template`` when the operation has none (or is missing)."""
    method: str
    path: str
    status: int
    where: str
    """``request``, ``response``, ``response header <name>`` ..."""
    pointer: str
    """JSON pointer into the body (request or response) at fault; ``""`` for the whole of it."""
    message: str
    schema: str = ""
    """Where in the description the broken rule lives (schema keyword path), when known."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        at = f" at {self.pointer}" if self.pointer else ""
        rule = f" [{self.schema}]" if self.schema else ""
        return (f"{self.vendor} {self.operation} ({self.method} {self.path} -> {self.status}): "
                f"{self.where}{at}: {self.message}{rule}")


def _pointer(parts: Iterable[Any]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


class _Headers:
    """A case-insensitive, multi-valued header mapping (werkzeug's, imported lazily)."""

    @staticmethod
    def make(items: list[tuple[str, str]]):
        from werkzeug.datastructures import Headers

        return Headers(items)


class SpecRequest:
    """openapi-core's Request protocol over a plain (method, path, query, headers, body)."""

    def __init__(self, method: str, path: str, query: str, headers: list[tuple[str, str]], body: bytes | None,
                 *, host_url: str) -> None:
        from openapi_core.datatypes import RequestParameters
        from werkzeug.datastructures import ImmutableMultiDict

        self.host_url = host_url
        self.path = path
        self.method = method.lower()
        self.body = body or None
        hdrs = _Headers.make(headers)
        self.content_type = hdrs.get("content-type", "")
        self.parameters = RequestParameters(query=ImmutableMultiDict(parse_qsl(query, keep_blank_values=True)),
                                            header=hdrs, cookie=ImmutableMultiDict())

    @classmethod
    def from_url(cls, method: str, url: str, headers: dict[str, str] | list[tuple[str, str]], body: bytes | None,
                 *, host_url: str) -> "SpecRequest":
        parts = urlsplit(url)
        items = list(headers.items()) if isinstance(headers, dict) else list(headers)
        return cls(method, parts.path, parts.query, items, body, host_url=host_url)


class SpecResponse:
    """openapi-core's Response protocol over a plain (status, headers, body)."""

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status_code = status
        self.headers = _Headers.make(headers)
        self.content_type = self.headers.get("content-type", "")
        self.data = body


_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def _memo_finder_cls():
    """openapi-core's path finder, remembering its answers (the request and the response of one
    exchange look the same path up, and list/poll paths repeat) and telling apart templates that
    differ only in a variable's name by its declared format: Xero's description has both
    ``/Contacts/{ContactNumber}`` and ``/Contacts/{ContactID}`` (uuid), which OpenAPI forbids; a
    uuid value picks the uuid-typed template, anything else the other."""
    from openapi_core.templating.paths.finders import APICallPathFinder

    class MemoPathFinder(APICallPathFinder):
        _memo: dict = {}
        _limit = 1024

        def find(self, method: str, name: str):
            key = (id(self.spec), method, name)
            found = self._memo.get(key)
            if found is None:
                found = self._best(method, name)
                if len(self._memo) >= self._limit:
                    self._memo.clear()
                self._memo[key] = found
            return found

        def _best(self, method: str, name: str):
            paths = self.paths_iterator(name, self.spec, base_url=self.base_url)
            operations = self.operations_iterator(method, paths, self.spec, base_url=self.base_url)
            first, best, best_score = None, None, -1
            for candidate in self.servers_iterator(name, operations, self.spec, base_url=self.base_url):
                first = first or candidate
                score = self._format_score(candidate)
                if score > best_score:
                    best, best_score = candidate, score
            if first is None:
                return super().find(method, name)  # raises the precise PathError
            return best or first

        def _format_score(self, candidate) -> int:
            """-1 if a path variable breaks its declared format, else how many formats it meets."""
            variables = candidate.path_result.variables or {}
            score = 0
            root = self.spec.read_value()
            for container in (candidate.path.read_value(), candidate.operation.read_value()):
                for param in container.get("parameters") or []:
                    if "$ref" in param:
                        parent, key = _resolve_ref(root, param["$ref"])
                        param = parent[key]
                    if param.get("in") != "path" or param.get("name") not in variables:
                        continue
                    if (param.get("schema") or {}).get("format") == "uuid":
                        if not _UUID.match(variables[param["name"]]):
                            return -1
                        score += 1
            return score

    return MemoPathFinder


def _resolve_ref(root: dict, ref: str):
    from connectors.contract.specs import resolve

    return resolve(root, ref.lstrip("#"))


MemoPathFinder = None  # set on first use (openapi-core is a test extra)


def memo_path_finder():
    global MemoPathFinder
    if MemoPathFinder is None:
        MemoPathFinder = _memo_finder_cls()
    return MemoPathFinder


class ExchangeValidator:
    """Checks exchanges with one vendor against its (patched) description; thread-safe."""

    def __init__(self, vendor: str, root: str | None = None) -> None:
        self.vendor = vendor
        self.host_url = SPEC_HOSTS[vendor]
        self.scopes = SCOPES[vendor]
        self.doc = document(vendor, root)
        # openapi-core cannot check OAuth2 schemes (Xero) and says so on every request: a targeted,
        # process-wide filter (catch_warnings is not thread-safe, and servers run in threads)
        warnings.filterwarnings("ignore", message="Unsupported scheme type", category=UserWarning)
        self.api = openapi(vendor, root)
        self._error_validators: dict[bytes, Any] = {}

    # --- finding the operation (openapi-core's finder: the operation named is the one validated) ----
    def covers(self, path: str) -> bool:
        return not path.startswith(CONTROL_PREFIX) and path.startswith(self.scopes)

    def operation(self, method: str, path: str) -> tuple[str, dict] | None:
        """(path template, operation) for the request, or None."""
        from openapi_core.templating.paths.exceptions import PathError

        try:
            found = self.api.request_validator.path_finder.find(method.lower(), self.host_url + path)
        except PathError:
            return None
        template = found.path_result.pattern
        return template, self.doc["paths"][template][method.lower()]

    # --- checking ---------------------------------------------------------------------------------
    def check(self, method: str, path: str, query: str, headers: list[tuple[str, str]], body: bytes | None,
              status: int, response_headers: list[tuple[str, str]], response_body: bytes) -> list[Violation]:
        """Every violation of the description by this exchange ([] when it conforms or is out of scope)."""
        if not self.covers(path):
            return []
        found = self.operation(method, path)
        if found is None:
            if status in (404, 405):
                return []
            return [Violation(self.vendor, f"{method.upper()} {path}", method.upper(), path, status, "request", "",
                              "no operation in the description for this method and path")]
        template, op = found
        name = op.get("operationId") or f"{method.upper()} {template}"

        def violation(where: str, pointer: str, message: str, schema: str = "") -> Violation:
            return Violation(self.vendor, name, method.upper(), path, status, where, pointer, message, schema)

        request = SpecRequest(method, path, query, headers, body, host_url=self.host_url)
        response = SpecResponse(status, response_headers, response_body)
        out: list[Violation] = []
        if status < 400:
            for exc in self.api.request_validator.iter_errors(request):
                out += [violation(*v) for v in _explain(exc, "request")]
        if _documented(op.get("responses") or {}, status):
            for exc in self.api.response_validator.iter_errors(request, response):
                out += [violation(*v) for v in _explain(exc, "response")]
        else:
            out += [violation(*v) for v in self._undocumented(status, response)]
        return out

    def _undocumented(self, status: int, response: SpecResponse) -> list[tuple[str, str, str, str]]:
        shape = shape_for(self.vendor, status)
        if shape is None:
            return [("response", "", f"status {status} is neither in the description nor among "
                                     f"{self.vendor}'s documented error responses")]
        problems: list[tuple[str, str, str, str]] = []
        media = response.content_type.split(";")[0].strip().lower()
        if media != shape.media_type:
            problems.append(("response header Content-Type", "",
                             f"{media or 'no content type'}; {self.vendor} answers {status} with {shape.media_type} "
                             f"({shape.source})", ""))
        for name in shape.headers:
            if name not in response.headers:
                problems.append((f"response header {name}", "", f"missing; {self.vendor} always sends it with "
                                                                   f"{status} ({shape.source})", ""))
        for name, schema in shape.header_schemas.items():
            value = response.headers.get(name)
            if value is not None:
                problems += [(f"response header {name}", "", m, s)
                             for _, m, s in self._schema_errors(schema, _scalar(value), "")]
        if shape.schema is not None and media == shape.media_type:
            try:
                data = orjson.loads(response.data)
            except orjson.JSONDecodeError as exc:
                problems.append(("response", "", f"not JSON: {exc}", ""))
            else:
                problems += [("response", p, m, s) for p, m, s in
                             self._schema_errors(shape.schema, data, f"vendor_errors {status}")]
        return problems

    def _schema_errors(self, schema: dict, value: Any, where: str) -> list[tuple[str, str, str]]:
        """(pointer, message, schema path) per error; validators compiled once per schema."""
        key = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)
        validator = self._error_validators.get(key)
        if validator is None:
            from openapi_schema_validator import OAS30ReadValidator, oas30_format_checker

            # "#/components/..." refs resolve against the root schema: give it the description's components
            validator = OAS30ReadValidator({"components": self.doc.get("components", {}), **schema},
                                           format_checker=oas30_format_checker)
            self._error_validators[key] = validator
        return [(_pointer(e.absolute_path), e.message,
                 (where + ": " if where else "") + _pointer(e.absolute_schema_path))
                for e in validator.iter_errors(value)]


def _documented(responses: dict, status: int) -> bool:
    return str(status) in responses or f"{str(status)[0]}XX" in responses or "default" in responses


def _scalar(value: str) -> Any:
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value


def _explain(exc: BaseException, where: str) -> list[tuple[str, str, str, str]]:
    """(where, pointer, message, schema path) for each problem openapi-core's exception carries."""
    name = getattr(exc, "name", None)
    if isinstance(name, str) and "header" in type(exc).__name__.lower():
        where = f"{where} header {name}"
    elif isinstance(name, str) and "parameter" in type(exc).__name__.lower():
        where = f"{where} parameter {name}"
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        errors = list(getattr(cause, "schema_errors", None) or [])
        if errors:
            return [(where, _pointer(e.absolute_path), e.message, _pointer(e.absolute_schema_path)) for e in errors]
        cause = cause.__cause__ or cause.__context__
    message = str(exc) or type(exc).__name__
    inner = exc.__cause__ or exc.__context__
    if inner is not None and str(inner) and str(inner) not in message:
        message = f"{message}: {inner}"
    return [(where, "", f"{type(exc).__name__}: {message}", "")]


__all__ = ["CONTROL_PREFIX", "ExchangeValidator", "SCOPES", "SpecRequest", "SpecResponse", "Violation",
           "memo_path_finder"]
