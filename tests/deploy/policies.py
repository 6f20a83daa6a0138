"""Policy checks over rendered Kubernetes manifests (the Helm chart's `helm template` output).

Each check takes the list of manifest dicts and returns its violations, one line each naming
the object and what is wrong; an empty list passes. ``POLICIES`` runs them all.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterator
from typing import Any

Doc = dict[str, Any]
Check = Callable[[list[Doc]], list[str]]

PIPELINE_COMMANDS = ("ingest", "sink", "compact", "reactor")  # served by pipeline/probes.py
SLOW_STARTERS = ("workspace", "trino")  # components that need a startupProbe
EDGE_COMPONENTS = ("ingest", "workspace")  # the only ones reachable from outside
# …besides each of these on its metrics port alone (networkPolicy.metricsFrom)
METRICS_PORTS = {"sink": 8089, "compactor": 8090, "reactor": 8091, "nats": 7777}
RELEASE_LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/instance")
PDB_COMPONENTS = ("nats", "ingest", "sink", "reactor", "workspace", "trino-worker")
ALWAYS_RENDERED = ("nats", "ingest", "sink", "reactor", "workspace")
# The Causality image's entrypoint is `causality` (deploy/image/build): a container of it
# without `command` runs `causality <args>`.
CAUSALITY_IMAGE = re.compile(r"(^|/)causality[:@]")
SECRET_NAME = re.compile(r"(SECRET|PASSWORD|TOKEN|API_KEY|ACCESS_KEY|PRIVATE|METADATA_URL)",
                         re.IGNORECASE)
CREDENTIALS_IN_URL = re.compile(r"://[^/\s:@]+:[^/\s@]+@")
INGEST_PUBLISH_S = 5.0  # ingest.publish_timeout_s's default
INGEST_EXIT_S = 2.5  # of ingest's shutdown deadline, kept for draining NATS and exiting
REACTOR_EXIT_S = 10.0  # of the reactor's grace beyond its shutdown deadline, to exit
NATS_STORE_SHARE = 0.9  # max_file_store at most this share of the volume (filesystem, index)
K8S_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
             "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "": 1}
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
    """``sink`` for a container running ``causality sink`` (``command``, or ``args`` under the
    Causality image's entrypoint); None for anything else."""
    if "command" in container:
        argv = [*container["command"], *container.get("args", [])]
        ours = bool(argv) and posixpath.basename(argv[0]) == "causality"
        return argv[1] if ours and len(argv) > 1 else None
    args = container.get("args", [])
    return args[0] if args and CAUSALITY_IMAGE.search(container.get("image", "")) else None


def pipeline_containers(docs: list[Doc], *commands: str) -> list[str]:
    """The check's subject is missing: a violation, so that no check passes vacuously."""
    seen = {causality_command(c) for _, _, c in containers(docs)}
    return [f"no container runs `causality {c}`" for c in commands if c not in seen]


def env_literals(container: Doc) -> dict[str, str]:
    return {e["name"]: str(e["value"]) for e in container.get("env", []) if "value" in e}


def selects(selector: Doc, labels: dict[str, str]) -> bool:
    match = selector.get("matchLabels", {})
    return bool(match) and all(labels.get(k) == v for k, v in match.items())


def _seconds(value: str | None) -> float:
    return float(value) if value is not None else 0.0


def k8s_bytes(quantity: str) -> float:
    match = re.fullmatch(r"([0-9.]+)([KMGT]i|[kMGT]|)", str(quantity))
    if match is None:
        raise ValueError(f"not a quantity: {quantity!r}")
    return float(match[1]) * K8S_UNITS[match[2]]


def nats_bytes(size: str) -> float:
    """NATS's sizes (17G, 512MB, 1GiB); a bare letter may be 10^n or 2^n by version, so the
    larger (binary) reading is taken: the check errs towards a violation."""
    match = re.fullmatch(r"([0-9]+)\s*([KMGT]?)(I?B?)", size.strip().upper())
    if match is None:
        raise ValueError(f"not a NATS size: {size!r}")
    return int(match[1]) * 1024 ** " KMGT".index(match[2] or " ")


def release_labels(docs: list[Doc]) -> dict[str, str]:
    """The labels every pod of the release carries (name and instance)."""
    found = [{k: pod_labels(d).get(k) for k in RELEASE_LABELS} for d, _ in workloads(docs)]
    first = found[0] if found else {}
    return {k: v for k, v in first.items()
            if v is not None and all(f.get(k) == v for f in found)}


# --- the checks -------------------------------------------------------------------------------


def liveness_is_livez(docs: list[Doc]) -> list[str]:
    """Pipeline processes are live while their loop runs: /livez, never a dependency."""
    bad = pipeline_containers(docs, *PIPELINE_COMMANDS, "nats")
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
    bad = pipeline_containers(docs, *PIPELINE_COMMANDS)
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
               for s in services):
            yield doc, spec, c


def drain_outlasts_readiness(docs: list[Doc]) -> list[str]:
    """A served pod keeps serving after SIGTERM until its endpoints are gone (a preStop sleep,
    or ingest's drain delay with /readyz 503), at least readiness period × failureThreshold;
    its grace period holds the preStop pause plus its shutdown deadline. Ingest's drain delay
    is counted inside its shutdown deadline, which must still leave the requests in flight
    their publish timeout and NATS its drain (pipeline/ingest/_serve.py)."""
    bad = []
    for doc, spec, c in _served(docs):
        ready = c.get("readinessProbe")
        if not ready:
            bad.append(f"{name_of(doc)}: {c['name']} is served without a readinessProbe")
            continue
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
    bad = pipeline_containers(docs, "sink")
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


def reactor_grace_covers_shutdown(docs: list[Doc]) -> list[str]:
    """terminationGracePeriodSeconds ≥ reactor.shutdown_timeout_s + REACTOR_EXIT_S, the
    deadline set explicitly (a reactor killed mid-delivery sends that webhook again)."""
    bad = pipeline_containers(docs, "reactor")
    for doc, spec, c in containers(docs):
        if causality_command(c) != "reactor":
            continue
        deadline = env_literals(c).get("CAUSALITY_REACTOR_SHUTDOWN_TIMEOUT_S")
        if deadline is None:
            bad.append(f"{name_of(doc)}: CAUSALITY_REACTOR_SHUTDOWN_TIMEOUT_S is not set "
                       "explicitly")
            continue
        grace = spec.get("terminationGracePeriodSeconds", 30)
        if grace < float(deadline) + REACTOR_EXIT_S:
            bad.append(f"{name_of(doc)}: grace {grace} s < reactor shutdown {deadline} s + "
                       f"{REACTOR_EXIT_S:g} s")
    return bad


def nats_store_fits_volume(docs: list[Doc]) -> list[str]:
    """JetStream's max_file_store is set, and under the node's volume with room to spare: a
    full store refuses messages, a full volume stops the node."""
    bad = pipeline_containers(docs, "nats")
    for doc, _, c in containers(docs):
        if causality_command(c) != "nats":
            continue
        store = env_literals(c).get("CAUSALITY_NATS_MAX_FILE_STORE")
        claims = doc["spec"].get("volumeClaimTemplates", [])
        mounted = {m["name"] for m in c.get("volumeMounts", [])}
        sizes = [k8s_bytes(t["spec"]["resources"]["requests"]["storage"])
                 for t in claims if t["metadata"]["name"] in mounted]
        if store is None:
            bad.append(f"{name_of(doc)}: CAUSALITY_NATS_MAX_FILE_STORE is not set")
        elif not sizes:
            bad.append(f"{name_of(doc)}: NATS stores on no PersistentVolumeClaim")
        elif nats_bytes(store) > NATS_STORE_SHARE * min(sizes):
            bad.append(f"{name_of(doc)}: max_file_store {store} is over "
                       f"{NATS_STORE_SHARE:.0%} of its volume")
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


def _min_replicas(doc: Doc, docs: list[Doc]) -> int:
    for hpa in docs:
        if (hpa.get("kind") == "HorizontalPodAutoscaler"
                and hpa["spec"]["scaleTargetRef"]["name"] == doc["metadata"]["name"]):
            return int(hpa["spec"].get("minReplicas", 1))
    return int(doc["spec"].get("replicas", 1))


def _blocks_drains(pdb: Doc, replicas: int) -> bool:
    spec = pdb["spec"]
    if "maxUnavailable" in spec:
        return str(spec["maxUnavailable"]) in ("0", "0%")
    floor = str(spec.get("minAvailable", 0))
    return floor == "100%" or (floor.isdigit() and int(floor) >= replicas)


def pdbs_cover(docs: list[Doc]) -> list[str]:
    """Each replicated component has PDBs, and none of those selecting it blocks a drain
    (maxUnavailable 0, minAvailable ≥ replicas); NATS goes one node at a time."""
    pdbs = [d for d in docs if d.get("kind") == "PodDisruptionBudget"]
    bad = []
    for doc, _ in workloads(docs):
        if component(doc) not in PDB_COMPONENTS:
            continue
        mine = [p for p in pdbs if selects(p["spec"]["selector"], pod_labels(doc))]
        if not mine:
            bad.append(f"{name_of(doc)}: no PodDisruptionBudget")
        for pdb in mine:
            if _blocks_drains(pdb, _min_replicas(doc, docs)):
                bad.append(f"{name_of(pdb)}: allows no disruption of {name_of(doc)} (blocks "
                           "node drains)")
            if component(doc) == "nats" and pdb["spec"].get("maxUnavailable") != 1:
                bad.append(f"{name_of(pdb)}: NATS must be disrupted one node at a time")
    missing = set(ALWAYS_RENDERED) - {component(d) for d, _ in workloads(docs)}
    bad += [f"no {m} workload rendered" for m in sorted(missing)]
    return bad


def nats_anti_affinity(docs: list[Doc]) -> list[str]:
    bad = []
    for doc, spec in workloads(docs):
        if component(doc) != "nats":
            continue
        # Required only: "preferred" (nats.allowSharedHosts) puts two of three on one host
        # when the scheduler must, and losing that host loses the quorum.
        anti = spec.get("affinity", {}).get("podAntiAffinity", {})
        terms = anti.get("requiredDuringSchedulingIgnoredDuringExecution", [])
        if not any(t.get("topologyKey") == "kubernetes.io/hostname"
                   and selects(t.get("labelSelector", {}), pod_labels(doc)) for t in terms):
            bad.append(f"{name_of(doc)}: no required pod anti-affinity across hostnames")
    return bad


def _inside(peer: Doc, release: dict[str, str]) -> bool:
    """Pods of this release: a podSelector alone (this namespace) carrying its labels."""
    if set(peer) != {"podSelector"} or peer["podSelector"].get("matchExpressions"):
        return False
    match = peer["podSelector"].get("matchLabels", {})
    return bool(release) and all(match.get(k) == v for k, v in release.items())


def _outside(rule: Doc, release: dict[str, str]) -> bool:
    peers = rule.get("from")
    return not peers or not all(_inside(p, release) for p in peers)


def _metrics_only(rule: Doc, target: str) -> bool:
    ports = rule.get("ports")
    return target in METRICS_PORTS and bool(ports) and all(
        p.get("port") == METRICS_PORTS[target] for p in ports)


def outside_only_to_edge(docs: list[Doc]) -> list[str]:
    """Every pod is under a default-deny policy; only ingest and the workspace admit traffic
    from outside the release, besides scrapers to another component's metrics port alone."""
    policies = [d for d in docs if d.get("kind") == "NetworkPolicy"]
    release = release_labels(docs)
    bad = []
    for policy in policies:
        match = policy["spec"].get("podSelector", {}).get("matchLabels", {})
        target = match.get("app.kubernetes.io/component", "")
        for rule in policy["spec"].get("ingress", []):
            if (_outside(rule, release) and target not in EDGE_COMPONENTS
                    and not _metrics_only(rule, target)):
                bad.append(f"{name_of(policy)}: admits outside traffic to {match}")
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
    drain_outlasts_readiness, sink_grace_covers_shutdown, reactor_grace_covers_shutdown,
    nats_store_fits_volume, memory_requests_equal_limits,
    cpu_requested, no_cpu_limits, images_pinned, hardened, pdbs_cover, nats_anti_affinity,
    outside_only_to_edge, no_secret_literals,
)


def violations(docs: list[Doc]) -> list[str]:
    return [f"{check.__name__}: {line}" for check in POLICIES for line in check(docs)]
