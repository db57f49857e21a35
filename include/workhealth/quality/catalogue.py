"""The check catalogue: the reviewed suites in ``expectations/*.yml`` and ``expectations/thresholds.yml``.

A suite file names its frame (``workhealth.quality.frames``) and lists checks. A check is a GX
expectation type, its keyword arguments, a ``severity`` (``critical`` withholds, ``warning`` is
reported), a ``scope`` (``period``, the default: a critical finding withholds the year of its
period; ``warehouse``: it withholds the whole release) and optionally the sample query for its
failing rows. Numbers
are never written in a suite: every numeric argument is ``{threshold: <section>.<name>}``, a
reference into thresholds.yml, resolved here. An unknown reference, an unused threshold or a
literal number is an error, so the thresholds file stays the one place a threshold is set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from workhealth.core.settings import REPO_ROOT

EXPECTATIONS_DIR = REPO_ROOT / "expectations"
THRESHOLDS_FILE = "thresholds.yml"
SEVERITIES = ("critical", "warning")
#: What a critical finding of a check withholds: the year of its period, or the whole release.
SCOPES = ("period", "warehouse")
#: Keys of a check that are not arguments of the GX expectation.
CHECK_KEYS = ("name", "severity", "scope", "description", "expectation", "sample")


class CatalogueError(ValueError):
    """The expectations folder is not a valid catalogue (the message names file, check and key)."""


@dataclass(frozen=True)
class Check:
    suite: str
    name: str
    severity: str
    description: str
    expectation: str
    #: GX keyword arguments with thresholds resolved to numbers.
    kwargs: dict
    #: kwarg name -> threshold reference (``section.name``), for reports.
    references: dict
    sample: str | None = None
    #: ``period`` or ``warehouse`` (SCOPES).
    scope: str = "period"

    @property
    def column(self) -> str | None:
        return self.kwargs.get("column")

    def threshold_text(self) -> str:
        lo, hi = self.kwargs.get("min_value"), self.kwargs.get("max_value")
        if lo is not None and hi is not None:
            return f"between {lo:g} and {hi:g}"
        if hi is not None:
            return f"at most {hi:g}"
        if lo is not None:
            return f"at least {lo:g}"
        return ", ".join(f"{k}={v}" for k, v in self.kwargs.items() if k != "column")


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    frame: str
    frame_parameters: dict
    checks: tuple[Check, ...]
    path: Path


@dataclass
class Catalogue:
    thresholds: dict
    suites: list[Suite] = field(default_factory=list)

    def check(self, suite: str, name: str) -> Check:
        return next(c for s in self.suites if s.name == suite for c in s.checks if c.name == name)


def flatten_thresholds(thresholds: dict) -> dict[str, float]:
    """``{"section.name": value}`` for every entry of thresholds.yml."""
    flat = {}
    for section, entries in (thresholds or {}).items():
        if not isinstance(entries, dict):
            raise CatalogueError(f"{THRESHOLDS_FILE}: section {section!r} must be a mapping of name: number")
        for name, value in entries.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise CatalogueError(f"{THRESHOLDS_FILE}: {section}.{name} must be a number, got {value!r}")
            flat[f"{section}.{name}"] = value
    return flat


def _resolve(value, where: str, flat: dict, used: set, references: dict, key: str):
    """Resolve ``{threshold: ref}`` anywhere in ``value``; literal numbers are refused."""
    if isinstance(value, dict):
        if set(value) == {"threshold"}:
            ref = value["threshold"]
            if ref not in flat:
                raise CatalogueError(f"{where}: {key} refers to unknown threshold {ref!r} (not in {THRESHOLDS_FILE})")
            used.add(ref)
            references[key] = ref
            return flat[ref]
        return {k: _resolve(v, where, flat, used, references, f"{key}.{k}" if key else k) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, where, flat, used, references, key) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise CatalogueError(f"{where}: {key} is the number {value}; set it in {THRESHOLDS_FILE} and write "
                             f"{{threshold: <section>.<name>}}")
    return value


def load(directory: Path | None = None) -> Catalogue:
    """Read and check the catalogue in ``directory`` (default: the repository's expectations/)."""
    directory = Path(directory or EXPECTATIONS_DIR)
    thresholds_path = directory / THRESHOLDS_FILE
    if not thresholds_path.exists():
        raise CatalogueError(f"{thresholds_path} is missing")
    thresholds = yaml.safe_load(thresholds_path.read_text()) or {}
    flat = flatten_thresholds(thresholds)
    used: set[str] = set()
    catalogue = Catalogue(thresholds=thresholds)
    for path in sorted(directory.glob("*.yml")):
        if path.name == THRESHOLDS_FILE:
            continue
        catalogue.suites.append(_load_suite(path, flat, used))
    if not catalogue.suites:
        raise CatalogueError(f"{directory}: no suite files (*.yml besides {THRESHOLDS_FILE})")
    unused = sorted(set(flat) - used)
    if unused:
        raise CatalogueError(f"{THRESHOLDS_FILE}: thresholds not used by any suite: {', '.join(unused)}")
    return catalogue


def _load_suite(path: Path, flat: dict, used: set) -> Suite:
    from workhealth.quality.frames import FRAMES

    doc = yaml.safe_load(path.read_text()) or {}
    where = path.name
    for key in ("suite", "frame", "checks"):
        if key not in doc:
            raise CatalogueError(f"{where}: missing {key!r}")
    if doc["frame"] not in FRAMES:
        raise CatalogueError(f"{where}: unknown frame {doc['frame']!r}; known: {', '.join(FRAMES)}")
    frame_parameters = _resolve(doc.get("frame_parameters") or {}, f"{where} frame_parameters", flat, used, {}, "")
    checks, names = [], set()
    for raw in doc["checks"]:
        name = raw.get("name")
        here = f"{where} check {name!r}"
        if not name or name in names:
            raise CatalogueError(f"{here}: every check needs a unique name")
        names.add(name)
        if raw.get("severity") not in SEVERITIES:
            raise CatalogueError(f"{here}: severity must be one of {SEVERITIES}, got {raw.get('severity')!r}")
        if raw.get("scope", "period") not in SCOPES:
            raise CatalogueError(f"{here}: scope must be one of {SCOPES}, got {raw.get('scope')!r}")
        if not raw.get("expectation"):
            raise CatalogueError(f"{here}: missing 'expectation'")
        references: dict = {}
        kwargs = {k: _resolve(v, here, flat, used, references, k) for k, v in raw.items() if k not in CHECK_KEYS}
        checks.append(Check(suite=doc["suite"], name=name, severity=raw["severity"],
                            description=" ".join(str(raw.get("description", "")).split()),
                            expectation=raw["expectation"], kwargs=kwargs, references=references,
                            sample=raw.get("sample"), scope=raw.get("scope", "period")))
    return Suite(name=doc["suite"], description=" ".join(str(doc.get("description", "")).split()),
                 frame=doc["frame"], frame_parameters=frame_parameters, checks=tuple(checks), path=path)
