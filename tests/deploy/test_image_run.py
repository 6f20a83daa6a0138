"""The image run by podman, where podman can run containers here: the ingest edge inside it,
on a read-only root with only its data volume writable, answers /livez and /readyz against a
real NATS on the host and drains on SIGTERM."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid

import pytest

from pipeline.natsd import NatsServer
from tests.deploy.oci import OciImage, load
from tests.fixtures.ports import free_port

pytestmark = pytest.mark.image  # `make test` builds the image first

START_TIMEOUT_S = 120.0  # with STORAGE_DRIVER=vfs each new container is a copy of the image
# deploy/image/build stores with overlay unless STORAGE_DRIVER says otherwise. podman keeps the
# driver it first ran with and refuses a --storage-driver that differs, so pass it only when set.
PODMAN = ["podman", *(["--storage-driver", os.environ["STORAGE_DRIVER"]]
                      if os.environ.get("STORAGE_DRIVER") else [])]
STOP_TIMEOUT_S = 30


def _podman() -> list[str]:
    # runc: crun refuses this machine's hybrid cgroups. Explicit ulimits: podman's defaults
    # exceed the hard limits a sandbox may set.
    nofile = min(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 65536)
    return [*PODMAN, "run",
            "--rm", "--runtime", "runc", "--network", "host",
            "--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", "nproc=4096:4096",
            "--read-only", "--read-only-tmpfs=false"]


@pytest.fixture(scope="module")
def runnable() -> str:
    """The image's name in containers-storage, once podman has run a container of it."""
    image: OciImage = load()
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed: `make image` installs it when run as root")
    name = f"localhost/causality:{image.tag}"
    probe = subprocess.run([*_podman(), "--entrypoint", "/opt/causality/bin/python", name, "-c",
                            "import os; print(os.getuid())"],
                           capture_output=True, text=True, timeout=START_TIMEOUT_S)
    if probe.returncode != 0:
        pytest.fail(f"podman cannot run a container here: {probe.stderr.strip()[-300:]}")
    assert probe.stdout.strip() == "10001"
    return name


def test_every_process_module_imports_on_a_read_only_root(runnable: str) -> None:
    code = ("import causality.cli, pipeline.ingest, pipeline.sink, pipeline.reactor, "
            "pipeline.natsd, workspace, streamlit; print(pipeline.natsd.binary())")
    done = subprocess.run([*_podman(), "--entrypoint", "/opt/causality/bin/python", runnable,
                           "-c", code], capture_output=True, text=True, timeout=START_TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("nats-server")


def _await_ok(url: str, proc: subprocess.Popen[str], deadline: float) -> dict[str, object]:
    """The body of the first 200 from url: liveness, then readiness once NATS is connected."""
    while True:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        assert time.monotonic() < deadline, f"the process in the image never answered {url}"
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                body: dict[str, object] = json.load(resp)
                return body
        except urllib.error.HTTPError as err:
            status, body = err.code, json.load(err)
        except OSError:
            status, body = 0, {"status": "unavailable"}  # not listening yet
        # Not ready yet (503, the probe shape's one other answer), or not listening yet.
        assert status in (0, 503) and body["status"] == "unavailable", (status, body)
        time.sleep(0.2)


def test_ingest_in_the_image_answers_livez_and_drains(runnable: str,
                                                     nats_server: NatsServer) -> None:
    port, name = free_port(), f"causality-test-{uuid.uuid4().hex[:8]}"
    proc = subprocess.Popen(
        [*_podman(), "--name", name, "-e", f"CAUSALITY_NATS_URL={nats_server.url}",
         "-e", "CAUSALITY_INGEST_HOST=127.0.0.1", "-e", f"CAUSALITY_INGEST_PORT={port}",
         runnable, "ingest"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        assert _await_ok(f"http://127.0.0.1:{port}/livez", proc, deadline) == {"status": "ok"}
        assert _await_ok(f"http://127.0.0.1:{port}/readyz", proc, deadline) == {"status": "ok"}
        subprocess.run([*PODMAN, "stop", "-t", str(STOP_TIMEOUT_S), name], check=True,
                       capture_output=True, timeout=STOP_TIMEOUT_S + 10)
        assert proc.wait(timeout=STOP_TIMEOUT_S) == 0  # SIGTERM: drained, exited cleanly
    finally:
        if proc.poll() is None:
            subprocess.run([*PODMAN, "rm", "-f", name],
                           capture_output=True, timeout=STOP_TIMEOUT_S + 10)
            proc.kill()
            proc.wait()
