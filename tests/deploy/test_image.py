"""The image's config and layers (deploy/image/build), read from the OCI archive."""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import tomllib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.deploy.oci import LOCK, ROOT, OciImage, Scan, load, scan

pytestmark = pytest.mark.image  # `make test` builds the image first

APP = "/opt/causality/bin/causality"
DATA_DIR = "/var/lib/causality"


@pytest.fixture(scope="module")
def image() -> OciImage:
    return load()


def version() -> str:
    return str(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"])


def test_tag_is_version_and_commit_never_latest(image: OciImage) -> None:
    assert re.fullmatch(rf"{re.escape(version())}-[0-9a-f]{{7,40}}(-dirty)?", image.tag)
    assert image.ref_name == f"causality:{image.tag}"  # what `podman load` names it
    assert "latest" not in image.tag
    sha = image.tag.split("-")[1]
    assert image.labels["org.opencontainers.image.revision"].startswith(sha)


def test_runs_as_a_numeric_non_root_user(image: OciImage) -> None:
    # Numeric, so that Kubernetes' runAsNonRoot can check it without reading /etc/passwd.
    user, _, group = image.config["config"]["User"].partition(":")
    assert user.isdigit() and int(user) != 0
    assert group.isdigit() and int(group) != 0


def test_one_entrypoint_for_every_process(image: OciImage) -> None:
    cfg = image.config["config"]
    assert cfg["Entrypoint"] == [APP]
    assert cfg["Cmd"] == ["--help"]
    assert cfg["WorkingDir"] == DATA_DIR
    assert DATA_DIR in cfg["Volumes"]
    env = dict(item.split("=", 1) for item in cfg["Env"])
    assert env["CAUSALITY_DATA_DIR"] == DATA_DIR
    ports = {port.split("/")[0] for port in cfg["ExposedPorts"]}
    assert {"8088", "8089", "8090", "8091", "8501"} <= ports


def test_labels_name_version_revision_and_inputs(image: OciImage) -> None:
    labels = image.labels
    assert labels["org.opencontainers.image.title"] == "causality"
    assert labels["org.opencontainers.image.version"] == version()
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", labels["org.opencontainers.image.revision"])
    created = labels["org.opencontainers.image.created"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", created)
    assert labels["org.opencontainers.image.source"]
    assert labels["io.causality.requirements-lock.sha256"] == hashlib.sha256(
        LOCK.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def layers(image: OciImage) -> Scan:
    return scan(image.layers())


def test_layers_hold_no_secrets_and_no_caches(layers: Scan) -> None:
    assert layers.secrets == []
    assert layers.private_keys == []
    assert layers.caches == []


def test_layers_record_their_pinned_inputs(image: OciImage, layers: Scan) -> None:
    debs = layers.kept["/usr/share/causality/debian-packages.txt"]
    assert hashlib.sha256(debs).hexdigest() == image.labels["io.causality.debian-packages.sha256"]
    assert re.search(rb"^python3\.11=3\.11\.", debs, re.MULTILINE)
    assert layers.kept["/usr/share/causality/requirements.lock"] == LOCK.read_bytes()


def test_the_venv_has_the_app_and_no_installer_and_the_data_dir_is_the_users(
        image: OciImage, layers: Scan) -> None:
    assert APP in layers.entries
    assert "/opt/causality/bin/pip" not in layers.entries
    uid = int(image.config["config"]["User"].split(":")[0])
    assert layers.entries[DATA_DIR].isdir()
    assert layers.entries[DATA_DIR].uid == uid


def _layer(files: dict[str, bytes]) -> tarfile.TarFile:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return tarfile.open(fileobj=buf)


def test_the_scan_finds_what_it_looks_for() -> None:
    key = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    found = scan([_layer({
        "etc/ssl/certs/ca-certificates.pem": b"-----BEGIN CERTIFICATE-----\n",
        "opt/causality/lib/python3.11/site-packages/certifi/cacert.pem": b"public",
        "var/lib/causality/reactor.key": b"secret",
        "app/.env": b"CAUSALITY_STORAGE_S3_SECRET_KEY=x",
        "opt/causality/settings.toml": b"# a key pasted into a file\n" + key,
        "root/.cache/pip/http/x": b"cached",
        "usr/share/doc/readme": b"-----BEGIN PRIVATE KEY----- is how a key starts",
    })])
    assert found.secrets == ["/var/lib/causality/reactor.key", "/app/.env"]
    assert found.private_keys == ["/opt/causality/settings.toml"]
    assert found.caches == ["/root/.cache/pip/http/x"]
