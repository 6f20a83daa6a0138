"""The image `make image` built, read from its OCI archive with tarfile: no engine needed."""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
REF_FILE = ROOT / "dist" / "image.ref"  # written by deploy/image/build: causality:<tag>
LOCK = ROOT / "deploy" / "image" / "requirements.lock"
# Names that are secrets wherever they appear; CA bundles are public certificates.
SECRET_NAMES = ("*.key", "*.pem", "*.p12", "*.pfx", "id_rsa*", "id_ecdsa*", "id_ed25519*",
                ".env", ".netrc", ".pypirc", ".git-credentials", "meta.db")
PUBLIC_CERTS = ("/etc/ssl/certs/*", "/usr/share/ca-certificates/*", "*/certifi/*")
CACHES = ("/root/.cache/*", "*/.cache/pip/*", "/tmp/wheels/*", "/var/cache/apt/archives/*.deb",
          "/var/lib/apt/lists/*_Packages*")
PRIVATE_KEY = re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----\s*\n[A-Za-z0-9+/=\n]{64,}")
MAX_SCANNED_BYTES = 1 << 20  # private keys are small; larger files are binaries and data
KEPT = ("/usr/share/causality/debian-packages.txt", "/usr/share/causality/requirements.lock")


@dataclass
class Scan:
    """What every layer holds, a file deleted by a later layer included."""

    secrets: list[str] = field(default_factory=list)  # by name
    caches: list[str] = field(default_factory=list)
    private_keys: list[str] = field(default_factory=list)  # by content
    entries: dict[str, tarfile.TarInfo] = field(default_factory=dict)  # "/path" → last seen
    kept: dict[str, bytes] = field(default_factory=dict)  # the KEPT files' content


def scan(layers: Iterable[tarfile.TarFile]) -> Scan:
    found = Scan()
    for layer in layers:
        for member in layer:
            path = "/" + member.name.removeprefix("./").rstrip("/")
            found.entries[path] = member
            if not member.isfile() or any(fnmatch.fnmatch(path, p) for p in PUBLIC_CERTS):
                continue
            if any(fnmatch.fnmatch(path.rsplit("/", 1)[-1], p) for p in SECRET_NAMES):
                found.secrets.append(path)
            if any(fnmatch.fnmatch(path, p) for p in CACHES):
                found.caches.append(path)
            if 0 < member.size <= MAX_SCANNED_BYTES:
                data = layer.extractfile(member).read()  # type: ignore[union-attr]
                if PRIVATE_KEY.search(data):
                    found.private_keys.append(path)
                if path in KEPT:
                    found.kept[path] = data
    return found


@dataclass(frozen=True)
class OciImage:
    archive: Path
    tag: str
    ref_name: str  # the tag recorded in the archive's index
    manifest: dict[str, Any]
    config: dict[str, Any]

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.config["config"].get("Labels") or {})

    def layers(self) -> Iterator[tarfile.TarFile]:
        with tarfile.open(self.archive) as outer:
            for layer in self.manifest["layers"]:
                blob = outer.extractfile(_blob_path(layer["digest"]))
                assert blob is not None
                with tarfile.open(fileobj=blob, mode="r|*") as inner:
                    yield inner


def _blob_path(digest: str) -> str:
    algo, value = digest.split(":", 1)
    return f"blobs/{algo}/{value}"


def _json(archive: tarfile.TarFile, name: str) -> dict[str, Any]:
    member = archive.extractfile(name)
    assert member is not None, name
    data: dict[str, Any] = json.load(member)
    return data


def load() -> OciImage:
    """The built image, or a failure saying how to build it: `make test` runs `make image`
    first, so a missing or stale image is a broken build (`make test-fast` leaves these tests
    out by their `image` marker)."""
    def missing(why: str) -> None:
        pytest.fail(f"{why}: run `make image` (`make test` does)")

    if not REF_FILE.exists():
        missing("no image built")
    tag = REF_FILE.read_text().strip().split(":", 1)[1]
    archive = ROOT / "dist" / f"causality-{tag}.oci.tar"
    if not archive.exists():
        missing(f"{archive.name} is missing")
    with tarfile.open(archive) as outer:
        index = _json(outer, "index.json")
        (entry,) = index["manifests"]
        manifest = _json(outer, _blob_path(entry["digest"]))
        config = _json(outer, _blob_path(manifest["config"]["digest"]))
    image = OciImage(archive, tag, entry.get("annotations", {}).get(
        "org.opencontainers.image.ref.name", ""), manifest, config)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout.strip()
    if not image.labels.get("org.opencontainers.image.revision", "").startswith(head):
        missing(f"the image is of {image.labels.get('org.opencontainers.image.revision')}, "
                f"not of HEAD {head}")
    return image
