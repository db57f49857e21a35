"""Write ``.env`` for docker-compose.yaml from ``.env.example`` with freshly generated secrets.

Usage: ``python3 scripts/compose_env.py [--output .env] [--shared-dir DIR] [--force]``
(``make compose-env``). Standard library only, so it runs before ``make setup``. Refuses to
overwrite an existing file without ``--force``: new secrets would lock you out of the
existing metadata database (Fernet) and break running components (JWT).
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def generated() -> dict[str, str]:
    return {
        "POSTGRES_PASSWORD": secrets.token_urlsafe(24),
        # A Fernet key is 32 random bytes, url-safe base64 (what cryptography's Fernet.generate_key gives).
        "AIRFLOW_FERNET_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "AIRFLOW_JWT_SECRET": secrets.token_urlsafe(48),
        "AIRFLOW_API_SECRET_KEY": secrets.token_urlsafe(32),
    }


def render(template: str, values: dict[str, str]) -> str:
    lines = []
    for line in template.splitlines():
        key = line.split("=", 1)[0].strip()
        if not line.lstrip().startswith("#") and "=" in line and key in values:
            line = f"{key}={values[key]}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=REPO / ".env")
    parser.add_argument("--shared-dir", type=Path, default=REPO / "data" / "compose",
                        help="folder for the shared volumes on this machine (default: data/compose)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")
    args = parser.parse_args(argv)
    if args.output.exists() and not args.force:
        print(f"{args.output} exists; keeping its secrets (use --force to replace them)", file=sys.stderr)
        return 1
    shared = args.shared_dir.resolve()
    for sub in ("inbox", "warehouse", "out", "archive", "rejected", "restricted"):
        (shared / sub).mkdir(parents=True, exist_ok=True)
    values = {**generated(), "WORKHEALTH_SHARED_DIR": str(shared), "AIRFLOW_UID": str(os.getuid() or 50000)}
    template = (REPO / ".env.example").read_text()
    args.output.write_text(render(template, values))
    args.output.chmod(0o600)
    print(f"wrote {args.output} (secrets generated; shared folders under {shared})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
