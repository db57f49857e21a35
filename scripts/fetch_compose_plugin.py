"""Fetch the Docker Compose v2 CLI plugin for the `docker compose config` test.

Debian bookworm (this project's base) only packages Compose v1. Debian trixie packages Compose
v2 as a static Go binary needing only libc; it is taken from Debian's archive, pinned by version
and SHA-256, and unpacked into the project's virtualenv (never onto the system). Nothing here
needs a Docker engine: `docker compose config` only parses, interpolates and validates.

    python scripts/fetch_compose_plugin.py --dest .venv/libexec/docker/cli-plugins/docker-compose
"""
from __future__ import annotations

import argparse
import hashlib
import io
import platform
import sys
import tarfile
import urllib.request
from pathlib import Path

VERSION = "2.26.1-4"
MIRROR = "http://deb.debian.org/debian"  # the package's integrity comes from the pinned hash
SHA256 = {
    "amd64": "47681197cb2b1ab88206b42a1a92fc75f50d9530a6322d03494a473eed0408ea",
    "arm64": "bbafaa666f3e7fa00ad36f2a8bab889f1c791ca8743d674e7267a3d07203869c",
}
MACHINE_TO_DEBIAN = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
MEMBER = "./usr/libexec/docker/cli-plugins/docker-compose"


def ar_members(blob: bytes) -> dict[str, bytes]:
    """The members of a .deb (a Unix ar archive): debian-binary, control.tar.*, data.tar.*."""
    if not blob.startswith(b"!<arch>\n"):
        raise ValueError("not a Debian package (ar archive)")
    members, pos = {}, 8
    while pos + 60 <= len(blob):
        header = blob[pos:pos + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        members[name] = blob[pos + 60:pos + 60 + size]
        pos += 60 + size + (size % 2)  # members are 2-byte aligned
    return members


def fetch(dest: Path) -> None:
    arch = MACHINE_TO_DEBIAN.get(platform.machine())
    if arch is None:
        sys.exit(f"no pinned Compose plugin for machine {platform.machine()!r}; install docker compose v2")
    url = f"{MIRROR}/pool/main/d/docker-compose/docker-compose_{VERSION}_{arch}.deb"
    with urllib.request.urlopen(url, timeout=300) as response:
        blob = response.read()
    digest = hashlib.sha256(blob).hexdigest()
    if digest != SHA256[arch]:
        sys.exit(f"{url}: SHA-256 {digest} is not the pinned {SHA256[arch]}")
    data = next(body for name, body in ar_members(blob).items() if name.startswith("data.tar"))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        binary = tar.extractfile(MEMBER)
        if binary is None:
            sys.exit(f"{url}: no {MEMBER} in the package")
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_suffix(".partial")
        partial.write_bytes(binary.read())
    partial.chmod(0o755)
    partial.replace(dest)
    print(f"docker compose {VERSION} ({arch}) from {url} -> {dest}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, required=True)
    fetch(parser.parse_args().dest)


if __name__ == "__main__":
    main()
