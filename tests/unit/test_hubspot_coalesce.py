"""Coalesced HubSpot reads against the HubSpot sandbox over real HTTP: many runs' single-record reads
become one batch read, and each caller still sees (and traces) what a single GET would give it."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from connectors.errors import DownstreamError, NotFoundError
from connectors.http import call_recorder
from connectors.hubspot import CONNECTOR
from connectors.hubspot.client import COMPANY_PROPERTIES
from tests.unit.hubspot_fixtures import TOKEN, hubspot_fixtures

TP = "00-0af7651916cd43dd8448eb211c80319c-{:016x}-01"


sandbox, fresh = hubspot_fixtures(30, scenario=False, seed=11, profile="unthrottled")


@pytest.fixture
async def clients(fresh):
    coalesced = CONNECTOR.client(fresh.url, token=TOKEN)
    single = CONNECTOR.client(fresh.url, token=TOKEN, coalesce_reads=False)
    yield coalesced, single
    await coalesced.aclose()
    await single.aclose()


def _requests(sb) -> int:
    return httpx.get(sb.url + "/_sandbox/faults").json()["counts"]["requests"]


def _company_ids(sb, n: int) -> list[str]:
    return sorted(sb.store.objects["companies"], key=int)[:n]


async def _traced(client, company_id: str, traceparent: str):
    """Read as a step does: with its own call recorder; return (record or error, calls)."""
    calls: list = []
    call_recorder.set(calls)
    try:
        return await client.get_company(company_id, traceparent=traceparent), calls
    except Exception as exc:  # the error is the result under test
        return exc, calls


async def test_concurrent_reads_become_one_batch_and_match_single_gets(clients, fresh):
    coalesced, single = clients
    ids = _company_ids(fresh, 25)
    before = _requests(fresh)
    got = await asyncio.gather(*(coalesced.get_company(x) for x in ids + ids[:5]))  # 5 read twice
    assert _requests(fresh) - before == 1
    assert coalesced.coalescer("companies", COMPANY_PROPERTIES).calls == 1
    expected = [await single.get_company(x) for x in ids + ids[:5]]
    assert got == expected


async def test_each_caller_traces_only_its_own_id_and_traceparent(clients, fresh):
    coalesced, _ = clients
    ids = _company_ids(fresh, 3)
    results = await asyncio.gather(*(asyncio.create_task(_traced(coalesced, x, TP.format(i + 1)))
                                     for i, x in enumerate(ids)))
    for i, (record, calls) in enumerate(results):
        assert record["id"] == ids[i]
        assert len(calls) == 1
        call = calls[0]
        assert (call.method, call.status) == ("POST", 200)
        assert call.url.endswith("/crm/v3/objects/companies/batch/read")
        assert call.request_body["inputs"] == [{"id": ids[i]}]
        assert [r["id"] for r in call.response_body["results"]] == [ids[i]]
        assert call.traceparent == TP.format(i + 1)


async def test_missing_and_merged_ids_answer_as_a_single_get(clients, fresh):
    coalesced, single = clients
    primary, merged, other = _company_ids(fresh, 3)
    api = httpx.Client(base_url=fresh.url, headers={"Authorization": f"Bearer {TOKEN}"})
    api.post("/crm/v3/objects/companies/merge", json={"primaryObjectId": primary, "objectIdToMerge": merged}).raise_for_status()
    before = _requests(fresh)
    got = await asyncio.gather(coalesced.get_company(merged), coalesced.get_company(other),
                               coalesced.get_company("13899999999"), return_exceptions=True)
    # one batch; then the merged id and the unknown one are read on their own
    assert _requests(fresh) - before == 3
    assert got[0] == await single.get_company(merged) and got[0]["id"] == primary
    assert got[1]["id"] == other
    assert isinstance(got[2], NotFoundError) and got[2].status == 404


async def test_batch_read_keeps_its_multi_status_answer_when_coalesced(clients, fresh):
    coalesced, _ = clients
    ids = _company_ids(fresh, 2)
    with pytest.raises(NotFoundError) as err:
        await coalesced.batch_read("companies", [*ids, "13899999999"], ["name"])
    assert err.value.status == 207 and err.value.body["errors"][0]["context"] == {"ids": ["13899999999"]}
    assert [r["id"] for r in err.value.body["results"]] == ids
    assert [r["id"] for r in await coalesced.batch_read("companies", [*ids, "13899999999"], ["name"], missing_ok=True)] == ids


async def test_a_failed_batch_fails_every_caller_with_its_own_error(clients, fresh):
    coalesced, _ = clients
    ids = _company_ids(fresh, 4)
    httpx.post(fresh.url + "/_sandbox/faults", json={"profile": "flaky5xx", "error_rate": 1.0, "count": 1}).raise_for_status()
    results = await asyncio.gather(*(asyncio.create_task(_traced(coalesced, x, TP.format(i + 1)))
                                     for i, x in enumerate(ids)))
    errors = [r for r, _ in results]
    assert all(isinstance(e, DownstreamError) and e.status >= 500 and e.retriable for e in errors)
    assert len({id(e) for e in errors}) == 4  # each caller its own copy
    for i, (err, calls) in enumerate(results):
        assert calls == [err.call]
        assert err.call.request_body["inputs"] == [{"id": ids[i]}] and err.call.traceparent == TP.format(i + 1)
    # the fault is spent: the next read goes through
    assert (await coalesced.get_company(ids[0]))["id"] == ids[0]


async def test_a_read_with_nobody_to_share_is_a_single_get(clients, fresh):
    coalesced, _ = clients
    company_id = _company_ids(fresh, 1)[0]
    record, calls = await asyncio.create_task(_traced(coalesced, company_id, TP.format(9)))
    assert record["id"] == company_id
    assert [(c.method, c.url.split("?")[0].rsplit("/", 2)[-2:]) for c in calls] == [("GET", ["companies", company_id])]
    assert coalesced.coalescer("companies", COMPANY_PROPERTIES).calls == 0


async def test_a_step_reading_several_ids_traces_the_batch_once(clients, fresh):
    coalesced, _ = clients
    ids = _company_ids(fresh, 5)

    async def step(mine: list[str], n: int):
        calls: list = []
        call_recorder.set(calls)
        return await coalesced.batch_read("companies", mine, ["name"], traceparent=TP.format(n)), calls

    (first, first_calls), (second, second_calls) = await asyncio.gather(
        asyncio.create_task(step(ids[:3], 1)), asyncio.create_task(step(ids[3:], 2)))
    assert coalesced.coalescer("companies", ("name",)).calls == 1
    assert [r["id"] for r in first] == ids[:3] and [r["id"] for r in second] == ids[3:]
    for mine, calls, n in ((ids[:3], first_calls, 1), (ids[3:], second_calls, 2)):
        assert len(calls) == 1
        assert calls[0].request_body["inputs"] == [{"id": x} for x in mine]
        assert [r["id"] for r in calls[0].response_body["results"]] == mine
        assert calls[0].traceparent == TP.format(n)
