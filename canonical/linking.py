"""Backfill linking: which account records across the systems are one customer.

Records are compared only within blocks that share a key (tax number, legal name, web domain, an
e-mail domain), so a store of many thousands stays near-linear. Pairs scoring at or above the link
threshold are joined strongest first, unless that would put two records of one system, or two
existing canonical customers, into one customer: such a pair, and every pair between the
thresholds, becomes a suspected duplicate for a person to decide. Pure: no I/O.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from itertools import combinations

from canonical.matching import Identity, Match, MatchingRules, match


@dataclass
class Cluster:
    """Records that are one customer; ``canonical_id`` is the one they already had, if any."""

    members: list[Identity] = field(default_factory=list)

    @property
    def canonical_id(self) -> str:
        return next((m.canonical_id for m in self.members if m.canonical_id), "")

    @property
    def systems(self) -> set[str]:
        return {m.system for m in self.members}


@dataclass
class LinkPlan:
    clusters: list[Cluster]
    suspects: list[Match]

    @property
    def linked(self) -> list[Cluster]:
        """Customers found in more than one system."""
        return [c for c in self.clusters if len(c.members) > 1]


def _blocks(records: list[Identity], free_mail: set[str]) -> dict[str, list[int]]:
    blocks: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        keys = set()
        if r.tax_number:
            keys.add(f"t:{r.tax_number}")
        if r.name:
            keys.add(f"n:{r.name}")
        for d in ({r.domain} | set(r.email_domains)) - {""} - free_mail:
            keys.add(f"d:{d}")
        for key in keys:
            blocks[key].append(i)
    return blocks


def plan_links(records: list[Identity], rules: MatchingRules) -> LinkPlan:
    free = set(rules.options.free_mail)
    scored: dict[tuple[int, int], Match] = {}
    for members in _blocks(records, free).values():
        for i, j in combinations(members, 2):
            if (i, j) not in scored:
                scored[i, j] = match(records[i], records[j], rules)
    parent = list(range(len(records)))
    systems = [{r.system} for r in records]
    canon = [{r.canonical_id} - {""} for r in records]

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    suspects: list[tuple[int, int, Match]] = []
    for (i, j), m in sorted(scored.items(), key=lambda kv: (-kv[1].score, kv[0])):
        if m.decision == "new":
            continue
        a, b = root(i), root(j)
        if a == b:
            continue
        if m.decision == "link" and not (systems[a] & systems[b]) and len(canon[a] | canon[b]) <= 1:
            parent[b] = a
            systems[a] |= systems[b]
            canon[a] |= canon[b]
        else:
            suspects.append((i, j, m))
    clusters: dict[int, Cluster] = {}
    for i, r in enumerate(records):
        clusters.setdefault(root(i), Cluster()).members.append(r)
    # a suspect whose records were linked after all (through a third record) is no longer one
    # one suspect per pair of customers (the strongest), and none between records linked after all
    best: dict[tuple[int, int], Match] = {}
    for i, j, m in suspects:
        a, b = sorted((root(i), root(j)))
        if a != b and ((a, b) not in best or m.score > best[a, b].score):
            best[a, b] = m
    return LinkPlan(list(clusters.values()), [best[k] for k in sorted(best, key=lambda k: (-best[k].score, k))])
