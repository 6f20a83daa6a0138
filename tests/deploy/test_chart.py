"""The Helm chart (deploy/helm/causality): lint, render, validate against Kubernetes' schemas,
enforce the deploy policies (tests/deploy/policies.py), and stay consistent with the Trino
config Causality writes itself."""

from __future__ import annotations

import copy
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.deploy import policies as p
from warehouse.trino.config import _jvm_config, _resource_groups, _rules
from warehouse.trino.register import events_table_ddl

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "causality"
VALUES = Path(__file__).with_name("values-test.yaml")
HELM_VERSION = "v4.3.2"  # the Makefile's `helm` target builds this one
HELM = Path(os.environ.get(
    "CAUSALITY_HELM",
    Path.home() / ".cache" / "causality" / "tools" / f"helm-{HELM_VERSION}" / "helm"))
K8S_VERSIONS = ("1.31.0", "1.37.0")  # the chart's kubeVersion floor, and the newest schemas
WAREHOUSE = "s3://events-lake/causality"

VARIANTS: dict[str, list[str]] = {
    "default": [],
    "trino-off": ["--set", "trino.enabled=false"],
    # the metadata URL and S3 keys given as values: the chart keeps them in its own Secret
    "values-secrets": ["--set", "metadata.existingSecret=",
                       "--set", "metadata.url=postgresql+psycopg://u:pw@db.example.test/causality",
                       "--set", "storage.existingSecret=", "--set", "storage.accessKey=AKIA1",
                       "--set", "storage.secretKey=s3cr3t", "--set", "llm.provider=anthropic",
                       "--set", "llm.apiKey=sk-test"],
    "digest-preferred": ["--set", "image.tag=", "--set", "image.digest=sha256:" + "a" * 64,
                         "--set", "nats.antiAffinity=preferred",
                         "--set", "nats.allowSharedHosts=true",
                         "--set", "ingest.autoscaling.enabled=false"],
    "exporter-oidc": ["--set", "nats.exporter.enabled=true",
                      "--set", "nats.exporter.image.tag=0.17.3",
                      "--set", "nats.storage.size=512Mi",
                      "--set", "workspace.oidc.existingSecret=causality-oidc",
                      "--set", "workspace.trustedProxyHops=1"],
}
# What a variant renders knowingly against a policy: shared hosts break NATS's anti-affinity.
ACCEPTED: dict[str, set[str]] = {"digest-preferred": {"nats_anti_affinity"}}


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    if not HELM.is_file():
        pytest.fail(f"helm {HELM_VERSION} is not built at {HELM}: run `make helm`")
    return subprocess.run([str(HELM), *args], capture_output=True, text=True, timeout=120,
                          check=False)


def render(*extra: str) -> list[p.Doc]:
    out = helm("template", "causality", str(CHART), "--namespace", "analytics",
               "-f", str(VALUES), *extra)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def render_error(*extra: str) -> str:
    out = helm("template", "causality", str(CHART), "-f", str(VALUES), *extra)
    assert out.returncode != 0, "the template should have failed"
    return out.stderr


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[p.Doc]]:
    return {name: render(*args) for name, args in VARIANTS.items()}


def by_kind(docs: list[p.Doc], kind: str) -> dict[str, p.Doc]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def container(docs: list[p.Doc], kind: str, name: str) -> p.Doc:
    return p.pod_spec(by_kind(docs, kind)[name])["containers"][0]  # type: ignore[index]


# --- lint, render, schemas --------------------------------------------------------------------


def test_lint_strict() -> None:
    out = helm("lint", "--strict", str(CHART), "-f", str(VALUES))
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("variant", VARIANTS)
def test_policies_hold(rendered: dict[str, list[p.Doc]], variant: str) -> None:
    failed = {line.split(":", 1)[0] for line in p.violations(rendered[variant])}
    assert failed == ACCEPTED.get(variant, set()), p.violations(rendered[variant])


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_manifests_valid(rendered: dict[str, list[p.Doc]], variant: str, version: str) -> None:
    for doc in rendered[variant]:
        kubernetes_validate.validate(doc, version, strict=True)


def test_what_renders(rendered: dict[str, list[p.Doc]]) -> None:
    docs = rendered["default"]
    assert set(by_kind(docs, "Deployment")) == {
        f"causality-{c}" for c in ("ingest", "sink", "compactor", "reactor", "workspace",
                                   "trino-coordinator", "trino-worker")}
    assert set(by_kind(docs, "StatefulSet")) == {"causality-nats"}
    assert "causality-trino-sync" in by_kind(docs, "CronJob")
    assert not [d for d in rendered["trino-off"] if "trino" in d["metadata"]["name"]]
    assert "CAUSALITY_QUERY_ENGINE" not in p.env_literals(
        container(rendered["trino-off"], "Deployment", "causality-workspace"))
    hpa = by_kind(docs, "HorizontalPodAutoscaler")["causality-ingest"]
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    compactor = by_kind(docs, "Deployment")["causality-compactor"]["spec"]
    assert (compactor["replicas"], compactor["strategy"]["type"]) == (1, "Recreate")


def test_nats_cluster(rendered: dict[str, list[p.Doc]]) -> None:
    docs = rendered["default"]
    sts = by_kind(docs, "StatefulSet")["causality-nats"]
    assert sts["spec"]["replicas"] == 3
    assert sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "store"
    command = sts["spec"]["template"]["spec"]["containers"][0]["command"]
    nodes = [f"causality-nats-{i}.causality-nats-headless.analytics.svc" for i in range(3)]
    assert command[:6] == ["causality", "nats", "--cluster", "events", "--server-name",
                           "$(POD_NAME)"]
    assert [command[i + 1] for i, a in enumerate(command) if a == "--routes"] == [
        f"nats-route://{n}:6222" for n in nodes]
    url = ",".join(f"nats://{n}:4222" for n in nodes)
    clients = [c for _, _, c in p.containers(docs) if p.causality_command(c)
               not in (None, "nats")]
    assert len(clients) == 5
    for c in clients:
        env = p.env_literals(c)
        assert (env["CAUSALITY_NATS_URL"], env["CAUSALITY_NATS_REPLICAS"]) == (url, "3")
    headless = by_kind(docs, "Service")["causality-nats-headless"]["spec"]
    assert headless["clusterIP"] == "None" and headless["publishNotReadyAddresses"]


def test_secrets_come_from_secrets(rendered: dict[str, list[p.Doc]]) -> None:
    made = by_kind(rendered["values-secrets"], "Secret")["causality"]["stringData"]
    assert set(made) == {"s3-access-key", "s3-secret-key", "metadata-url", "llm-api-key"}
    assert "causality" not in by_kind(rendered["default"], "Secret")  # all from existing ones
    ingest = container(rendered["default"], "Deployment", "causality-ingest")
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"]["name"] for e in ingest["env"]
            if "valueFrom" in e}
    assert refs == {"CAUSALITY_STORAGE_S3_ACCESS_KEY": "causality-s3",
                    "CAUSALITY_STORAGE_S3_SECRET_KEY": "causality-s3",
                    "CAUSALITY_METADATA_URL": "causality-metadata"}


def test_nats_store_under_its_volume(rendered: dict[str, list[p.Doc]]) -> None:
    for variant, expected in (("default", "17408M"), ("exporter-oidc", "435M")):
        env = p.env_literals(container(rendered[variant], "StatefulSet", "causality-nats"))
        assert env["CAUSALITY_NATS_MAX_FILE_STORE"] == expected  # 85 % of 20Gi, of 512Mi


def test_metrics_reach_only_their_ports(rendered: dict[str, list[p.Doc]]) -> None:
    ports = {name: [port["port"] for rule in pol["spec"]["ingress"] for port in rule["ports"]]
             for name, pol in by_kind(rendered["exporter-oidc"], "NetworkPolicy").items()
             if name.endswith("-metrics")}
    assert ports == {"causality-sink-metrics": [8089], "causality-compactor-metrics": [8090],
                     "causality-reactor-metrics": [8091], "causality-nats-metrics": [7777]}
    assert "causality-nats-metrics" not in by_kind(rendered["default"], "NetworkPolicy")
    nats = p.pod_spec(by_kind(rendered["exporter-oidc"], "StatefulSet")["causality-nats"])
    exporter = nats["containers"][1]  # type: ignore[index]
    assert exporter["args"] == ["-jsz=all", "-varz", "http://localhost:8222"]
    assert p.causality_command(exporter) is None
    off = render("--set", "metrics.enabled=false")
    assert not [n for n in by_kind(off, "NetworkPolicy") if n.endswith("-metrics")]


def test_workspace_oidc_and_proxies(rendered: dict[str, list[p.Doc]]) -> None:
    ws = container(rendered["exporter-oidc"], "Deployment", "causality-workspace")
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in ws["env"] if "valueFrom" in e}
    for setting in ("SERVER_METADATA_URL", "CLIENT_ID", "CLIENT_SECRET", "COOKIE_SECRET"):
        ref = refs[f"CAUSALITY_WORKSPACE_OIDC_{setting}"]
        assert (ref["name"], ref["key"]) == ("causality-oidc", f"oidc-{setting.lower()}"
                                             .replace("_", "-"))
    assert p.env_literals(ws)["CAUSALITY_WORKSPACE_TRUSTED_PROXY_HOPS"] == "1"
    default = container(rendered["default"], "Deployment", "causality-workspace")
    assert not [e for e in default["env"] if "OIDC" in e["name"]]


def test_trino_workers_have_a_pdb(rendered: dict[str, list[p.Doc]]) -> None:
    pdb = by_kind(rendered["default"], "PodDisruptionBudget")["causality-trino-worker"]
    assert pdb["spec"]["maxUnavailable"] == 1


def test_args_style_containers_are_recognised() -> None:
    image = "registry.example.test/causality:0.1.0"
    assert p.causality_command({"image": image, "args": ["sink"]}) == "sink"
    assert p.causality_command({"command": ["/opt/venv/bin/causality"], "args": ["sink"]}) == \
        "sink"
    assert p.causality_command({"image": "natsio/prometheus-nats-exporter:0.17.3",
                                "args": ["-varz"]}) is None


# --- template failures ------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "message"), [
    (["--set", "image.tag=latest"], "image.tag must be an exact version"),
    (["--set", "image.tag="], "image.tag must be an exact version"),
    (["--set", "storage.warehouse=/data/warehouse"], "storage.warehouse must be s3://"),
    (["--set", "metadata.existingSecret="], "the metadata store is required"),
    (["--set", "storage.existingSecret="], "S3 keys are required"),
    (["--set", "sink.terminationGracePeriodSeconds=50"], "at least 2 × sink.shutdown"),
    (["--set", "trino.image.tag=latest"], "trino.image.tag must be an exact version"),
    (["--set", "reactorKey.generate=false"], "set reactorKey.existingSecret"),
    (["--set", "reactor.terminationGracePeriodSeconds=25"], "reactor.shutdownTimeoutSeconds + 10"),
    (["--set", "nats.antiAffinity=preferred"], "nats.allowSharedHosts=true"),
    (["--set", "nats.storage.size=20G"], "nats.storage.size must be a whole number"),
    (["--set", "nats.exporter.enabled=true"], "nats.exporter.image.tag must be an exact"),
])
def test_template_refuses(args: list[str], message: str) -> None:
    assert message in render_error(*args)


# --- every policy can fail --------------------------------------------------------------------


def _edit(kind: str, name: str, change: Callable[[p.Doc], None]) -> Callable[[list[p.Doc]], None]:
    def apply(docs: list[p.Doc]) -> None:
        change(by_kind(docs, kind)[name])
    return apply


def _first(doc: p.Doc) -> p.Doc:
    return p.pod_spec(doc)["containers"][0]  # type: ignore[index]


def _set_env(name: str, value: str) -> Callable[[p.Doc], None]:
    def change(doc: p.Doc) -> None:
        env = _first(doc)["env"]
        env[:] = [e for e in env if e["name"] != name] + [{"name": name, "value": value}]
    return change


def _remove_pdb(name: str) -> Callable[[list[p.Doc]], None]:
    def apply(docs: list[p.Doc]) -> None:
        docs[:] = [d for d in docs
                   if not (d["kind"] == "PodDisruptionBudget" and d["metadata"]["name"] == name)]
    return apply


def _open_sink(docs: list[p.Doc]) -> None:
    policy = copy.deepcopy(by_kind(docs, "NetworkPolicy")["causality-ingest"])
    policy["metadata"]["name"] = "causality-sink-open"
    policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] = "sink"
    docs.append(policy)


def _secret_in_configmap(doc: p.Doc) -> None:
    doc["data"]["lake.properties"] += "s3.aws-secret-key=hunter2\n"


def _admit(component: str, peer: p.Doc, port: int | None = None) -> Callable[[list[p.Doc]], None]:
    """A policy admitting `peer` to the component (on `port` alone, if given)."""
    def apply(docs: list[p.Doc]) -> None:
        policy = copy.deepcopy(by_kind(docs, "NetworkPolicy")["causality-ingest"])
        policy["metadata"]["name"] = f"causality-{component}-extra"
        policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] = component
        rule: p.Doc = {"from": [peer]}
        if port is not None:
            rule["ports"] = [{"port": port, "protocol": "TCP"}]
        policy["spec"]["ingress"] = [rule]
        docs.append(policy)
    return apply


def _args_style(doc: p.Doc) -> None:
    """`causality sink` as the image's entrypoint plus args, then its shutdown deadline lost."""
    c = _first(doc)
    c["args"] = c.pop("command")[1:]
    c["env"] = [e for e in c["env"] if "SHUTDOWN" not in e["name"]]


def _extra_pdb(component: str, spec: p.Doc) -> Callable[[list[p.Doc]], None]:
    def apply(docs: list[p.Doc]) -> None:
        pdb = copy.deepcopy(by_kind(docs, "PodDisruptionBudget")[f"causality-{component}"])
        pdb["metadata"]["name"] += "-extra"
        pdb["spec"] = {"selector": pdb["spec"]["selector"], **spec}
        docs.append(pdb)
    return apply


def _shared_hosts(docs: list[p.Doc]) -> None:
    docs[:] = render("--set", "nats.antiAffinity=preferred", "--set", "nats.allowSharedHosts=true")


_NAMESPACE = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}


BROKEN: list[tuple[p.Check, Callable[[list[p.Doc]], None]]] = [
    (p.liveness_is_livez, _edit("Deployment", "causality-sink", lambda d: _first(d).update(
        livenessProbe={"httpGet": {"path": "/readyz", "port": "http"}}))),
    (p.readiness_is_readyz, _edit("Deployment", "causality-reactor", lambda d: _first(d).update(
        readinessProbe={"tcpSocket": {"port": "http"}}))),
    (p.slow_starters_have_startup_probe, _edit(
        "Deployment", "causality-trino-worker", lambda d: _first(d).pop("startupProbe"))),
    (p.drain_outlasts_readiness, _edit(
        "Deployment", "causality-ingest", _set_env("CAUSALITY_INGEST_DRAIN_DELAY_S", "2"))),
    (p.drain_outlasts_readiness, _edit(
        "Deployment", "causality-workspace", lambda d: _first(d).pop("lifecycle"))),
    (p.drain_outlasts_readiness, _edit("Deployment", "causality-ingest", lambda d: p.pod_spec(
        d).update(terminationGracePeriodSeconds=20))),  # type: ignore[union-attr]
    (p.drain_outlasts_readiness, _edit(  # the drain eats the requests' publish timeout
        "Deployment", "causality-ingest", _set_env("CAUSALITY_INGEST_SHUTDOWN_TIMEOUT_S", "18"))),
    (p.liveness_is_livez, _edit("StatefulSet", "causality-nats", lambda d: _first(
        d)["livenessProbe"]["httpGet"].update(path="/healthz"))),
    (p.sink_grace_covers_shutdown, _edit(
        "Deployment", "causality-sink", _set_env("CAUSALITY_SINK_SHUTDOWN_TIMEOUT_S", "45"))),
    (p.sink_grace_covers_shutdown, _edit("Deployment", "causality-sink", lambda d: _first(
        d).update(env=[e for e in _first(d)["env"] if "SHUTDOWN" not in e["name"]]))),
    (p.memory_requests_equal_limits, _edit("Deployment", "causality-reactor", lambda d: _first(
        d)["resources"]["limits"].update(memory="2Gi"))),
    (p.cpu_requested, _edit("StatefulSet", "causality-nats", lambda d: _first(
        d)["resources"]["requests"].pop("cpu"))),
    (p.no_cpu_limits, _edit("Deployment", "causality-ingest", lambda d: _first(
        d)["resources"]["limits"].update(cpu="1"))),
    (p.images_pinned, _edit("Deployment", "causality-sink", lambda d: _first(d).update(
        image="registry.example.test/causality:latest"))),
    (p.images_pinned, _edit("Deployment", "causality-trino-worker", lambda d: _first(d).update(
        image="trinodb/trino"))),
    (p.hardened, _edit("Deployment", "causality-compactor", lambda d: _first(
        d)["securityContext"].update(readOnlyRootFilesystem=False))),
    (p.pdbs_cover, _remove_pdb("causality-sink")),
    (p.pdbs_cover, _remove_pdb("causality-trino-worker")),
    (p.pdbs_cover, _extra_pdb("reactor", {"maxUnavailable": 0})),  # the second PDB counts too
    (p.pdbs_cover, _extra_pdb("sink", {"minAvailable": 2})),  # = its replicas
    (p.drain_outlasts_readiness, _edit(  # served, so it must say when it is not ready
        "Deployment", "causality-workspace", lambda d: _first(d).pop("readinessProbe"))),
    (p.sink_grace_covers_shutdown, _edit("Deployment", "causality-sink", _args_style)),
    (p.liveness_is_livez, _edit("Deployment", "causality-compactor", lambda d: _first(d).update(
        command=["/opt/venv/bin/causality", "compact"], livenessProbe=None))),
    (p.reactor_grace_covers_shutdown, _edit(
        "Deployment", "causality-reactor", _set_env("CAUSALITY_REACTOR_SHUTDOWN_TIMEOUT_S", "40"))),
    (p.reactor_grace_covers_shutdown, _edit("Deployment", "causality-reactor", lambda d: _first(
        d).update(env=[e for e in _first(d)["env"] if "SHUTDOWN" not in e["name"]]))),
    (p.nats_store_fits_volume, _edit("StatefulSet", "causality-nats", lambda d: _first(d).update(
        env=[e for e in _first(d)["env"] if "MAX_FILE_STORE" not in e["name"]]))),
    (p.nats_store_fits_volume, _edit(
        "StatefulSet", "causality-nats", _set_env("CAUSALITY_NATS_MAX_FILE_STORE", "20G"))),
    (p.pdbs_cover, _edit("PodDisruptionBudget", "causality-nats", lambda d: d["spec"].update(
        maxUnavailable=2))),
    (p.nats_anti_affinity, _edit("StatefulSet", "causality-nats", lambda d: p.pod_spec(
        d).pop("affinity"))),  # type: ignore[union-attr]
    (p.nats_anti_affinity, _shared_hosts),
    (p.outside_only_to_edge, _open_sink),
    (p.outside_only_to_edge, _admit("sink", {"podSelector": {}})),  # every pod of the namespace
    (p.outside_only_to_edge, _admit("reactor", _NAMESPACE)),  # a namespace, every port
    (p.outside_only_to_edge, _admit("sink", _NAMESPACE, 4222)),  # not its metrics port
    (p.outside_only_to_edge, _admit("trino-worker", _NAMESPACE, 8080)),  # no metrics port
    (p.outside_only_to_edge, _admit("nats", {"podSelector": {"matchLabels": {
        "app.kubernetes.io/component": "ingest"}}})),  # another release's ingest
    (p.outside_only_to_edge, lambda docs: docs.remove(
        by_kind(docs, "NetworkPolicy")["causality-default-deny"])),
    (p.no_secret_literals, _edit(
        "Deployment", "causality-workspace", _set_env("CAUSALITY_LLM_ANTHROPIC_API_KEY", "sk-1"))),
    (p.no_secret_literals, _edit(
        "Deployment", "causality-ingest",
        _set_env("CAUSALITY_METADATA_URL", "postgresql://u:pw@db/causality"))),
    (p.no_secret_literals, _edit("ConfigMap", "causality-trino", _secret_in_configmap)),
]


@pytest.mark.parametrize(("check", "breakage"), BROKEN,
                         ids=[f"{c.__name__}-{i}" for i, (c, _) in enumerate(BROKEN)])
def test_each_policy_fails_on_a_broken_manifest(
        rendered: dict[str, list[p.Doc]], check: p.Check,
        breakage: Callable[[list[p.Doc]], None]) -> None:
    docs = copy.deepcopy(rendered["default"])
    assert check(docs) == []
    breakage(docs)
    assert check(docs), f"{check.__name__} did not notice"


def test_every_policy_has_a_negative_case() -> None:
    assert {c for c, _ in BROKEN} == set(p.POLICIES)


# --- the same Trino as `causality trino run` --------------------------------------------------


def _properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def test_trino_config_matches_causality(rendered: dict[str, list[p.Doc]]) -> None:
    data = by_kind(rendered["default"], "ConfigMap")["causality-trino"]["data"]
    assert json.loads(data["rules.json"]) == _rules()
    assert json.loads(data["resource-groups.json"]) == _resource_groups()
    ours = set(_jvm_config("1G", ()).split()) - {"-Xmx1G"}
    assert ours <= set(data["jvm.config"].split())  # the heap follows the container instead
    statements = [s.strip() for s in data["register-events.sql"].split(";") if s.strip()]
    assert statements == [s.replace("local:///warehouse/events", f"{WAREHOUSE}/events")
                          for s in events_table_ddl()]
    catalog = _properties(data["lake.properties"])
    for key in ("connector.name", "hive.metastore", "hive.security", "hive.parquet.time-zone",
                "hive.parquet.use-column-names", "hive.timestamp-precision",
                "hive.non-managed-table-creates-enabled", "hive.non-managed-table-writes-enabled"):
        assert key in catalog, key
    assert catalog["hive.metastore.catalog.dir"].startswith(WAREHOUSE + "/")
    for role in ("coordinator", "worker"):
        assert _properties(data[f"{role}.properties"])["deprecated.regex-library"] == "RE2J"
