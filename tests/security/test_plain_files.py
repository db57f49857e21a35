"""Adversarial: a delivery is a plain folder of plain files. A symbolic link anywhere (a data file,
the manifest, a subfolder, the delivery folder itself) refuses it without following the link (kept
as the link, nothing outside the inbox read or quoted); a plain file named like a delivery is
refused and moved out, not ignored; a 16 MB field parses."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from ingest_helpers import deliver, query, raw_delivery, rows  # noqa: E402

from workhealth.cli import main  # noqa: E402

PASSWD = Path("/etc/passwd")


@pytest.fixture
def s(workhealth_env):
    return workhealth_env


def _ingest(s, code=3) -> str:
    result = CliRunner().invoke(main, ["ingest"])
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result.output + (result.stderr or "")


def _everything_said(s, out: str) -> str:
    notes = "".join(p.read_text() for p in s.rejected.rglob("*REJECTED*") if p.is_file() and not p.is_symlink())
    audit = "".join(repr(query(s, f"SELECT * FROM audit.{t}")) for t in ("deliveries", "delivery_events"))
    return out + notes + audit


def _assert_refused_as_link(s, folder_name: str, link_rel: str, target: str) -> str:
    out = _ingest(s)
    (status, reason, privacy, stored), = query(s, "SELECT status, reason, privacy_breach, stored_at FROM audit.deliveries")
    assert (status, privacy) == ("rejected", False)
    assert reason.startswith(f"symlink: delivery {folder_name}")
    kept = Path(stored)
    assert kept.parent == s.rejected and not (s.inbox / folder_name).exists()
    link = kept / link_rel if link_rel else kept
    assert link.is_symlink() and os.readlink(link) == target  # moved as the link, never followed
    return out


def test_a_data_file_linked_to_etc_passwd_is_refused_and_nothing_of_it_quoted(s):
    folder = deliver(s.inbox, "nav_aap", n=3)
    (folder / "nav_aap.csv").unlink()
    (folder / "nav_aap.csv").symlink_to(PASSWD)
    out = _assert_refused_as_link(s, folder.name, "nav_aap.csv", str(PASSWD))
    said = _everything_said(s, out)
    for line in PASSWD.read_text().splitlines()[:5]:
        assert ":".join(line.split(":")[:3]) not in said, line  # "root:x:0" and the like


def test_a_symlinked_manifest_is_refused(s, tmp_path):
    folder = deliver(s.inbox, "nav_aap", n=3)
    outside = tmp_path / "elsewhere.json"
    (folder / "manifest.json").rename(outside)
    (folder / "manifest.json").symlink_to(outside)
    _assert_refused_as_link(s, folder.name, "manifest.json", str(outside))


def test_a_symlinked_subfolder_is_refused(s):
    folder = deliver(s.inbox, "nav_aap", n=3)
    (folder / "extra").symlink_to("/etc")
    _assert_refused_as_link(s, folder.name, "extra", "/etc")


def test_a_delivery_folder_that_is_a_symlink_is_refused_and_kept_as_the_link(s, tmp_path):
    real = deliver(tmp_path / "outside", "nav_aap", n=3)
    s.inbox.mkdir(parents=True, exist_ok=True)
    (s.inbox / real.name).symlink_to(real)
    _assert_refused_as_link(s, real.name, "", str(real))
    assert (s.rejected / f"{real.name}.REJECTED.txt").is_file()
    assert sorted(p.name for p in real.iterdir()) == ["manifest.json", "nav_aap.csv"]  # untouched
    assert query(s, "SELECT count(*) FROM raw.nav_aap")[0][0] == 0


def test_a_plain_file_named_like_a_delivery_is_refused_and_moved_out(s):
    s.inbox.mkdir(parents=True)
    (s.inbox / "npr_episodes_2019-01_v1").write_text("episode_id;person_id\n")
    (s.inbox / "nav_aap_2019-01_v2.zip").write_bytes(b"PK\x03\x04 not really")
    (s.inbox / "README.txt").write_text("not a delivery name: left alone\n")
    out = _ingest(s)
    got = query(s, "SELECT delivery, status, reason, stored_at FROM audit.deliveries ORDER BY 1")
    assert [(d, st) for d, st, *_ in got] == [("nav_aap_2019-01_v2.zip", "rejected"),
                                               ("npr_episodes_2019-01_v1", "rejected")]
    for d, _, reason, stored in got:
        assert reason.startswith(f"not_a_folder: delivery {d}") and d in out
        assert Path(stored) == s.rejected / d and Path(stored).is_file()
        assert (s.rejected / f"{d}.REJECTED.txt").is_file()
    assert sorted(p.name for p in s.inbox.iterdir() if not p.name.startswith(".")) == ["README.txt"]


def test_a_16_mb_field_parses(s):
    rs = rows("npr_episodes", 2)
    header = list(rs[0])
    big = "A" * (16 * 1024 * 1024)
    lines = [";".join(r.values()) for r in rs]
    idx = header.index("procedure_codes")
    fields = lines[1].split(";")
    fields[idx] = big
    lines[1] = ";".join(fields)
    folder = raw_delivery(s.inbox, "npr_episodes", "2024-03", 1, ";".join(header) + "\n" + "\n".join(lines) + "\n", 2)
    del big, lines, fields
    _ingest(s, code=0)
    assert query(s, "SELECT max(length(procedure_codes)), count(*) FROM raw.npr_episodes") == [(16 * 1024 * 1024, 2)]
    assert not folder.exists()
