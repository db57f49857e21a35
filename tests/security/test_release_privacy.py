"""A release in two parts: nothing person-level in the public one, the marts in an internal one.

On the clean cycle's real release (``clean_cli_run``, tests/conftest.py): every public file
(OUT/releases/, OUT/report/) is scanned for person-level columns and for any person_id of the
warehouse; the internal part (OUT/internal/) is owner-and-group only, holds every mart and a
data dictionary that names every column; ``latest`` exists for both; the report and
``workhealth sql`` read the marts from the internal part. And a publish killed with SIGKILL
mid-way (a real subprocess) leaves nothing behind once the next publish has run.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

pytestmark = pytest.mark.slow  # the shared clean cycle

#: Ids of a person or of a person's episode, certificate, decision, spell, contact, case, course
#: or matched set: none of them may appear in a public file (besides every *_id of the marts).
PERSON_LEVEL_IDS = {"person_id", "episode_id", "certificate_id", "decision_id", "spell_id", "contact_id",
                    "case_id", "sick_leave_case_id", "course_id", "matched_set_id"}
_HEX16 = re.compile(r"(?<![0-9a-f])[0-9a-f]{16}(?![0-9a-f])")  # the form of a pseudonymous person_id


def _warehouse_ids(warehouse: Path) -> tuple[set[str], set[str]]:
    """(person_ids of marts.dim_person, person-level id column names), read read-only."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        persons = {r[0] for r in con.execute("SELECT person_id FROM marts.dim_person").fetchall()}
        columns = {r[0] for r in con.execute(
            "SELECT DISTINCT column_name FROM information_schema.columns "
            "WHERE table_schema = 'marts' AND column_name LIKE '%\\_id' ESCAPE '\\'").fetchall()}
    finally:
        con.close()
    return persons, PERSON_LEVEL_IDS | columns


def _json_strings(value) -> list[str]:
    """Every key and string value of a JSON document."""
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (str(k), *_json_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _json_strings(v)]
    return [value] if isinstance(value, str) else []


def person_level_findings(files: list[Path], persons: set[str], id_names: set[str]) -> list[str]:
    """What in ``files`` is person-level: an id column, an id's name in text, a person_id value."""
    words = re.compile(r"\b(" + "|".join(sorted(map(re.escape, id_names))) + r")\b")
    found = []
    for f in files:
        texts: list[str] = []
        if f.suffix == ".parquet":
            table = pq.read_table(f)
            columns = table.column_names
            texts = [str(v) for col in table.columns for v in col.to_pylist() if v is not None]
        elif f.suffix == ".csv":
            lines = f.read_text(encoding="utf-8").splitlines()
            columns = lines[0].split(";") if lines else []
            texts = lines
        elif f.suffix == ".json":
            columns, texts = [], _json_strings(json.loads(f.read_text(encoding="utf-8")))
        elif f.suffix == ".html":
            columns, texts = [], [f.read_text(encoding="utf-8")]
        else:
            found.append(f"{f}: a file type the scan does not know")
            continue
        found += [f"{f}: column {c}" for c in columns if c in id_names or c.endswith("_id")]
        for text in texts:
            if text in persons or persons & set(_HEX16.findall(text)):
                found.append(f"{f}: a person_id value")
                break
        found += sorted({f"{f}: names {m}" for text in texts for m in words.findall(text)})
    return found


def _files(*folders: Path) -> list[Path]:
    return sorted(p for folder in folders for p in folder.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def release(clean_cli_run):
    """(settings, release_id, public folder, internal folder) of the clean cycle's release."""
    s = clean_cli_run.settings
    assert clean_cli_run.report.publish and clean_cli_run.report.publish["created"], clean_cli_run.output
    release_id = clean_cli_run.report.publish["release_id"]
    return s, release_id, s.out / "releases" / release_id, s.out / "internal" / release_id


def test_no_public_file_holds_a_person_level_column_or_a_person_id(release):
    s, _, public, internal = release
    persons, id_names = _warehouse_ids(s.warehouse)
    assert len(persons) > 100 and {"person_id", "course_id"} <= id_names
    assert "set_id" in id_names, "the evaluation cohort's matched-set id is person-level too"
    files = _files(s.out / "releases", s.out / "report")
    assert {f.suffix for f in files} == {".csv", ".parquet", ".json", ".html"}, files
    # the evaluation's public table and page are among the scanned files
    assert {"effects.csv", "effects.parquet", "evaluation.html"} <= {f.name for f in files}
    assert person_level_findings(files, persons, id_names) == []
    # the scan finds what it looks for: the internal marts are person-level
    hits = person_level_findings(_files(internal / "marts"), persons, id_names)
    assert any("dim_person.parquet: column person_id" in h for h in hits)
    assert any("dim_person.parquet: a person_id value" in h for h in hits)
    assert any("fct_evaluation_cohort.parquet: column set_id" in h for h in hits)


def test_the_public_part_holds_only_the_indicator_tables_and_metadata(release):
    from workhealth.publish.indicators import TABLES
    from workhealth.publish.release import DATA_DICTIONARY, EFFECTS, EVALUATION_TABLES, INTERNAL_MARTS

    s, release_id, public, _ = release
    expected = {f"{t}.{ext}" for t in [*(t.name for t in TABLES), EFFECTS] for ext in ("csv", "parquet")}
    expected |= {"metadata.json"}
    assert {str(p.relative_to(public)) for p in public.rglob("*")} == expected
    meta = json.loads((public / "metadata.json").read_text())
    # the internal part by name and row count, relative to OUT: no path of this machine
    assert meta["internal"] == {"folder": f"internal/{release_id}", "data_dictionary": DATA_DICTIONARY,
                                "marts": {f"marts/{m}.parquet": pq.read_metadata(
                                    s.out / "internal" / release_id / "marts" / f"{m}.parquet").num_rows
                                    for m in INTERNAL_MARTS},
                                "evaluation": {f"evaluation/{t}.parquet": pq.read_metadata(
                                    s.out / "internal" / release_id / "evaluation" / f"{t}.parquet").num_rows
                                    for t in EVALUATION_TABLES}}
    assert str(s.out) not in (public / "metadata.json").read_text()


def test_the_internal_part_is_owner_and_group_only_and_outside_releases(release):
    from workhealth.publish.release import DATA_DICTIONARY, INTERNAL_MARTS

    s, _, public, internal = release
    assert internal.resolve().parent == (s.out / "internal").resolve()
    assert not internal.resolve().is_relative_to((s.out / "releases").resolve())
    assert {p.name for p in internal.iterdir()} == {"marts", "evaluation", DATA_DICTIONARY}
    assert {p.stem for p in (internal / "marts").iterdir()} == set(INTERNAL_MARTS)
    assert "fct_evaluation_cohort" in INTERNAL_MARTS
    _assert_owner_and_group_only(s.out / "internal")


def _assert_owner_and_group_only(root: Path) -> None:
    """Folders 0750 or tighter, files 0640 or tighter: no bit beyond those."""
    for p in [root, *root.rglob("*")]:
        if p.is_symlink():
            continue
        mode = p.stat().st_mode & 0o7777
        assert mode & ~(0o750 if p.is_dir() else 0o640) == 0, f"{p}: {oct(mode)}"


def _catalog(page: str) -> dict:
    """The catalog (catalog.json) that ``dbt docs generate --static`` inlines into the page."""
    decoder = json.JSONDecoder()
    for m in re.finditer(r'\{"metadata": ?\{"dbt_schema_version": ?"[^"]*catalog', page):
        return decoder.raw_decode(page, m.start())[0]
    raise AssertionError("no inlined catalog in the data dictionary")


def test_the_data_dictionary_names_every_column_of_every_mart(release):
    from workhealth.publish.release import DATA_DICTIONARY, INTERNAL_MARTS

    _, _, _, internal = release
    page = (internal / DATA_DICTIONARY).read_text(encoding="utf-8")
    assert "<html" in page.lower()
    catalog = _catalog(page)
    # the marts dbt builds are nodes; the evaluation cohort (written after the build) a source
    nodes = {n["metadata"]["name"]: n for part in ("nodes", "sources") for n in catalog[part].values()}
    for mart in INTERNAL_MARTS:
        columns = pq.read_schema(internal / "marts" / f"{mart}.parquet").names
        assert set(nodes[mart]["columns"]) == set(columns), mart
        for column in columns:
            assert f'"{column}"' in page, (mart, column)


def test_latest_exists_for_both_parts_and_names_the_same_release(release):
    s, release_id, _, _ = release
    for part in ("releases", "internal"):
        link = s.out / part / "latest"
        assert link.is_symlink() and str(link.readlink()) == release_id, part  # relative
    assert (s.out / "releases" / "latest" / "metadata.json").is_file()
    assert (s.out / "internal" / "latest" / "marts" / "dim_person.parquet").is_file()


def test_the_report_and_workhealth_sql_read_the_marts_from_the_internal_part(release, monkeypatch):
    from workhealth.cli import main

    s, release_id, public, internal = release
    # the public part has no marts, so the coding-quality chart can only come from the internal part
    assert not (public / "marts").exists()
    page = (s.out / "report" / "index.html").read_text(encoding="utf-8")
    assert "id='coding-quality'" in page and "no episodes delivered yet" not in page
    assert "internal" not in re.findall(r"href='([^']*)'", page).__str__()  # the report links public files only

    con = duckdb.connect(str(s.warehouse), read_only=True)
    persons = con.execute("SELECT count(*) FROM marts.dim_person").fetchone()[0]
    con.close()
    monkeypatch.setenv("WORKHEALTH_OUT", str(s.out))
    result = CliRunner().invoke(main, ["sql", "SELECT count(*) AS n FROM marts.dim_person", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [{"n": persons}]
    assert f"(marts: {internal.resolve() / 'marts'})" in result.stderr


def _leftovers(s) -> list[str]:
    return sorted(str(p.relative_to(s.out)) for part in ("releases", "internal") if (s.out / part).is_dir()
                  for p in (s.out / part).iterdir() if p.name.startswith((".tmp-", ".latest-")))


def test_a_publish_killed_mid_way_leaves_nothing_once_the_next_has_run(clean_cli_run, tmp_path):
    """SIGKILL to a real publish (and its dbt child) while its temporary folder exists; the next
    publish removes the leftovers and writes a complete release, owner-and-group only even under
    a umask that would let everyone read."""
    from shared_fixtures import copy_run, settings_under

    from workhealth.publish import publish
    from workhealth.publish.release import DATA_DICTIONARY, INTERNAL_MARTS
    from workhealth.transform import data_dictionary

    s = settings_under(clean_cli_run.settings, copy_run(clean_cli_run.settings.inbox.parent, tmp_path / "copy"))
    for part in ("releases", "internal", "report"):  # unpublished: the next publish makes a release
        shutil.rmtree(s.out / part)
    quality_file = s.out / "quality" / "result.json"
    quality = json.loads(quality_file.read_text())
    script = ("import json, sys\nfrom workhealth.core import settings\nfrom workhealth.publish import publish\n"
              "from workhealth.transform import data_dictionary\n"
              "publish(settings.load(), json.load(open(sys.argv[1])), dictionary=data_dictionary)\n")
    env = {**os.environ, "WORKHEALTH_WAREHOUSE": str(s.warehouse), "WORKHEALTH_OUT": str(s.out),
           "WORKHEALTH_INBOX": str(s.inbox), "WORKHEALTH_ARCHIVE": str(s.archive),
           "WORKHEALTH_REJECTED": str(s.rejected), "WORKHEALTH_RESTRICTED": str(s.restricted)}
    proc = subprocess.Popen([sys.executable, "-c", script, str(quality_file)], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 180
        while not _leftovers(s):
            assert proc.poll() is None, f"publish ended before it could be killed: {proc.stderr.read()}"
            assert time.monotonic() < deadline, "no temporary folder appeared"
            time.sleep(0.01)
    finally:
        with contextlib.suppress(ProcessLookupError):  # its own session: the publish and its dbt child
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
    assert _leftovers(s), "killed mid-way"
    assert not (s.out / "releases" / "latest").exists()
    # what a kill in the other windows leaves: a public part being written, a latest link being
    # swapped, and an internal part renamed into place whose public part never appeared
    (s.out / "releases" / ".tmp-20000101T000000Z-deadbeef").mkdir(parents=True)
    (s.out / "internal" / f".latest-{proc.pid}").symlink_to("20000101T000000Z-deadbeef")
    orphan = s.out / "internal" / "20000101T000000Z-deadbeef"
    (orphan / "marts").mkdir(parents=True)

    umask = os.umask(0)
    try:
        result = publish(s, quality, dictionary=data_dictionary)
    finally:
        os.umask(umask)
    assert result.created
    assert _leftovers(s) == [] and not orphan.exists()
    assert {p.name for p in (s.out / "internal").iterdir()} == {result.release_id, "latest"}
    assert {p.name for p in (s.out / "releases").iterdir()} == {result.release_id, "latest"}
    assert (s.out / "releases" / "latest").resolve() == result.path
    assert (s.out / "internal" / "latest").resolve() == result.internal_path
    assert (result.path / "metadata.json").is_file() and (result.internal_path / DATA_DICTIONARY).is_file()
    assert {p.stem for p in (result.internal_path / "marts").iterdir()} == set(INTERNAL_MARTS)
    _assert_owner_and_group_only(s.out / "internal")


def test_a_release_of_the_old_layout_has_its_marts_moved_to_the_internal_part(clean_cli_run, tmp_path):
    """A release written before the split (marts in its public folder, another fingerprint): the
    next publish moves the marts into the internal part and writes a release in the new layout."""
    from shared_fixtures import copy_run, settings_under

    from workhealth.publish import publish
    from workhealth.publish.release import INTERNAL_MARTS
    from workhealth.transform import data_dictionary

    s = settings_under(clean_cli_run.settings, copy_run(clean_cli_run.settings.inbox.parent, tmp_path / "copy"))
    old_id = clean_cli_run.report.publish["release_id"]
    old = s.out / "releases" / old_id
    shutil.move(s.out / "internal" / old_id / "marts", old / "marts")  # the layout-1 release folder
    shutil.rmtree(s.out / "internal")
    meta_file = old / "metadata.json"
    meta = json.loads(meta_file.read_text())
    meta["fingerprint"] = "layout-1"  # the fingerprint had no layout then
    meta_file.chmod(0o644)
    meta_file.write_text(json.dumps(meta))

    result = publish(s, json.loads((s.out / "quality" / "result.json").read_text()), dictionary=data_dictionary)
    assert result.created and result.release_id != old_id
    assert not (old / "marts").exists()
    assert {p.stem for p in (s.out / "internal" / old_id / "marts").iterdir()} == set(INTERNAL_MARTS)
    _assert_owner_and_group_only(s.out / "internal")
    persons, id_names = _warehouse_ids(s.warehouse)
    assert person_level_findings(_files(s.out / "releases", s.out / "report"), persons, id_names) == []
