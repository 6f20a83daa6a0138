"""Policy checks over rendered Kubernetes manifests (the Helm chart's `helm template` output).

Each check takes the list of manifest dicts and returns its violations, one line each naming
the object and what is wrong; an empty list passes. ``POLICIES`` runs them all.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

Doc = dict[str, Any]
Check = Callable[[list[Doc]], list[str]]

PIPELINE_COMMANDS = ("ingest", "sink", "compact", "reactor")  # served by pipeline/probes.py
SLOW_STARTERS = ("workspace", "trino")  # components that need a startupProbe
EDGE_COMPONENTS = ("ingest", "workspace")  # the only ones reachable from outside
PDB_COMPONENTS = ("nats", "ingest", "sink", "workspace")
SECRET_NAME = re.compile(r"(SECRET|PASSWORD|TOKEN|API_KEY|ACCESS_KEY|PRIVATE|METADATA_URL)",
                         re.IGNORECASE)
CREDENTIALS_IN_URL = re.compile(r"://[^/\s:@]+:[^/\s@]+@")
INGEST_PUBLISH_S = 5.0  # ingest.publish_timeout_s's default
INGEST_EXIT_S = 2.5  # of ingest's shutdown deadline, kept for draining NATS and exiting
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")


def name_of(doc: Doc) -> str:
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def pod_spec(doc: Doc) -> Doc | None:
    if doc.get("kind") == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]  # type: ignore[no-any-return]
    if doc.get("kind") in WORKLOADS:
        return doc["spec"]["template"]["spec"]  # type: ignore[no-any-return]
    return None


def pod_labels(doc: Doc) -> dict[str, str]:
    if doc.get("kind") == "CronJob":
        template = doc["spec"]["jobTemplate"]["spec"]["template"]
    else:
        template = doc["spec"]["template"]
    return template.get("metadata", {}).get("labels", {})  # type: ignore[no-any-return]


def workloads(docs: list[Doc]) -> Iterator[tuple[Doc, Doc]]:
    for doc in docs:
        spec = pod_spec(doc)
        if spec is not None:
            yield doc, spec


def containers(docs: list[Doc]) -> Iterator[tuple[Doc, Doc, Doc]]:
    for doc, spec in workloads(docs):
        for container in [*spec.get("initContainers", []), *spec.get("containers", [])]:
            yield doc, spec, container


def component(doc: Doc) -> str:
    return pod_labels(doc).get("app.kubernetes.io/component", "")


def causality_command(container: Doc) -> str | None:
    """``sink`` for a container running ``causality sink``; None for anything else."""
    command = [*container.get("command", []), *container.get("args", [])]
    return command[1] if len(command) > 1 and command[0] == "causality" else None


def env_literals(container: Doc) -> dict[str, str]:
    return {e["name"]: str(e["value"]) for e in container.get("env", []) if "value" in e}


def selects(selector: Doc, labels: dict[str, str]) -> bool:
    match = selector.get("matchLabels", {})
    return bool(match) and all(labels.get(k) == v for k, v in match.items())


def _seconds(value: str | None) -> float:
    return float(value) if value is not None else 0.0


# --- the checks -------------------------------------------------------------------------------


def liveness_is_livez(docs: list[Doc]) -> list[str]:
    """Pipeline processes are live while their loop runs: /livez, never a dependency."""
    bad = []
    for doc, _, c in containers(docs):
        probe = c.get("livenessProbe")
        path = (probe or {}).get("httpGet", {}).get("path")
        if causality_command(c) in PIPELINE_COMMANDS and path != "/livez":
            bad.append(f"{name_of(doc)}: liveness {path or probe} is not /livez")
        elif causality_command(c) == "nats" and path != "/healthz?js-enabled-only=true":
            bad.append(f"{name_of(doc)}: NATS liveness {path or probe} must not depend on "
                       "the other nodes (/healthz?js-enabled-only=true)")
        elif path is not None and "readyz" in path:
            bad.append(f"{name_of(doc)}: liveness on {path} restarts it when a dependency fails")
    return bad


def readiness_is_readyz(docs: list[Doc]) -> list[str]:
    bad = []
    for doc, _, c in containers(docs):
        path = (c.get("readinessProbe") or {}).get("httpGet", {}).get("path")
        if causality_command(c) in PIPELINE_COMMANDS and path != "/readyz":
            bad.append(f"{name_of(doc)}: readiness {path} is not /readyz")
    return bad


def slow_starters_have_startup_probe(docs: list[Doc]) -> list[str]:
    return [f"{name_of(doc)}: {c['name']} starts slowly and has no startupProbe"
            for doc, _, c in containers(docs)
            if any(component(doc).startswith(s) for s in SLOW_STARTERS)
            and doc["kind"] != "CronJob" and "startupProbe" not in c]


def _served(docs: list[Doc]) -> Iterator[tuple[Doc, Doc, Doc]]:
    """Containers of pods a load-balancing Service sends traffic to (a headless one's clients,
    such as NATS's, pick the pods themselves and fail over)."""
    services = [d for d in docs
                if d.get("kind") == "Service" and d["spec"].get("clusterIP") != "None"]
    for doc, spec, c in containers(docs):
        if any(selects({"matchLabels": s["spec"].get("selector", {})}, pod_labels(doc))
               for s in services) and c.get("readinessProbe"):
            yield doc, spec, c


def drain_outlasts_readiness(docs: list[Doc]) -> list[str]:
    """A served pod keeps serving after SIGTERM until its endpoints are gone (a preStop sleep,
    or ingest's drain delay with /readyz 503), at least readiness period × failureThreshold;
    its grace period holds the preStop pause plus its shutdown deadline. Ingest's drain delay
    is counted inside its shutdown deadline, which must still leave the requests in flight
    their publish timeout and NATS its drain (pipeline/ingest/_serve.py)."""
    bad = []
    for doc, spec, c in _served(docs):
        ready = c["readinessProbe"]
        window = ready.get("periodSeconds", 10) * ready.get("failureThreshold", 3)
        pre_stop = c.get("lifecycle", {}).get("preStop", {})
        pause = float(pre_stop.get("sleep", {}).get("seconds", 0))
        command = pre_stop.get("exec", {}).get("command", [])
        if command[:1] == ["sleep"] and len(command) == 2:
            pause += float(command[1])
        env = env_literals(c)
        drain = _seconds(env.get("CAUSALITY_INGEST_DRAIN_DELAY_S"))
        if pause + drain < window:
            bad.append(f"{name_of(doc)}: {pause + drain:g} s of preStop/drain is shorter than "
                       f"readiness {ready.get('periodSeconds')} s × "
                       f"{ready.get('failureThreshold')}")
        shutdown = max((_seconds(v) for k, v in env.items() if k.endswith("SHUTDOWN_TIMEOUT_S")),
                       default=0.0)
        grace = spec.get("terminationGracePeriodSeconds", 30)
        if grace < pause + shutdown:
            bad.append(f"{name_of(doc)}: grace {grace} s < preStop {pause:g} s + shutdown "
                       f"{shutdown:g} s")
        if causality_command(c) == "ingest":
            publish = float(env.get("CAUSALITY_INGEST_PUBLISH_TIMEOUT_S", INGEST_PUBLISH_S))
            if shutdown < drain + publish + INGEST_EXIT_S:
                bad.append(f"{name_of(doc)}: ingest shutdown {shutdown:g} s leaves requests in "
                           f"flight less than their publish timeout {publish:g} s after the "
                           f"drain {drain:g} s")
    return bad


def sink_grace_covers_shutdown(docs: list[Doc]) -> list[str]:
    """terminationGracePeriodSeconds ≥ 2 × sink.shutdown_timeout_s, set explicitly."""
    bad = []
    for doc, spec, c in containers(docs):
        if causality_command(c) != "sink":
            continue
        deadline = env_literals(c).get("CAUSALITY_SINK_SHUTDOWN_TIMEOUT_S")
        if deadline is None:
            bad.append(f"{name_of(doc)}: CAUSALITY_SINK_SHUTDOWN_TIMEOUT_S is not set explicitly")
            continue
        grace = spec.get("terminationGracePeriodSeconds", 30)
        if grace < 2 * float(deadline):
            bad.append(f"{name_of(doc)}: grace {grace} s < 2 × sink shutdown {deadline} s")
    return bad


def memory_requests_equal_limits(docs: list[Doc]) -> list[str]:
    bad = []
    for doc, _, c in containers(docs):
        res = c.get("resources", {})
        req, lim = res.get("requests", {}).get("memory"), res.get("limits", {}).get("memory")
        if req is None or req != lim:
            bad.append(f"{name_of(doc)}: {c['name']} memory request {req} != limit {lim}")
    return bad


def cpu_requested(docs: list[Doc]) -> list[str]:
    return [f"{name_of(doc)}: {c['name']} has no CPU request" for doc, _, c in containers(docs)
            if not c.get("resources", {}).get("requests", {}).get("cpu")]


def no_cpu_limits(docs: list[Doc]) -> list[str]:
    return [f"{name_of(doc)}: {c['name']} has a CPU limit (throttling)"
            for doc, _, c in containers(docs) if "cpu" in c.get("resources", {}).get("limits", {})]


def images_pinned(docs: list[Doc]) -> list[str]:
    bad = []
    for doc, _, c in containers(docs):
        image = c.get("image", "")
        if "@sha256:" in image:
            continue
        tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
        if tag in ("", "latest"):
            bad.append(f"{name_of(doc)}: image {image!r} is neither a digest nor an exact tag")
    return bad


def hardened(docs: list[Doc]) -> list[str]:
    bad = []
    for doc, spec, c in containers(docs):
        sc, pod = c.get("securityContext", {}), spec.get("securityContext", {})
        problems = [
            "runAsNonRoot" if not (sc.get("runAsNonRoot") or pod.get("runAsNonRoot")) else "",
            "readOnlyRootFilesystem" if sc.get("readOnlyRootFilesystem") is not True else "",
            "allowPrivilegeEscalation" if sc.get("allowPrivilegeEscalation") is not False else "",
            "capabilities" if sc.get("capabilities", {}).get("drop") != ["ALL"] else "",
        ]
        bad += [f"{name_of(doc)}: {c['name']} lacks {p}" for p in problems if p]
    return bad


def pdbs_cover(docs: list[Doc]) -> list[str]:
    pdbs = [d for d in docs if d.get("kind") == "PodDisruptionBudget"]
    bad = []
    for doc, _ in workloads(docs):
        if component(doc) not in PDB_COMPONENTS:
            continue
        mine = [p for p in pdbs if selects(p["spec"]["selector"], pod_labels(doc))]
        if not mine:
            bad.append(f"{name_of(doc)}: no PodDisruptionBudget")
        elif component(doc) == "nats" and mine[0]["spec"].get("maxUnavailable") != 1:
            bad.append(f"{name_of(doc)}: NATS must be disrupted one node at a time")
    missing = set(PDB_COMPONENTS) - {component(d) for d, _ in workloads(docs)}
    bad += [f"no {m} workload rendered" for m in sorted(missing)]
    return bad


def nats_anti_affinity(docs: list[Doc]) -> list[str]:
    bad = []
    for doc, spec in workloads(docs):
        if component(doc) != "nats":
            continue
        anti = spec.get("affinity", {}).get("podAntiAffinity", {})
        terms = [*anti.get("requiredDuringSchedulingIgnoredDuringExecution", []),
                 *(t["podAffinityTerm"] for t in
                   anti.get("preferredDuringSchedulingIgnoredDuringExecution", []))]
        if not any(t.get("topologyKey") == "kubernetes.io/hostname"
                   and selects(t.get("labelSelector", {}), pod_labels(doc)) for t in terms):
            bad.append(f"{name_of(doc)}: no pod anti-affinity across hostnames")
    return bad


def _outside(rule: Doc) -> bool:
    peers = rule.get("from")
    return not peers or any("ipBlock" in p or "namespaceSelector" in p for p in peers)


def outside_only_to_edge(docs: list[Doc]) -> list[str]:
    """Every pod is under a default-deny policy; only ingest and the workspace admit traffic
    from outside the release."""
    policies = [d for d in docs if d.get("kind") == "NetworkPolicy"]
    bad = []
    for policy in policies:
        target = policy["spec"].get("podSelector", {}).get("matchLabels", {})
        for rule in policy["spec"].get("ingress", []):
            if _outside(rule) and target.get("app.kubernetes.io/component") not in EDGE_COMPONENTS:
                bad.append(f"{name_of(policy)}: admits outside traffic to {target}")
    deny = [p for p in policies if "Ingress" in p["spec"].get("policyTypes", [])
            and not p["spec"].get("ingress")]
    for doc, _ in workloads(docs):
        if not any(selects(p["spec"]["podSelector"], pod_labels(doc)) for p in deny):
            bad.append(f"{name_of(doc)}: not under a default-deny NetworkPolicy")
    return bad


def no_secret_literals(docs: list[Doc]) -> list[str]:
    """Secrets come from Secrets: never an env literal or ConfigMap text."""
    bad = []
    for doc, _, c in containers(docs):
        for name, value in env_literals(c).items():
            if SECRET_NAME.search(name) and not name.endswith("_FILE"):
                bad.append(f"{name_of(doc)}: env {name} is a literal, not a secretKeyRef")
            if CREDENTIALS_IN_URL.search(value):
                bad.append(f"{name_of(doc)}: env {name} holds credentials in a URL")
    for doc in docs:
        if doc.get("kind") != "ConfigMap":
            continue
        for key, text in (doc.get("data") or {}).items():
            if SECRET_NAME.search(key) or CREDENTIALS_IN_URL.search(text):
                bad.append(f"{name_of(doc)}: {key} holds a secret")
            for line in text.splitlines():
                prop, _, value = line.partition("=")
                if (SECRET_NAME.search(prop.replace("-", "_")) and value
                        and not value.startswith("${ENV:")):
                    bad.append(f"{name_of(doc)}: {key}: {prop} is a literal")
    return bad


POLICIES: tuple[Check, ...] = (
    liveness_is_livez, readiness_is_readyz, slow_starters_have_startup_probe,
    drain_outlasts_readiness, sink_grace_covers_shutdown, memory_requests_equal_limits,
    cpu_requested, no_cpu_limits, images_pinned, hardened, pdbs_cover, nats_anti_affinity,
    outside_only_to_edge, no_secret_literals,
)


def violations(docs: list[Doc]) -> list[str]:
    return [f"{check.__name__}: {line}" for check in POLICIES for line in check(docs)]
