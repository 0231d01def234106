"""dns-exceptions-modelled (issue 17): every workload of an egress-isolated namespace reaches cluster DNS on UDP and
TCP 53. Spec-first counter-examples (Kubernetes NetworkPolicy, Service targetPort, CoreDNS and NodeLocal DNSCache
docs), each one change to a compliant baseline, collected as its own cluster into one store and judged once."""

from __future__ import annotations

import pytest
import yaml
from helpers import write
from test_pack_reachability import judge, rows

from collector.analysis.reachability import Inventory
from collector.analysis.reachability.dns import dns_services, node_local_addresses
from collector.runner import run_source
from collector.store import Store
from sources.analysis.source import AnalysisSource
from sources.kubernetes.source import KubernetesSource

# shop isolates ingress and egress and opens DNS to CoreDNS on UDP and TCP 53; CoreDNS admits every namespace on 53
# (its Service maps 53 to the named ports dns and dns-tcp); other has no policy (not judged).
BASE = """
apiVersion: v1
kind: Namespace
metadata: {name: kube-system}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Namespace
metadata: {name: other}
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  clusterIP: 10.96.0.10
  selector: {k8s-app: kube-dns}
  ports:
  - {name: dns, port: 53, protocol: UDP, targetPort: dns}
  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: dns-tcp}
  - {name: metrics, port: 9153, protocol: TCP, targetPort: 9153}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: coredns, namespace: kube-system}
spec:
  template:
    metadata: {labels: {k8s-app: kube-dns}}
    spec:
      containers:
      - name: coredns
        ports:
        - {name: dns, containerPort: 53, protocol: UDP}
        - {name: dns-tcp, containerPort: 53, protocol: TCP}
        - {name: metrics, containerPort: 9153, protocol: TCP}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: coredns, namespace: kube-system}
spec:
  podSelector: {matchLabels: {k8s-app: kube-dns}}
  policyTypes: [Ingress]
  ingress:
  - from: [{namespaceSelector: {}}]
    ports: [{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec: {template: {metadata: {labels: {app: web}}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec: {template: {metadata: {labels: {app: api}}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: batch, namespace: other}
spec: {template: {metadata: {labels: {app: batch}}}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: shop}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-dns, namespace: shop}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}
      podSelector: {matchLabels: {k8s-app: kube-dns}}
    ports: [{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]
"""
DNS_EGRESS = ("NetworkPolicy", "shop", "allow-dns")
NODE_LOCAL = """
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: node-local-dns, namespace: kube-system}
spec:
  template:
    metadata: {labels: {k8s-app: node-local-dns}}
    spec: {hostNetwork: true, containers: [{name: node-cache}]}
"""


def egress_to(*ports: str, peer: str = "") -> str:
    """shop/allow-dns with other ports or peers."""
    peer = peer or (
        "{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}, "
        "podSelector: {matchLabels: {k8s-app: kube-dns}}}"
    )
    return f"""
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: allow-dns, namespace: shop}}
spec:
  podSelector: {{}}
  policyTypes: [Egress]
  egress: [{{to: [{peer}], ports: [{", ".join(ports)}]}}]
"""


UDP, TCP = "{port: 53, protocol: UDP}", "{port: 53, protocol: TCP}"
LINK_LOCAL, CLUSTER_IP = "{ipBlock: {cidr: 169.254.20.10/32}}", "{ipBlock: {cidr: 10.96.0.10/32}}"
# case: (objects replaced or added (matched on kind, namespace, name), objects removed, workloads expected as gaps)
CASES: dict[str, tuple[str, list[tuple[str, str, str]], set[str]]] = {
    "baseline": ("", [], set()),
    # no egress exception at all beside the default deny
    "no-dns-exception": ("", [DNS_EGRESS], {"shop/web", "shop/api"}),
    # UDP only: truncated answers retry over TCP (RFC 7766); the Service exposes TCP 53 too
    "udp-only": (egress_to(UDP), [], {"shop/web", "shop/api"}),
    # a named port with the default protocol TCP: CoreDNS's "dns" port is UDP, so {port: dns} resolves to nothing
    "named-port-wrong-protocol": (egress_to("{port: dns}", "{port: dns-tcp}"), [], {"shop/web", "shop/api"}),
    # the CoreDNS ingress policy admits only kube-system
    "coredns-ingress-denies": (
        """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: coredns, namespace: kube-system}
spec:
  podSelector: {matchLabels: {k8s-app: kube-dns}}
  policyTypes: [Ingress]
  ingress: [{from: [{podSelector: {}}], ports: [{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]}]
""",
        [],
        {"shop/web", "shop/api"},
    ),
    # CoreDNS listens on 5353 (the Service maps 53 to it): policies see the pod port after Service translation
    "target-port-5353": (
        """
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  selector: {k8s-app: kube-dns}
  ports:
  - {name: dns, port: 53, protocol: UDP, targetPort: 5353}
  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 5353}
""",
        [],
        {"shop/web", "shop/api"},
    ),
    # the namespace selector names a label the namespace does not carry
    "namespace-label-missing": (
        egress_to(UDP, TCP, peer="{namespaceSelector: {matchLabels: {name: kube-system}}}"),
        [],
        {"shop/web", "shop/api"},
    ),
    # an ipBlock of the Service's ClusterIP: NetworkPolicy matches pod addresses, not Service IPs
    "cluster-ip-block": (egress_to(UDP, TCP, peer="{ipBlock: {cidr: 10.96.0.10/32}}"), [], {"shop/web", "shop/api"}),
    # a second policy isolates egress of one workload of another namespace without a DNS exception
    "one-workload-isolated": (
        """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: lock-batch, namespace: other}
spec: {podSelector: {matchLabels: {app: batch}}, policyTypes: [Egress], egress: [{ports: [{port: 443}]}]}
""",
        [],
        {"other/batch"},
    ),
    # named ports with their protocols resolve against CoreDNS's container ports: resolves
    "named-ports": (egress_to("{port: dns, protocol: UDP}", "{port: dns-tcp, protocol: TCP}"), [], set()),
    # the Service balances over a second DNS Deployment that the egress exception does not reach
    "second-backend-unreached": (
        egress_to(UDP, TCP, peer="{namespaceSelector: {}, podSelector: {matchLabels: {k8s-app: kube-dns, tier: a}}}")
        + """---
apiVersion: apps/v1
kind: Deployment
metadata: {name: coredns, namespace: kube-system}
spec: {template: {metadata: {labels: {k8s-app: kube-dns, tier: a}}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: coredns-b, namespace: kube-system}
spec: {template: {metadata: {labels: {k8s-app: kube-dns, tier: b}}}}
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system}
spec:
  selector: {k8s-app: kube-dns}
  ports: [{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53, protocol: TCP}]
""",
        [],
        {"shop/web", "shop/api"},
    ),
    # the DNS Service exposes UDP 53 only
    "service-udp-only": (
        """
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system}
spec: {selector: {k8s-app: kube-dns}, ports: [{name: dns, port: 53, protocol: UDP, targetPort: dns}]}
""",
        [],
        {"shop/web", "shop/api"},
    ),
    # no cluster DNS Service in the inventory
    "no-dns-service": ("", [("Service", "kube-system", "kube-dns")], {"shop/web", "shop/api"}),
    # NodeLocal DNSCache runs and the egress exception goes to the addresses it answers pods on (its link-local
    # address in IPVS mode, the intercepted kube-dns clusterIP in iptables mode; the store keeps no -localip): resolves
    "node-local": (NODE_LOCAL + "---" + egress_to(UDP, TCP, peer=f"{LINK_LOCAL}, {CLUSTER_IP}"), [], set()),
    # NodeLocal DNSCache runs but the egress exception goes to the CoreDNS pods only
    "node-local-coredns-only": (NODE_LOCAL, [], {"shop/web", "shop/api"}),
    # ... or to its link-local address only: in iptables mode pods query the kube-dns clusterIP
    "node-local-link-local-only": (
        NODE_LOCAL + "---" + egress_to(UDP, TCP, peer=LINK_LOCAL),
        [],
        {"shop/web", "shop/api"},
    ),
    # ... or on UDP only
    "node-local-udp-only": (
        NODE_LOCAL + "---" + egress_to(UDP, peer=f"{LINK_LOCAL}, {CLUSTER_IP}"),
        [],
        {"shop/web", "shop/api"},
    ),
}


def key(obj: dict) -> tuple[str, str, str]:
    meta = obj["metadata"]
    return (obj["kind"], meta.get("namespace", ""), meta["name"])


def manifests(overlay: str, removed: list[tuple[str, str, str]]) -> str:
    replaced = [d for d in yaml.safe_load_all(overlay) if d]
    drop = set(removed) | {key(d) for d in replaced}
    kept = [d for d in yaml.safe_load_all(BASE) if d and key(d) not in drop]
    return yaml.safe_dump_all(kept + replaced)


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("dns")
    with Store.open(folder / "store.duckdb") as store:
        for case, (overlay, removed, _) in CASES.items():
            path = write(folder / case / "objects.yaml", manifests(overlay, removed))
            assert run_source(store, KubernetesSource(), {"paths": [str(path)], "cluster": case}).status == "succeeded"
        assert run_source(store, AnalysisSource(), {}).status == "succeeded"
        path = write(folder / "unanalysed" / "objects.yaml", manifests("", []))  # collected after the analysis
        assert (
            run_source(store, KubernetesSource(), {"paths": [str(path)], "cluster": "unanalysed"}).status == "succeeded"
        )
        yield judge(store, "reachability", "dns-exceptions-modelled")


@pytest.mark.parametrize("case", CASES)
def test_each_counter_example_is_a_gap_naming_its_workloads(judged, case: str) -> None:
    expected = CASES[case][2]
    assert judged.clusters[case][0] == ("gap" if expected else "satisfied"), judged.clusters[case]
    gaps = [f for c, f in rows(judged.gaps, "cluster", "finding") if c == case]
    named = {i.split("[")[0] for c, i in rows(judged.gaps, "cluster", "id") if c == case}
    assert named == expected, gaps
    if not expected:
        resolved = {i.split("[")[0] for c, i in rows(judged.evidence, "cluster", "id") if c == case}
        assert resolved == {"shop/web", "shop/api"}


def test_a_cluster_without_an_analysis_is_a_gap_per_egress_isolated_namespace(judged) -> None:
    found = {(n, o, f.split(":")[0]) for c, n, o, f in rows(judged.gaps, "cluster", "namespace", "object", "finding")
             if c == "unanalysed"}  # fmt: skip
    assert found == {
        ("shop", "NetworkPolicy/default-deny", "no reachability analysis of cluster unanalysed"),
        ("shop", "NetworkPolicy/allow-dns", "no reachability analysis of cluster unanalysed"),
    }


def test_findings_say_what_blocks(judged) -> None:
    def finding(case: str) -> str:
        return next(f for c, i, f in rows(judged.gaps, "cluster", "id", "finding") if c == case and "web" in i)

    assert "egress: no rule of NetworkPolicy shop/allow-dns, shop/default-deny allows TCP 53" in finding("udp-only")
    assert "UDP 53 on kube-system/coredns[Deployment]" not in finding("udp-only").split("cannot resolve")[1]
    assert "ingress at kube-system/coredns[Deployment]" in finding("coredns-ingress-denies")
    assert "no cluster DNS Service" in finding("no-dns-service")
    assert "Service kube-system/kube-dns has no TCP port 53" in finding("service-udp-only")
    assert "allows UDP 53 on kube-system/coredns-b[Deployment]" in finding("second-backend-unreached")
    assert "coredns[Deployment]" not in finding("second-backend-unreached")
    node_local = "NodeLocal DNSCache (kube-system/node-local-dns[DaemonSet]) answers pods on"
    assert f"{node_local} 169.254.20.10: its egress allows UDP 53 only" in finding("node-local-udp-only")
    assert f"{node_local} 10.96.0.10: its egress allows neither UDP nor TCP 53" in finding("node-local-link-local-only")
    via = {c: v for c, v in rows(judged.evidence, "cluster", "via")}
    assert via["baseline"].startswith("Service kube-system/kube-dns: UDP 53 on kube-system/coredns[Deployment]")
    node_local_via = "NodeLocal DNSCache (kube-system/node-local-dns[DaemonSet]) on 169.254.20.10, 10.96.0.10"
    assert via["node-local"] == f"{node_local_via}: UDP and TCP 53"


@pytest.mark.parametrize(
    ("args", "addresses"),
    [
        (["-localip", "169.254.20.10"], ["169.254.20.10"]),  # IPVS mode: kubelet points pods at it
        (["-localip=169.254.20.10,10.96.0.10", "-conf", "/etc/Corefile"], ["10.96.0.10"]),  # iptables mode
        ([], ["169.254.20.10", "10.96.0.10"]),  # mode unknown
    ],
)
def test_node_local_addresses_follow_the_kube_proxy_mode(args: list[str], addresses: list[str]) -> None:
    objects = [d for d in yaml.safe_load_all(BASE + "---" + NODE_LOCAL) if d]
    objects[-1]["spec"]["template"]["spec"]["containers"][0]["args"] = args
    node_local = [w for w in Inventory.from_objects(objects).workloads if w.name == "node-local-dns"]
    found = node_local_addresses(objects, node_local, dns_services(objects))
    assert list(map(str, found)) == addresses
