"""The small engine that applies mapping files: compile once, then read (vendor -> canonical) and
write (canonical -> vendor) many times without parsing anything again.

A catalogue is every mapping file under one directory. Version N of the catalogue means, for each
``vendor/entity``, the newest file whose version is at most N; the current version is the highest
version of any file. A run records the catalogue version it mapped with, so a replay can use that
one or the current one.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel, ValidationError

from canonical import models as canonical_models
from canonical import paths
from canonical.mapspec import FieldRule, MappingSpec
from canonical.rules import DEFAULT_DATA_DIR
from canonical.transforms import Transform, TransformError, build

DEFAULT_DIR = DEFAULT_DATA_DIR / "mappings"
_PLACEHOLDER = re.compile(r"\{([^{}|]+)(?:\|([^{}]*))?\}")


class MappingError(ValueError):
    """The source records cannot be mapped; ``problems`` says what is missing or wrong, each naming
    the source record and field."""

    title = "Missing mandatory fields"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _problem(text: str | None, value: Any) -> str | None:
    # only the file's text is a format string; record values (the subject) never are
    return text.replace("{value}", str(value)) if text else None


def _required(rule: Any, ctx: dict) -> bool:
    if isinstance(rule.required, str):
        return bool(ctx.get(rule.required[5:]))
    return rule.required


_MISSING = paths.MISSING
_EMPTIABLE = (str, list)


def _empty(value: Any) -> bool:
    # by type, not ``value == ""``: comparing a pydantic model runs its Python-level __eq__
    if value is None or value is _MISSING:
        return True
    return not value if isinstance(value, _EMPTIABLE) else False


def _getter(segments: tuple) -> Callable[[Any], Any]:
    """``paths.get`` for one path; a path of plain keys (most fields) without the list checks."""
    if any(seg.index is not None or seg.match is not None for seg in segments):
        return lambda here: paths.get(here, segments)
    if len(segments) == 1:
        key = segments[0].key

        def get_one(here: Any) -> Any:
            node = here.get(key, _MISSING) if isinstance(here, dict) else getattr(here, key, _MISSING)
            return _MISSING if node is None else node
        return get_one
    keys = tuple(seg.key for seg in segments)

    def get(here: Any) -> Any:
        node = here
        for key in keys:
            node = node.get(key, _MISSING) if isinstance(node, dict) else getattr(node, key, _MISSING)
            if node is None or node is _MISSING:
                return _MISSING
        return node
    return get


def _putter(segments: tuple) -> Callable[[dict, Any], None]:
    """``paths.put`` for one path; a single plain key without the loop."""
    if len(segments) != 1 or segments[0].index is not None or segments[0].match is not None:
        return lambda out, value: paths.put(out, segments, value)
    key = segments[0].key

    def put(out: dict, value: Any) -> None:
        out[key] = value
    return put


class _Ref:
    """A compiled value reference: a path into the record, the root document or the context.
    ``get(here, root, ctx)`` answers the value it names, or ``paths.MISSING``."""

    __slots__ = ("scope", "segments", "text", "get")

    def __init__(self, text: str) -> None:
        self.text = text
        if text.startswith("$ctx."):
            self.scope, body = "ctx", text[5:]
        elif text.startswith("$root."):
            self.scope, body = "root", text[6:]
        else:
            self.scope, body = "here", text
        self.segments = paths.parse(body)
        get = _getter(self.segments)
        if self.scope == "ctx":
            self.get = lambda here, root, ctx: get(ctx)
        elif self.scope == "root":
            self.get = lambda here, root, ctx: get(root)
        else:
            self.get = lambda here, root, ctx: get(here)


def _template(text: str) -> Callable[[Any, Any, dict], str | None]:
    """``"HubSpot quote {number}"``: None unless every placeholder without a ``|fallback`` is filled."""
    parts = [(m.start(), m.end(), _Ref(m.group(1)), m.group(2)) for m in _PLACEHOLDER.finditer(text)]

    def render(here: Any, root: Any, ctx: dict) -> str | None:
        out, pos = [], 0
        for start, end, ref, fallback in parts:
            value = ref.get(here, root, ctx)
            if _empty(value):
                if fallback is None:
                    return None
                value = fallback
            out.append(text[pos:start])
            out.append(str(value))
            pos = end
        out.append(text[pos:])
        return "".join(out)

    return render


@dataclass
class _Field:
    rule: FieldRule
    vendor: tuple | None
    canonical: tuple | None
    source: _Ref | None
    default: Any
    transforms: list[Transform]
    templates: list[Callable]
    unless: _Ref | None = None
    when: _Ref | None = None

    def _default(self, here: Any, root: Any, ctx: dict) -> Any:
        if isinstance(self.default, _Ref):
            return self.default.get(here, root, ctx)
        return self.default


def _fetcher(rule: FieldRule, templates: list[Callable], source: _Ref | None,
             path: tuple | None) -> Callable[[Any, Any, dict], Any] | None:
    """Where a field's value comes from, in this order: its constant, its templates (the first that
    renders), its reference, the path into the record; None when it names none of them."""
    if rule.value is not None:
        const = rule.value
        return lambda here, root, ctx: const
    if templates:
        def render(here: Any, root: Any, ctx: dict) -> Any:
            for template in templates:
                value = template(here, root, ctx)
                if value is not None:
                    return value
            return None
        return render
    if source is not None:
        return source.get
    if path is not None:
        get = _getter(path)
        return lambda here, root, ctx: get(here)
    return None


def _reader(f: _Field) -> Callable[[Any, Any, dict, dict, list, str], None] | None:
    """The field's read (vendor -> canonical) as one closure, everything it does not need decided
    when the file is compiled: a mapping runs some forty of these per quote."""
    rule = f.rule
    fetch = None if rule.direction == "write" else _fetcher(rule, (), f.source, f.vendor)
    if fetch is None:
        return None
    reads = tuple(t.read for t in f.transforms)
    allowed, default, required = rule.allowed, f._default, rule.required
    named = rule.vendor or rule.source
    put = _putter(f.canonical) if f.canonical is not None else None

    def read(here: Any, root: Any, ctx: dict, out: dict, problems: list[str], who: str) -> None:
        value = fetch(here, root, ctx)
        if value is _MISSING:
            value = None
        try:
            for t in reads:
                value = t(value)
        except TransformError as exc:
            problems.append(f"{who}: {named}: {exc}")
            return
        if allowed is not None and not _empty(value) and str(value) not in allowed:
            problems.append(f"{who} {_problem(rule.problem or 'has {value}, not one of the allowed values', value)}")
            return
        if _empty(value):
            value = default(here, root, ctx)
            if _empty(value):
                if required and (not isinstance(required, str) or ctx.get(required[5:])):
                    problems.append(f"{who} {_problem(rule.problem, value) or f'has no {rule.vendor}'}")
                if put is None or value is None or value is _MISSING:
                    return
        if put is not None:
            put(out, value)
    return read


def _writer(f: _Field) -> Callable[[Any, Any, dict, dict], None] | None:
    """The field's write (canonical -> vendor) as one closure (see :func:`_reader`)."""
    rule = f.rule
    fetch = None if rule.direction == "read" or f.vendor is None else _fetcher(rule, f.templates, f.source, f.canonical)
    if fetch is None:
        return None
    unless, when, default = f.unless, f.when, f._default
    writes = tuple(t.write for t in reversed(f.transforms))
    omit_empty = rule.omit_empty
    put = _putter(f.vendor)

    def write(here: Any, root: Any, ctx: dict, out: dict) -> None:
        if unless is not None and not _empty(unless.get(here, root, ctx)):
            return
        if when is not None and _empty(when.get(here, root, ctx)):
            return
        value = fetch(here, root, ctx)
        if value is None or value is _MISSING or (not value and isinstance(value, _EMPTIABLE)):  # _empty, inline
            value = default(here, root, ctx)
            if value is _MISSING:
                value = None
        for t in writes:
            value = t(value)
        if omit_empty and _empty(value):
            return
        put(out, value)
    return write


class Mapping:
    """One compiled mapping file."""

    def __init__(self, spec: MappingSpec, catalogue: "Catalogue", file: str = "") -> None:
        self.spec = spec
        self.file = file
        self._catalogue = catalogue
        self.model: type[BaseModel] = getattr(canonical_models, spec.model)
        self._subject = _template(spec.subject) if spec.subject else None
        self._readers, self._writers = self._closures(spec.fields)
        self._lists = [(rule, *self._closures(rule.fields)) for rule in spec.lists]

    def _closures(self, rules: list[FieldRule]) -> tuple[list[Callable], list[Callable]]:
        """The reads and the writes of these fields (a field may have only one of them)."""
        fields = [self._compile(r) for r in rules]
        return ([r for r in map(_reader, fields) if r is not None],
                [w for w in map(_writer, fields) if w is not None])

    def _compile(self, rule: FieldRule) -> _Field:
        default = rule.default
        if isinstance(default, str) and default.startswith("$ctx."):
            default = _Ref(default)
        return _Field(
            rule,
            paths.parse(rule.vendor) if rule.vendor else None,
            paths.parse(rule.canonical) if rule.canonical else None,
            _Ref(rule.source) if rule.source else None,
            default,
            [build(t, self.spec.lookups) for t in rule.transforms],
            [_template(t) for t in rule.template or ()],
            _Ref(rule.unless) if rule.unless else None,
            _Ref(rule.when) if rule.when else None,
        )

    @property
    def version(self) -> int:
        return self.spec.version

    def subject(self, doc: Any) -> str:
        if self._subject is None:
            return self.spec.object
        return self._subject(doc, doc, {}) or self.spec.object

    # --- read: vendor -> canonical -------------------------------------------------------------
    def read(self, doc: Any, ctx: dict | None = None) -> BaseModel:
        """The canonical model for ``doc``; raises MappingError listing every problem."""
        problems: list[str] = []
        data = self.read_dict(doc, ctx or {}, problems)
        if problems:
            raise MappingError(problems)
        try:
            return self.model.model_validate(data)
        except ValidationError as exc:
            raise MappingError([f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]) from exc

    def read_dict(self, doc: Any, ctx: dict, problems: list[str], root: Any = None) -> dict:
        root = doc if root is None else root
        who = self.subject(doc)
        out: dict = {}
        for embed in self.spec.embeds:
            if embed.direction == "write":
                continue
            sub = _Ref(embed.source).get(doc, root, ctx) if embed.source else doc
            if _empty(sub):
                if _required(embed, ctx):
                    problems.append(f"{who} {embed.problem or f'has no {embed.canonical}'}")
                continue
            mapping = self._catalogue.get(embed.mapping, self.version)
            paths.put(out, paths.parse(embed.canonical), mapping.read_dict(sub, ctx, problems, sub))
        for read in self._readers:
            read(doc, root, ctx, out, problems, who)
        for rule, readers, _writers in self._lists:
            if rule.direction == "write":
                continue
            items = _Ref(rule.source).get(doc, root, ctx) if rule.source else (
                paths.get(doc, paths.parse(rule.vendor)) if rule.vendor else paths.MISSING)
            if _empty(items):
                if _required(rule, ctx):
                    problems.append(f"{who} {rule.problem or f'has no {rule.canonical}'}")
                items = []
            mapped = []
            for item in items:
                item_out: dict = {}
                for read in readers:
                    read(item, root, ctx, item_out, problems, who)
                mapped.append(item_out)
            paths.put(out, paths.parse(rule.canonical), mapped)
        return out

    # --- write: canonical -> vendor ------------------------------------------------------------
    def write(self, record: Any, ctx: dict | None = None) -> dict:
        """The vendor record for ``record`` (a canonical model or dict)."""
        return self.write_dict(record, ctx or {}, record)

    def write_dict(self, record: Any, ctx: dict, root: Any) -> dict:
        out: dict = {}
        for embed in self.spec.embeds:
            if embed.direction == "read" or embed.vendor is None:
                continue
            sub = paths.get(record, paths.parse(embed.canonical))
            if not _empty(sub):
                paths.put(out, paths.parse(embed.vendor),
                          self._catalogue.get(embed.mapping, self.version).write_dict(sub, ctx, sub))
        for write in self._writers:
            write(record, root, ctx, out)
        for rule, _readers, writers in self._lists:
            if rule.direction == "read" or rule.vendor is None:
                continue
            items = paths.get(record, paths.parse(rule.canonical))
            mapped = []
            for item in [] if _empty(items) else items:
                item_out: dict = {}
                for write in writers:
                    write(item, root, ctx, item_out)
                mapped.append(item_out)
            paths.put(out, paths.parse(rule.vendor), mapped)
        return out


class Catalogue:
    """Every mapping file under a directory, compiled, by ``vendor/entity`` and version."""

    def __init__(self, specs: list[tuple[MappingSpec, str]]) -> None:
        self._by_key: dict[str, dict[int, Mapping]] = {}
        for spec, file in specs:  # embeds are resolved when applied, so order does not matter
            versions = self._by_key.setdefault(spec.key, {})
            if spec.version in versions:
                raise ValueError(f"{file}: {spec.key} version {spec.version} is also defined in {versions[spec.version].file}")
            versions[spec.version] = Mapping(spec, self, file)
        # read on every new run: computed once
        self.current_version = max((v for vs in self._by_key.values() for v in vs), default=1)
        self._resolved: dict[tuple[str, Any], Mapping] = {}  # get()'s answers: the catalogue never changes

    @classmethod
    def load(cls, directory: Path | None = None) -> "Catalogue":
        directory = Path(directory or DEFAULT_DIR)
        specs = [(load_spec(path), str(path)) for path in sorted(directory.rglob("*.toml"))]
        return cls(specs)

    def keys(self) -> list[str]:
        return sorted(self._by_key)

    def mappings(self) -> list[Mapping]:
        return [m for key in self.keys() for _, m in sorted(self._by_key[key].items())]

    def get(self, key: str, version: int | str | None = None) -> Mapping:
        """The newest ``key`` mapping at or below ``version`` (the current one by default)."""
        found = self._resolved.get((key, version))
        if found is not None:
            return found
        versions = self._by_key.get(key)
        if not versions:
            raise KeyError(f"no mapping {key!r} (known: {', '.join(self.keys())})")
        limit = self.current_version if version is None else int(version)
        eligible = [v for v in versions if v <= limit]
        if not eligible:
            raise KeyError(f"no version of mapping {key!r} at or below {limit} (have {sorted(versions)})")
        found = self._resolved[(key, version)] = versions[max(eligible)]
        return found


def load_spec(path: Path) -> MappingSpec:
    """Parse one mapping file; raises ValueError naming the file and key path of each error."""
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return MappingSpec.model_validate(raw)
    except ValidationError as exc:
        lines = [f"{path}: {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise ValueError("\n".join(lines)) from exc


_catalogue: Catalogue | None = None


def catalogue() -> Catalogue:
    """The catalogue shipped in the package's data/ (loaded once)."""
    global _catalogue
    if _catalogue is None:
        _catalogue = Catalogue.load()
    return _catalogue


def use_catalogue(cat: Catalogue) -> None:
    """Make ``cat`` the catalogue the engine maps with (settings may point at an organisation's own data/)."""
    global _catalogue
    _catalogue = cat
