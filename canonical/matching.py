"""Duplicate prevention: score how likely two account records are one company, and decide.

Evidence is the normalised legal name, web domain, tax number and contacts' e-mail domains; the
weights and the two thresholds are data (``data/matching.toml``). At or above ``link`` the records
are linked; between ``suspect`` and ``link`` they are a suspected duplicate for a person to decide;
below they are new. Pure functions, no I/O beyond reading the rule file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path
from typing import Iterable, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from canonical.identity import normalise_domain, normalise_name, normalise_tax_number
from canonical.rules import load_toml

Decision = Literal["link", "suspect", "new"]


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid")
    link: float = Field(gt=0, le=1)
    suspect: float = Field(gt=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> "Thresholds":
        if self.suspect >= self.link:
            raise ValueError(f"suspect ({self.suspect}) must be below link ({self.link})")
        return self


class Weights(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tax_number: float
    tax_number_differs: float = Field(le=0)
    name: float
    name_similar: float
    domain: float
    email_domain: float


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name_similarity: float = Field(0.88, gt=0, le=1)
    free_mail: list[str] = Field(default_factory=list)


class MatchingRules(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int
    thresholds: Thresholds
    weights: Weights
    options: Options = Options()

    @classmethod
    def load(cls, data_dir: Path | None = None) -> "MatchingRules":
        return cls.model_validate(load_toml("matching.toml", data_dir))

    def decide(self, score: float) -> Decision:
        if score >= self.thresholds.link:
            return "link"
        if score >= self.thresholds.suspect:
            return "suspect"
        return "new"


@dataclass(frozen=True)
class Identity:
    """What an account record is matched on, normalised once."""

    system: str
    external_id: str
    name: str = ""
    domain: str = ""
    tax_number: str = ""
    email_domains: frozenset[str] = frozenset()
    canonical_id: str = ""

    @classmethod
    def of(cls, system: str, external_id: str, *, name: str = "", domain: str = "", tax_number: str = "",
           emails: Iterable[str] = (), canonical_id: str = "") -> "Identity":
        return cls(system, str(external_id), normalise_name(name or ""), normalise_domain(domain or ""),
                   normalise_tax_number(tax_number or ""),
                   frozenset(e.strip().lower().rpartition("@")[2] for e in emails if e and "@" in e),
                   canonical_id)


@dataclass
class Match:
    """The score of one pair, the evidence behind it and what it means."""

    a: Identity
    b: Identity
    score: float
    decision: Decision
    evidence: list[str] = field(default_factory=list)

    @property
    def reason(self) -> str:
        return ", ".join(self.evidence) or "no shared evidence"


def score(a: Identity, b: Identity, rules: MatchingRules) -> tuple[float, list[str]]:
    """The match score of two records (0..1) and the evidence, strongest first."""
    w, opts = rules.weights, rules.options
    total, evidence = 0.0, []
    if a.tax_number and b.tax_number:
        if a.tax_number == b.tax_number:
            total += w.tax_number
            evidence.append("same tax number")
        else:
            total += w.tax_number_differs
            evidence.append("different tax numbers")
    if a.name and b.name:
        if a.name == b.name:
            total += w.name
            evidence.append("same legal name")
        elif SequenceMatcher(None, a.name, b.name).ratio() >= opts.name_similarity:
            total += w.name_similar
            evidence.append("similar legal name")
    if a.domain and b.domain and a.domain == b.domain:
        total += w.domain
        evidence.append("same web domain")
    free = set(opts.free_mail)
    mails_a = (a.email_domains | ({a.domain} if a.domain else set())) - free
    mails_b = (b.email_domains | ({b.domain} if b.domain else set())) - free
    if (a.email_domains or b.email_domains) and mails_a & mails_b and not (a.domain and a.domain == b.domain):
        total += w.email_domain
        evidence.append("same e-mail domain")
    return max(0.0, min(1.0, round(total, 4))), evidence


def match(a: Identity, b: Identity, rules: MatchingRules) -> Match:
    value, evidence = score(a, b, rules)
    return Match(a, b, value, rules.decide(value), evidence)


def best_match(record: Identity, candidates: Iterable[Identity], rules: MatchingRules) -> Match | None:
    """The strongest candidate for ``record`` (ties: the first given), or None when there are none."""
    best: Match | None = None
    for candidate in candidates:
        m = match(record, candidate, rules)
        if best is None or m.score > best.score:
            best = m
    return best
