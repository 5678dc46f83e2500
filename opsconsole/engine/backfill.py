"""Backfill: link the account records that already exist in the three systems before live sync starts.

Every account record (HubSpot companies, Xero contacts, Intercom companies) is read, page by page
(:mod:`opsconsole.engine.backfill_run`), and matched as live sync matches (``data/matching.toml``,
:func:`canonical.linking.plan_links`); a record that already has a cross-reference carries its
customer, and an existing cross-reference is never changed. Then, through the store:

* a customer for every cluster that has none yet, and a cross-reference for every member;
* the golden record of each customer seeded with each system's values (legal name, tax number, web
  domain, e-mail) for the fields it has no value for yet: survivorship (``data/ownership.toml``,
  :func:`canonical.ownership.survive`) picks among the systems, the owner's value first, each
  field stamped with the system and record it came from (``backfill:<system>:<id>``). Billing
  addresses and the rest come with the first live sync of each record;
* a suspected-duplicate conflict for every pair of customers scoring between the thresholds (or
  scoring as one but not linkable: two records of one system, two existing customers). Every
  record has its customer by then, so the conflict pairs a record (of the smaller customer) with
  a known customer: ``link`` merges the record's customer into the known one, ``separate`` keeps
  both (:func:`opsconsole.engine.governance.resolve_conflict`);
* one audit entry with the counts (no names, no ids of people).

Idempotent: a second run finds every record cross-referenced, every golden field set and every
suspect recorded (a conflict is recorded once per pair of records, and once per pair of customers),
and writes nothing at all, not even an audit entry.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Iterable

from sqlalchemy import Connection, select

from canonical.identity import normalise_domain, normalise_tax_number
from canonical.linking import plan_links
from canonical.matching import Identity, Match, MatchingRules
from canonical.ownership import FieldState, OwnershipRules, survive
from opsconsole.engine import governance, records as rec
from opsconsole.engine.audit import AuditLog
from opsconsole.store.tables import conflicts, xrefs

SYSTEMS = ("hubspot", "xero", "intercom")
OBJECT_TYPE = {"hubspot": "company", "xero": "contact", "intercom": "company"}
GOLDEN_FIELDS = ("legal_name", "tax_number", "domain", "email")
EVENT = "backfill"
BATCH = 200

Key = tuple[str, str, str]
Progress = Callable[[str, str, int, "int | None"], None]
"""``progress(phase, label, done, total)``: phase ``read`` (label: the system), ``link`` or ``write``;
``total`` None while unknown."""
RunOp = Callable[[Callable[[Connection], Any]], Awaitable[Any]]
"""Runs one function of a Connection in a committed write transaction (the fenced writer)."""


@dataclass(frozen=True)
class AccountRecord:
    """One account record of one system: what it is matched on and what seeds the golden record."""

    system: str
    external_id: str
    name: str = ""
    domain: str = ""
    tax_number: str = ""
    emails: tuple[str, ...] = ()
    updated_at: datetime | None = None

    @property
    def object_type(self) -> str:
        return OBJECT_TYPE.get(self.system, "company")

    @property
    def key(self) -> Key:
        return (self.system, self.object_type, self.external_id)

    def identity(self, canonical_id: str = "") -> Identity:
        return Identity.of(self.system, self.external_id, name=self.name, domain=self.domain,
                           tax_number=self.tax_number, emails=self.emails, canonical_id=canonical_id)

    def golden_values(self) -> dict[str, str]:
        values = {"legal_name": self.name.strip(), "tax_number": normalise_tax_number(self.tax_number),
                  "domain": normalise_domain(self.domain),
                  "email": next((e.strip().lower() for e in self.emails if e and "@" in e), "")}
        return {k: v for k, v in values.items() if v}


# --- vendor records -> account records ----------------------------------------------------------
def _epoch(value: Any, scale: float = 1.0) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(value) / scale, tz=timezone.utc) if value else None
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _iso(value: Any) -> datetime | None:
    if isinstance(value, (int, float)):
        return _epoch(value, 1000.0)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def hubspot_account(company: dict) -> AccountRecord:
    p = company.get("properties") or {}
    return AccountRecord("hubspot", str(company["id"]), p.get("name") or "", p.get("domain") or "",
                         p.get("vat_number") or "", (), _iso(company.get("updatedAt")))


def xero_account(contact: dict) -> AccountRecord | None:
    """None for an archived contact (no live customer)."""
    from connectors.pagination import parse_xero_date

    if contact.get("ContactStatus") == "ARCHIVED":
        return None
    emails = [contact.get("EmailAddress") or ""] + [p.get("EmailAddress") or "" for p in contact.get("ContactPersons") or []
                                                   if isinstance(p, dict)]
    return AccountRecord("xero", str(contact["ContactID"]), contact.get("Name") or "", contact.get("Website") or "",
                         contact.get("TaxNumber") or "", tuple(e for e in emails if e),
                         parse_xero_date(contact.get("UpdatedDateUTC")))


def intercom_account(company: dict) -> AccountRecord:
    """Keyed by ``company_id``: the key Intercom upserts by (DESIGN: effectively once)."""
    return AccountRecord("intercom", str(company.get("company_id") or company["id"]), company.get("name") or "",
                         company.get("website") or "", "", (), _epoch(company.get("updated_at")))


CONVERT: dict[str, Callable[[dict], AccountRecord | None]] = {
    "hubspot": hubspot_account, "xero": xero_account, "intercom": intercom_account}


# --- the plan -----------------------------------------------------------------------------------
@dataclass
class PlannedCustomer:
    members: list[AccountRecord]
    canonical_id: str = ""
    """The customer its members already have ("" for a new one)."""

    @property
    def systems(self) -> list[str]:
        present = {m.system for m in self.members}
        return [s for s in SYSTEMS if s in present] + sorted(present - set(SYSTEMS))


@dataclass
class PlannedSuspect:
    record: AccountRecord
    """The record of the smaller customer: ``link`` merges its customer into the candidate's."""
    candidate: AccountRecord
    score: float
    decision: str
    evidence: list[str] = field(default_factory=list)

    @property
    def reason(self) -> str:
        return ", ".join(self.evidence) or "no shared evidence"


@dataclass
class BackfillPlan:
    customers: list[PlannedCustomer]
    suspects: list[PlannedSuspect]
    known: dict[Key, str]
    """Cross-references that existed before the backfill: record key -> customer."""

    @property
    def linked(self) -> list[PlannedCustomer]:
        return [c for c in self.customers if len(c.systems) > 1]


def _order(r: AccountRecord) -> tuple:
    rank = SYSTEMS.index(r.system) if r.system in SYSTEMS else len(SYSTEMS)
    return (rank, r.system, [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", r.external_id) if p])


def plan_backfill(records: Iterable[AccountRecord], known: dict[Key, str], rules: MatchingRules) -> BackfillPlan:
    """Which records are one customer, and which pairs of customers a person must look at. Pure.

    An existing cross-reference is authoritative: records that already share a customer stay one
    (whatever their score: a person may have linked them), and no suspect is raised between them."""
    ordered = sorted({r.key: r for r in records}.values(), key=_order)
    identities = [r.identity(known.get(r.key, "")) for r in ordered]
    index = {(i.system, i.external_id): n for n, i in enumerate(identities)}
    linking = plan_links(identities, rules)
    groups: list[list[int]] = []
    by_customer: dict[str, int] = {}
    for cluster in linking.clusters:
        members = [index[m.system, m.external_id] for m in cluster.members]
        cid = cluster.canonical_id
        if cid and cid in by_customer:
            groups[by_customer[cid]].extend(members)
            continue
        if cid:
            by_customer[cid] = len(groups)
        groups.append(members)
    group_of = {i: g for g, members in enumerate(groups) for i in members}
    suspects: list[PlannedSuspect] = []
    paired: set[tuple[int, int]] = set()
    for m in linking.suspects:  # strongest first
        i, j = index[m.a.system, m.a.external_id], index[m.b.system, m.b.external_id]
        gi, gj = group_of[i], group_of[j]
        if gi == gj or (min(gi, gj), max(gi, gj)) in paired:
            continue
        paired.add((min(gi, gj), max(gi, gj)))
        # the record is the smaller customer's (on a tie: not the CRM's, then the later one)
        side = sorted([(len(groups[gi]), -_order(ordered[i])[0], -i, i), (len(groups[gj]), -_order(ordered[j])[0], -j, j)])
        r, c = side[0][3], side[1][3]
        suspects.append(PlannedSuspect(ordered[r], ordered[c], m.score, m.decision, list(m.evidence)))
    customers = [PlannedCustomer([ordered[i] for i in members], next(
        (known[ordered[i].key] for i in members if ordered[i].key in known), "")) for members in groups]
    return BackfillPlan(customers, suspects, {r.key: known[r.key] for r in ordered if r.key in known})


# --- the report ---------------------------------------------------------------------------------
@dataclass
class BackfillReport:
    read: dict[str, int] = field(default_factory=dict)
    """Account records read, per system."""
    skipped: dict[str, int] = field(default_factory=dict)
    """Records read but not linked (archived ERP contacts), per system."""
    not_configured: list[str] = field(default_factory=list)
    """Systems with no base URL in the settings: not read."""
    customers: int = 0
    linked_customers: int = 0
    """Customers whose records are in more than one system."""
    in_all_systems: int = 0
    new_customers: int = 0
    xrefs_added: dict[str, int] = field(default_factory=dict)
    already_linked: int = 0
    """Records that had a cross-reference before this backfill."""
    suspects: int = 0
    """Suspected duplicates in the plan."""
    suspects_raised: int = 0
    suspects_known: int = 0
    """Suspected duplicates recorded before (open or decided): not raised again."""
    golden_fields: int | None = 0
    """Golden-record fields set (None in a dry run: not computed)."""
    dry_run: bool = False
    audit_id: int | None = None

    @property
    def wrote(self) -> bool:
        return bool(self.new_customers or sum(self.xrefs_added.values()) or self.suspects_raised or self.golden_fields)

    def counts(self) -> dict[str, Any]:
        """What the audit entry records: counts only."""
        return {"read": self.read, "skipped": self.skipped, "customers": self.customers,
                "linked_customers": self.linked_customers, "in_all_systems": self.in_all_systems,
                "new_customers": self.new_customers, "xrefs_added": self.xrefs_added,
                "already_linked": self.already_linked, "suspects_raised": self.suspects_raised,
                "suspects_known": self.suspects_known, "golden_fields": self.golden_fields}

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _base_report(plan: BackfillPlan, read: dict[str, int], skipped: dict[str, int]) -> BackfillReport:
    return BackfillReport(read=dict(read), skipped=dict(skipped), customers=len(plan.customers),
                          linked_customers=len(plan.linked),
                          in_all_systems=sum(1 for c in plan.customers if set(SYSTEMS) <= set(c.systems)),
                          already_linked=len(plan.known), suspects=len(plan.suspects),
                          xrefs_added={s: 0 for s in read})


# --- writes -------------------------------------------------------------------------------------
def _survivors(rules: OwnershipRules, members: list[AccountRecord], at: datetime) -> dict[str, FieldState]:
    out = {}
    for name in GOLDEN_FIELDS:
        candidates = [FieldState(v, m.system, f"{EVENT}:{m.system}:{m.external_id}"[:255], m.updated_at or at)
                      for m in members if (v := m.golden_values().get(name))]
        won = survive(rules, rules.rule("customer", name), candidates)
        if won is not None:
            out[name] = won
    return out


def write_customers(conn: Connection, batch: list[PlannedCustomer], rules: OwnershipRules, at: datetime
                    ) -> tuple[dict[Key, str], Counter]:
    """One batch of customers: create the new ones, cross-reference every member, fill the golden
    record's empty fields. Returns (record key -> customer, counts)."""
    counts: Counter = Counter()
    canon: dict[Key, str] = {}
    for planned in batch:
        current = {m.key: rec.xref_canonical(conn, *m.key) for m in planned.members}
        survivors = _survivors(rules, planned.members, at)
        cid = planned.canonical_id or next((c for c in current.values() if c), "")
        if not cid:
            def value(name: str) -> str:
                return str(survivors[name].value) if name in survivors else ""

            cid = rec.new_customer(conn, legal_name=value("legal_name") or planned.members[0].external_id,
                                   tax_number=value("tax_number"), domain=value("domain"))
            counts["new_customers"] += 1
        for m in planned.members:
            if current[m.key] is None:
                rec.put_xref(conn, *m.key, cid)
                counts[f"xref:{m.system}"] += 1
            canon[m.key] = current[m.key] or cid  # a cross-reference made meanwhile is never changed
        golden = governance.load_golden(conn, "customer", cid)
        fresh = [name for name in survivors if name not in golden.fields]
        for name in fresh:
            golden.fields[name] = survivors[name]
        governance.save_golden(conn, golden, fresh)
        counts["golden_fields"] += len(fresh)
    return canon, counts


def _duplicate_pairs(conn: Connection) -> set[frozenset[str]]:
    """Pairs of customers a suspected duplicate was recorded for already (open or decided)."""
    pairs = set()
    for (values,) in conn.execute(select(conflicts.c["values"]).where(conflicts.c.kind == "duplicate")):
        record, candidate = (values or {}).get("record") or {}, (values or {}).get("candidate") or {}
        mine = rec.xref_canonical(conn, str(record.get("system")), str(record.get("object_type")),
                                  str(record.get("external_id")))
        if mine and candidate.get("canonical_id"):
            pairs.add(frozenset((mine, str(candidate["canonical_id"]))))
    return pairs


def write_suspects(conn: Connection, suspects: list[PlannedSuspect], canon: dict[Key, str]) -> Counter:
    """Raise a suspected-duplicate conflict for each planned suspect not recorded before."""
    counts: Counter = Counter()
    known = _duplicate_pairs(conn)
    for s in suspects:
        mine, theirs = canon[s.record.key], canon[s.candidate.key]
        if mine == theirs:
            continue
        if frozenset((mine, theirs)) in known:
            counts["suspects_known"] += 1
            continue
        m = Match(s.record.identity(mine), s.candidate.identity(theirs), s.score, s.decision,  # type: ignore[arg-type]
                  list(s.evidence))
        raised = governance.record_duplicate(conn, m, object_type=s.record.object_type, legal_name=s.record.name,
                                             event_id=EVENT)
        counts["suspects_raised" if raised is not None else "suspects_known"] += 1
        known.add(frozenset((mine, theirs)))
    return counts


async def apply_plan(plan: BackfillPlan, run: RunOp, *, audit: AuditLog, actor: str, rules: OwnershipRules,
                     read: dict[str, int], skipped: dict[str, int] | None = None, progress: Progress | None = None,
                     batch: int = BATCH, at: datetime | None = None) -> BackfillReport:
    """Write the plan in batches of customers (each its own commit through ``run``), then the
    suspects and the audit entry in one last commit. A crash between commits leaves what was
    committed; running the backfill again completes it."""
    report = _base_report(plan, read, skipped or {})
    at = at or datetime.now(timezone.utc)
    total = len(plan.customers) + len(plan.suspects)
    canon: dict[Key, str] = {}
    counts: Counter = Counter()
    for start in range(0, len(plan.customers), batch):
        chunk = plan.customers[start:start + batch]
        got, c = await run(lambda conn, chunk=chunk: write_customers(conn, chunk, rules, at))
        canon.update(got)
        counts.update(c)
        if progress:
            progress("write", "writing", start + len(chunk), total)

    def last(conn: Connection) -> tuple[Counter, int | None]:
        c = write_suspects(conn, plan.suspects, canon)
        report.new_customers = counts["new_customers"]
        report.xrefs_added = {s: counts[f"xref:{s}"] for s in sorted({*read, *(k[0] for k in canon)}, key=_rank)}
        report.golden_fields = counts["golden_fields"]
        report.suspects_raised, report.suspects_known = c["suspects_raised"], c["suspects_known"]
        entry = audit.append(conn, actor, "sync.backfill", "backfill", report.counts()) if report.wrote else None
        return c, entry

    _, report.audit_id = await run(last)
    if progress:
        progress("write", "writing", total, total)
    return report


def _rank(system: str) -> tuple[int, str]:
    return (SYSTEMS.index(system) if system in SYSTEMS else len(SYSTEMS), system)


def dry_run_report(conn: Connection, plan: BackfillPlan, read: dict[str, int], skipped: dict[str, int] | None = None
                   ) -> BackfillReport:
    """What :func:`apply_plan` would write, read-only (golden fields are not worked out)."""
    report = _base_report(plan, read, skipped or {})
    report.dry_run, report.golden_fields = True, None
    report.new_customers = sum(1 for c in plan.customers if not c.canonical_id)
    added = Counter(m.system for c in plan.customers for m in c.members if m.key not in plan.known)
    report.xrefs_added = {s: added[s] for s in sorted({*read, *added}, key=_rank)}
    known = _duplicate_pairs(conn)
    for s in plan.suspects:
        pair = frozenset((plan.known.get(s.record.key, ""), plan.known.get(s.candidate.key, "")))
        if "" not in pair and pair in known:
            report.suspects_known += 1
        else:
            report.suspects_raised += 1
    return report


def known_xrefs(conn: Connection, keys: Iterable[Key], chunk: int = 500) -> dict[Key, str]:
    """The cross-references of these records (record key -> customer)."""
    by_type: dict[tuple[str, str], list[str]] = {}
    for system, object_type, external_id in keys:
        by_type.setdefault((system, object_type), []).append(external_id)
    out: dict[Key, str] = {}
    for (system, object_type), ids in by_type.items():
        for start in range(0, len(ids), chunk):
            rows = conn.execute(select(xrefs.c.external_id, xrefs.c.canonical_id).where(
                xrefs.c.system == system, xrefs.c.object_type == object_type,
                xrefs.c.external_id.in_(ids[start:start + chunk])))
            out.update({(system, object_type, r.external_id): r.canonical_id for r in rows})
    return out


__all__ = ["AccountRecord", "BackfillPlan", "BackfillReport", "PlannedCustomer", "PlannedSuspect", "apply_plan",
           "dry_run_report", "hubspot_account", "intercom_account", "known_xrefs", "plan_backfill",
           "write_customers", "write_suspects", "xero_account"]
