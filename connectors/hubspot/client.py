"""HubSpot CRM v3 client (private-app bearer token).

Returns vendor records exactly as HubSpot sends them (``{"id", "properties", "createdAt",
"updatedAt", "archived", "associations"}``); mapping to the canonical model happens elsewhere.
Hooks: ``error_message`` reads HubSpot's error body; ``observe``, ``before_request`` and
``retry_after`` hand over to a :class:`~connectors.ratelimit.HubSpotGovernor` (shared per base URL and
token), which reads the ``X-HubSpot-RateLimit-*`` headers (:attr:`HubSpotClient.rate_limit`) and waits
for the 10-second window to reset when its budget is down to the reserve. Paging follows
:class:`~connectors.pagination.AfterCursor`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

import httpx

from connectors.errors import NotFoundError
from connectors.http import ApiClient, ApiResponse, segment
from connectors.hubspot.coalesce import Missing, ReadCoalescer, read_each
from connectors.pagination import AfterCursor
from connectors.ratelimit import Clock, HubSpotGovernor, HubSpotRateLimit, credential_fingerprint, shared_governor

QUOTE_PROPERTIES = (
    "hs_title", "hs_status", "hs_quote_number", "hs_currency", "hs_expiration_date", "hs_quote_amount",
    "hs_language", "hs_lastmodifieddate", "hs_createdate",
)
COMPANY_PROPERTIES = (
    "name", "domain", "address", "address2", "city", "zip", "state", "country",
    "vat_number",  # custom property: the customer's tax number
    "phone", "hs_lastmodifieddate",
)
CONTACT_PROPERTIES = ("email", "firstname", "lastname", "phone", "jobtitle", "lastmodifieddate")
LINE_ITEM_PROPERTIES = (
    "name", "quantity", "price", "hs_sku", "hs_discount_percentage", "amount", "hs_line_item_currency_code",
    "recurringbillingfrequency", "hs_recurring_billing_period",
)
DEAL_PROPERTIES = (
    "dealname", "amount", "dealstage", "pipeline", "closedate", "deal_currency_code", "hs_lastmodifieddate",
)
COMPANY_DEAL_PROPERTIES = ("dealname", "dealstage", "dealtype", "closedate", "pipeline", "amount")
"""What :meth:`HubSpotClient.company_deals` reads by default."""
DEAL_TO_COMPANY = 341
"""HubSpot-defined association type id: deal → company (unlabelled; 5 is the primary company)."""
WRITE_BACK_PROPERTIES = ("financial_risk", "renewal_readiness", "delivery_risk")
"""Custom properties the engine writes back on companies and deals."""
QUOTE_ASSOCIATIONS = ("line_items", "companies", "deals")
BATCH_LIMIT = 100


RateLimit = HubSpotRateLimit
"""The governor's view of the ``X-HubSpot-RateLimit-*`` headers (the old name)."""


def associated_ids(record: dict, to_type: str) -> list[str]:
    """Ids of ``to_type`` in a v3 record's ``associations`` (HubSpot keys line items as "line items")."""
    assoc = record.get("associations") or {}
    block = assoc.get(to_type) or assoc.get(to_type.replace("_", " ")) or {}
    return [str(r["id"]) for r in block.get("results", [])]


def association_to(to_id: str, type_id: int, category: str = "HUBSPOT_DEFINED") -> dict:
    """One entry of a create's ``associations``: ``{"to": {"id"}, "types": [{category, type id}]}``."""
    return {"to": {"id": str(to_id)}, "types": [{"associationCategory": category, "associationTypeId": int(type_id)}]}


class HubSpotClient(ApiClient):
    system = "hubspot"

    def __init__(self, base_url: str, *, token: str, transport: str = "lean", timeout_s: float = 10.0,
                 max_connections: int = 64, governor: HubSpotGovernor | None = None,
                 clock: Clock | None = None, coalesce_reads: bool = True) -> None:
        """``governor``: the rate-limit governor to spend (default: the one shared by every client of
        this base URL and token; with ``clock``, a private one on that clock, for tests).
        ``coalesce_reads``: single-record reads without associations made in the same event-loop
        turn go out as one batch read (:mod:`connectors.hubspot.coalesce`)."""
        super().__init__(base_url, token=token, transport=transport, timeout_s=timeout_s, max_connections=max_connections)
        self.coalesce_reads = coalesce_reads
        self._coalescers: dict[tuple[str, tuple[str, ...]], ReadCoalescer] = {}
        if governor is None:
            governor = HubSpotGovernor(clock=clock) if clock is not None else shared_governor(
                "hubspot", credential_fingerprint(self.base_url, token), HubSpotGovernor)
        self.governor = governor

    @property
    def rate_limit(self) -> HubSpotRateLimit:
        """What the governor last read from the ``X-HubSpot-RateLimit-*`` headers."""
        return self.governor.rate_limit

    # --- hooks ----------------------------------------------------------------------------------
    def error_message(self, status: int, body: Any) -> str:
        if isinstance(body, dict) and body.get("message"):
            kind = body.get("category") or body.get("errorType") or ""
            text = f"{kind}: {body['message']}" if kind else str(body["message"])
            if body.get("correlationId"):
                text += f" (correlationId {body['correlationId']})"
            return text[:500]
        return super().error_message(status, body)

    def observe(self, response: httpx.Response) -> None:
        self.governor.observe(response.status_code, response.headers)

    def retry_after(self, response: httpx.Response) -> float | None:
        # HubSpot's 429 may carry no Retry-After: the governor then waits out the rolling window
        return self.governor.retry_after(response.status_code, response.headers)

    async def before_request(self) -> None:
        await self.governor.before_request()

    # --- reads ----------------------------------------------------------------------------------
    def coalescer(self, type_: str, properties: Iterable[str]) -> ReadCoalescer:
        """The coalescer of reads of ``type_`` with these properties (one per pair)."""
        props = tuple(properties)
        found = self._coalescers.get((type_, props))
        if found is None:
            async def batch(ids: list[str], traceparent: str) -> ApiResponse:
                return await self._batch_call(type_, ids, props, traceparent)

            async def single(object_id: str, traceparent: str) -> dict:
                return await self._get_one(type_, object_id, props, (), traceparent)

            found = self._coalescers[(type_, props)] = ReadCoalescer(batch, single, limit=BATCH_LIMIT)
        return found

    async def _get_object(self, type_: str, object_id: str, properties: Iterable[str],
                          associations: Iterable[str] = (), traceparent: str = "") -> dict:
        if self.coalesce_reads and not associations:
            return await self.coalescer(type_, properties).get(object_id, traceparent)
        return await self._get_one(type_, object_id, properties, associations, traceparent)

    async def _get_one(self, type_: str, object_id: str, properties: Iterable[str],
                       associations: Iterable[str], traceparent: str) -> dict:
        """GET /crm/v3/objects/{type}/{id}: one record (a merged id answers its primary)."""
        params = {"properties": ",".join(properties)}
        if associations:
            params["associations"] = ",".join(associations)
        return (await self.request("GET", f"/crm/v3/objects/{type_}/{segment(object_id)}", params=params,
                                   traceparent=traceparent)).body

    async def get_quote(self, quote_id: str, *, properties: Sequence[str] = QUOTE_PROPERTIES,
                        associations: Sequence[str] = QUOTE_ASSOCIATIONS, traceparent: str = "") -> dict:
        """GET /crm/v3/objects/quotes/{id} with its associations."""
        return await self._get_object("quotes", quote_id, properties, associations, traceparent)

    async def get_company(self, company_id: str, *, properties: Sequence[str] = COMPANY_PROPERTIES,
                          traceparent: str = "") -> dict:
        return await self._get_object("companies", company_id, properties, traceparent=traceparent)

    async def get_contact(self, contact_id: str, *, properties: Sequence[str] = CONTACT_PROPERTIES,
                          associations: Sequence[str] = (), traceparent: str = "") -> dict:
        """GET /crm/v3/objects/contacts/{id} (``associations``: e.g. ``("companies",)``)."""
        return await self._get_object("contacts", contact_id, properties, associations, traceparent)

    async def get_deal(self, deal_id: str, *, properties: Sequence[str] = DEAL_PROPERTIES,
                       associations: Sequence[str] = (), traceparent: str = "") -> dict:
        """GET /crm/v3/objects/deals/{id} (``properties`` may include custom ones such as financial_risk)."""
        return await self._get_object("deals", deal_id, properties, associations, traceparent)

    async def batch_read(self, object_type: str, ids: Sequence[str], properties: Sequence[str], *,
                         missing_ok: bool = False, traceparent: str = "") -> list[dict]:
        """POST /crm/v3/objects/{objectType}/batch/read (100 ids per call); records in the order of ``ids``.
        Up to 100 ids join other callers' reads of the same type (see ``coalesce_reads``).

        Raises:
            NotFoundError: some ids do not exist (unless ``missing_ok``).
        """
        if self.coalesce_reads and len(ids) <= BATCH_LIMIT:
            got = await read_each(self.coalescer(object_type, properties), ids, traceparent)
            records = [r for r in got if not isinstance(r, Missing)]
            missing = [(str(x), r) for x, r in zip(ids, got) if isinstance(r, Missing)]
            if missing and not missing_ok:
                status, error = missing[0][1].status, {**missing[0][1].error, "context": {"ids": [x for x, _ in missing]}}
                body = {"status": "COMPLETE", "results": records, "numErrors": 1, "errors": [error]}
                raise NotFoundError(self.error_message(status, error), system=self.system, status=status, body=body)
            return records
        found: dict[str, dict] = {}
        for i in range(0, len(ids), BATCH_LIMIT):
            chunk = [str(x) for x in ids[i:i + BATCH_LIMIT]]
            resp = await self._batch_call(object_type, chunk, properties, traceparent)
            for rec in resp.body.get("results", []):
                found[str(rec["id"])] = rec
            if resp.body.get("errors") and not missing_ok:
                err = resp.body["errors"][0]
                raise NotFoundError(self.error_message(resp.status, err), system=self.system, status=resp.status,
                                    body=resp.body, call=resp.call)
        return [found[str(x)] for x in ids if str(x) in found]

    async def _batch_call(self, object_type: str, ids: Sequence[str], properties: Iterable[str],
                          traceparent: str) -> ApiResponse:
        return await self.request("POST", f"/crm/v3/objects/{object_type}/batch/read", traceparent=traceparent,
                                  json={"properties": list(properties), "propertiesWithHistory": [],
                                        "inputs": [{"id": str(x)} for x in ids]})

    async def batch_read_line_items(self, ids: Sequence[str], *, properties: Sequence[str] = LINE_ITEM_PROPERTIES,
                                    missing_ok: bool = False, traceparent: str = "") -> list[dict]:
        """POST /crm/v3/objects/line_items/batch/read: :meth:`batch_read` for line items."""
        return await self.batch_read("line_items", ids, properties, missing_ok=missing_ok, traceparent=traceparent)

    async def search_quotes(self, *, status: str | None = "APPROVED", modified_since_ms: int | None = None,
                            after: str | None = None, limit: int = 100,
                            properties: Sequence[str] = QUOTE_PROPERTIES, traceparent: str = "") -> dict:
        """POST /crm/v3/objects/quotes/search, oldest change first; returns HubSpot's page."""
        filters = []
        if status:
            filters.append({"propertyName": "hs_status", "operator": "EQ", "value": status})
        if modified_since_ms is not None:
            filters.append({"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": str(modified_since_ms)})
        body: dict[str, Any] = {
            "filterGroups": [{"filters": filters}] if filters else [],
            "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
            "properties": list(properties), "limit": limit,
        }
        if after:
            body["after"] = after
        return (await self.request("POST", "/crm/v3/objects/quotes/search", json=body, traceparent=traceparent)).body

    async def iter_approved_quotes(self, modified_since_ms: int | None = None, *, limit: int = 100,
                                   traceparent: str = "") -> AsyncIterator[dict]:
        """Every APPROVED quote changed since ``modified_since_ms``, across all search pages."""
        cursor = AfterCursor()
        while True:
            page = await self.search_quotes(modified_since_ms=modified_since_ms, after=cursor.after, limit=limit,
                                            traceparent=traceparent)
            for record in page.get("results", []):
                yield record
            if not cursor.advance(page):
                return

    async def list_companies(self, after: str | None = None, limit: int = 100, *,
                             properties: Sequence[str] = COMPANY_PROPERTIES, traceparent: str = "") -> dict:
        """GET /crm/v3/objects/companies: one page (``paging.next.after`` leads on)."""
        params: dict[str, Any] = {"limit": limit, "properties": ",".join(properties)}
        if after:
            params["after"] = after
        return (await self.request("GET", "/crm/v3/objects/companies", params=params, traceparent=traceparent)).body

    async def get_associations(self, from_type: str, from_id: str, to_type: str, *,
                               traceparent: str = "") -> list[dict]:
        """GET /crm/v4/objects/{from}/{id}/associations/{to}, all pages:
        ``[{"toObjectId": int, "associationTypes": [...]}]``."""
        cursor, out = AfterCursor(), []
        while True:
            params: dict[str, Any] = {"limit": 500}
            if cursor.after:
                params["after"] = cursor.after
            page = (await self.request("GET", f"/crm/v4/objects/{from_type}/{segment(from_id)}/associations/{to_type}",
                                       params=params, traceparent=traceparent)).body
            out.extend(page.get("results", []))
            if not cursor.advance(page):
                return out

    async def company_deals(self, company_id: str, *, properties: Sequence[str] = COMPANY_DEAL_PROPERTIES,
                            traceparent: str = "") -> list[dict]:
        """The company's deals: their ids from the v4 associations (companies → deals, every page),
        then the records by batch read (100 a call) with ``properties``, in association order. A deal
        archived between the two calls is left out."""
        links = await self.get_associations("companies", company_id, "deals", traceparent=traceparent)
        ids = list(dict.fromkeys(str(link["toObjectId"]) for link in links if link.get("toObjectId") is not None))
        if not ids:
            return []
        return await self.batch_read("deals", ids, properties, missing_ok=True, traceparent=traceparent)

    # --- writes ---------------------------------------------------------------------------------
    async def create_object(self, object_type: str, properties: dict[str, Any],
                            associations: Sequence[dict] | None = None, *, traceparent: str = "") -> dict:
        """POST /crm/v3/objects/{objectType}: create one record; returns it (HubSpot answers 201).

        ``associations``: HubSpot's ``[{"to": {"id": ...}, "types": [{"associationCategory":
        "HUBSPOT_DEFINED", "associationTypeId": N}]}]`` (e.g. a deal to its company: 341, or 5 for the
        primary company; :func:`association_to` builds one). Property values are sent as strings.

        Raises:
            FatalError: 400 VALIDATION_ERROR (an unknown property, a bad association), 409 CONFLICT.
        """
        body: dict[str, Any] = {"properties": {k: None if v is None else str(v) for k, v in properties.items()}}
        if associations:
            body["associations"] = list(associations)
        return (await self.request("POST", f"/crm/v3/objects/{object_type}", json=body, traceparent=traceparent)).body

    async def update_company(self, company_id: str, properties: dict[str, Any], *, traceparent: str = "") -> dict:
        """PATCH /crm/v3/objects/companies/{id}; returns the updated record."""
        return (await self.request("PATCH", f"/crm/v3/objects/companies/{segment(company_id)}",
                                   json={"properties": properties}, traceparent=traceparent)).body

    async def update_properties(self, object_type: str, object_id: str, properties: dict[str, Any], *,
                                id_property: str | None = None, traceparent: str = "") -> dict:
        """PATCH /crm/v3/objects/{objectType}/{id} with ``{"properties": ...}``; returns the updated record
        (the written properties). Used to write back custom properties such as financial_risk,
        renewal_readiness and delivery_risk on companies and deals. ``id_property``: ``object_id`` is
        that unique property's value rather than the record id.

        Raises:
            FatalError: 400 VALIDATION_ERROR (e.g. PROPERTY_DOESNT_EXIST); NotFoundError: no such record.
        """
        params = {"idProperty": id_property} if id_property else None
        return (await self.request("PATCH", f"/crm/v3/objects/{object_type}/{segment(object_id)}", params=params,
                                   json={"properties": properties}, traceparent=traceparent)).body

    async def batch_upsert(self, object_type: str, inputs: Sequence[dict], *, id_property: str,
                           traceparent: str = "") -> dict:
        """POST /crm/v3/objects/{objectType}/batch/upsert, 100 inputs per call.

        ``inputs``: ``[{"id": <id property value>, "properties": {...}}]`` (``idProperty`` is filled in
        from ``id_property`` when absent). ``id_property`` must be a unique-value property (e.g.
        ``email`` on contacts, a custom ``hasUniqueValue`` property on companies and deals); HubSpot
        answers 400 VALIDATION_ERROR otherwise, raised as FatalError. Returns HubSpot's answer
        ``{"status": "COMPLETE", "results": [...]}`` (results of all calls, each with ``new``).
        """
        items = [{"idProperty": id_property, **item, "id": str(item["id"])} for item in inputs]
        out: dict[str, Any] = {"status": "COMPLETE", "results": []}
        for i in range(0, len(items), BATCH_LIMIT):
            body = (await self.request("POST", f"/crm/v3/objects/{object_type}/batch/upsert", traceparent=traceparent,
                                       json={"inputs": items[i:i + BATCH_LIMIT]})).body
            out["results"].extend(body.get("results", []))
            if body.get("errors"):
                out.setdefault("errors", []).extend(body["errors"])
                out["numErrors"] = len(out["errors"])
            for key in ("startedAt", "completedAt"):
                if key in body and (key == "completedAt" or key not in out):
                    out[key] = body[key]
            if body.get("status") and body["status"] != "COMPLETE":
                out["status"] = body["status"]
        return out

    # --- merges and archiving ---------------------------------------------------------------------
    async def merge(self, object_type: str, primary_id: str, id_to_merge: str, *, traceparent: str = "") -> dict:
        """POST /crm/v3/objects/{objectType}/merge: merge ``id_to_merge`` into ``primary_id`` (companies,
        contacts, deals); returns the merged record. The merged-away id stays an alias of the primary
        (reading it answers the primary) and HubSpot fires ``*.merge``.

        Raises:
            FatalError: 400 VALIDATION_ERROR (e.g. an object merged into itself);
            NotFoundError: either id unknown.
        """
        return (await self.request("POST", f"/crm/v3/objects/{object_type}/merge", traceparent=traceparent,
                                   json={"primaryObjectId": str(primary_id), "objectIdToMerge": str(id_to_merge)})).body

    async def archive(self, object_type: str, object_id: str, *, traceparent: str = "") -> None:
        """DELETE /crm/v3/objects/{objectType}/{objectId}: archive the record (HubSpot answers 204 and
        fires ``*.deletion``; archiving an archived record changes nothing).

        Raises:
            NotFoundError: no such record.
        """
        await self.request("DELETE", f"/crm/v3/objects/{object_type}/{segment(object_id)}", traceparent=traceparent)

__all__ = [
    "AfterCursor", "COMPANY_DEAL_PROPERTIES", "COMPANY_PROPERTIES", "DEAL_TO_COMPANY", "CONTACT_PROPERTIES", "DEAL_PROPERTIES", "HubSpotClient", "LINE_ITEM_PROPERTIES",
    "QUOTE_ASSOCIATIONS", "QUOTE_PROPERTIES", "RateLimit", "WRITE_BACK_PROPERTIES", "associated_ids", "association_to",
]  # AfterCursor and RateLimit now live in connectors.pagination and connectors.ratelimit
