"""The reachability engine: selectors, connection sets, address intervals, workloads, semantics, and agreement
with the naive evaluator on random inventories."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from random import Random

import pytest
import yaml

from collector.analysis.reachability import Inventory, ReachabilityError, analyze, diff_lines
from collector.analysis.reachability.addresses import elementary_intervals, interval_text, ipblock_intervals, merge_runs
from collector.analysis.reachability.attribution import HOST_NETWORK, NOT_ISOLATED, Attribution
from collector.analysis.reachability.bits import indices, span
from collector.analysis.reachability.conns import (
    ALL,
    EMPTY,
    ConnTable,
    conn_json,
    conn_of,
    conn_text,
    intersection,
    union,
)
from collector.analysis.reachability.naive import naive_analyze
from collector.analysis.reachability.result import expand_json
from collector.analysis.reachability.selectors import Selector

ROOT = Path(__file__).parents[1]
ADMIN_API = "policy.networking.k8s.io/v1alpha1"
V4_ALL, V6_ALL = "0.0.0.0-255.255.255.255", "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"


def objects(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(textwrap.dedent(text)) if d]


def lines(text: str) -> list[str]:
    inv = Inventory.from_objects(objects(text))
    result = analyze(inv)
    assert result.lines() == naive_analyze(inv).lines()  # every scenario also cross-checks the engine
    return result.lines()


def pairs(text: str) -> list[str]:
    """Lines between workloads only."""
    return [line for line in lines(text) if all("[" in side for side in line.split(" : ")[0].split(" => "))]


def pod(name: str, namespace: str = "ns", labels: str = "{}", ports: str = "[]") -> str:
    return f"""
---
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {namespace}, labels: {labels}}}
spec: {{containers: [{{name: c, ports: {ports}}}]}}
"""


def policy(name: str, spec: str, namespace: str = "ns") -> str:
    return f"""
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: {name}, namespace: {namespace}}}
spec: {spec}
"""


# selectors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ({}, {}, True),
        ({"matchLabels": {"app": "web"}}, {"app": "web", "x": "y"}, True),
        ({"matchLabels": {"app": "web"}}, {"app": "db"}, False),
        ({"matchExpressions": [{"key": "app", "operator": "In", "values": ["a", "b"]}]}, {"app": "b"}, True),
        ({"matchExpressions": [{"key": "app", "operator": "In", "values": ["a", "b"]}]}, {}, False),
        ({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["a"]}]}, {}, True),
        ({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["a"]}]}, {"app": "a"}, False),
        ({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, {"app": ""}, True),
        ({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, {"app": "x"}, False),
        ({"matchLabels": {"a": "1"}, "matchExpressions": [{"key": "b", "operator": "Exists"}]}, {"a": "1"}, False),
    ],
)
def test_selector_matching(selector: dict, labels: dict, expected: bool) -> None:
    assert Selector.parse(selector, "test").matches(labels) is expected


def test_selector_with_an_unknown_operator_is_an_error_naming_the_policy() -> None:
    text = policy("bad", "{podSelector: {matchExpressions: [{key: a, operator: Gt, values: ['1']}]}}")
    with pytest.raises(ReachabilityError, match=r"NetworkPolicy ns/bad spec.podSelector: unsupported matchExpr"):
        Inventory.from_objects(objects(text))


# connection sets -------------------------------------------------------------------------------------


def test_conn_algebra_merges_adjacent_and_overlapping_ranges() -> None:
    a = union(conn_of("TCP", 80, 80), conn_of("TCP", 81, 90))
    assert a == (((80, 90),), (), ())
    b = union(a, union(conn_of("TCP", 85, 100), conn_of("UDP", 53, 53)))
    assert b == (((80, 100),), ((53, 53),), ())
    assert intersection(b, union(conn_of("TCP", 1, 80), conn_of("TCP", 99, 200))) == (((80, 80), (99, 100)), (), ())
    assert intersection(b, conn_of("SCTP")) == EMPTY
    assert union(union(conn_of("TCP"), conn_of("UDP")), conn_of("SCTP")) == ALL
    assert intersection(ALL, b) == b


def test_conn_text_and_json() -> None:
    conn = union(union(conn_of("TCP", 443, 443), conn_of("TCP", 80, 80)), conn_of("TCP", 8000, 8010))
    conn = union(conn, conn_of("UDP", 53, 53))
    assert conn_text(conn) == "TCP 80,443,8000-8010;UDP 53"
    assert conn_json(conn) == {"TCP": "80,443,8000-8010", "UDP": "53"}
    assert conn_text(ALL) == "All Connections" and conn_json(ALL) == "all"
    assert conn_text(union(conn_of("TCP"), conn_of("SCTP", 9, 9))) == "TCP 1-65535;SCTP 9"


def test_conn_table_interns_and_memoizes() -> None:
    table = ConnTable()
    a, b = table.id(conn_of("TCP", 1, 10)), table.id(conn_of("TCP", 5, 20))
    assert table.id(conn_of("TCP", 1, 10)) == a
    assert table.conns[table.union(a, b)] == conn_of("TCP", 1, 20)
    table.intersections([(a, b)])
    assert table.conns[table.inter[(a, b)]] == conn_of("TCP", 5, 10)


def test_bitsets() -> None:
    assert indices(0) == [] and indices(0b10110) == [1, 2, 4]
    assert indices(span(3, 5) | 1 << 300) == [3, 4, 5, 300]


# addresses -------------------------------------------------------------------------------------------


def test_ipblock_intervals_subtract_the_exceptions() -> None:
    got = ipblock_intervals("10.0.0.0/8", ["10.1.0.0/16", "10.1.2.0/24", "192.168.0.0/16", "::/0"], "test")
    assert [interval_text(iv) for iv in got] == ["10.0.0.0-10.0.255.255", "10.2.0.0-10.255.255.255"]
    assert ipblock_intervals("10.0.0.5/24", None, "test") == [(4, 0x0A000000, 0x0A0000FF)]  # host bits ignored
    with pytest.raises(ReachabilityError, match=r"invalid ipBlock CIDR '10\.0\.0\.0/33'"):
        ipblock_intervals("10.0.0.0/33", [], "test")


def test_elementary_intervals_and_merging() -> None:
    block = ipblock_intervals("10.0.0.0/8", ["10.1.0.0/16"], "test")
    parts = elementary_intervals([block, ipblock_intervals("2001:db8::/32", [], "test")])
    assert [interval_text(iv) for iv in parts] == [
        "0.0.0.0-9.255.255.255",
        "10.0.0.0-10.0.255.255",
        "10.1.0.0-10.1.255.255",
        "10.2.0.0-10.255.255.255",
        "11.0.0.0-255.255.255.255",
        "::-2001:db7:ffff:ffff:ffff:ffff:ffff:ffff",
        "2001:db8::-2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
        "2001:db9::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    ]
    merged = merge_runs(parts, ["a", "a", "b", "a", "a", "a", "a", ""], "")
    assert [(interval_text(iv), v) for iv, v in merged] == [
        ("0.0.0.0-10.0.255.255", "a"),
        ("10.1.0.0-10.1.255.255", "b"),
        ("10.2.0.0-255.255.255.255", "a"),
        ("::-2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "a"),  # IPv4 and IPv6 never merged
    ]


# workloads -------------------------------------------------------------------------------------------

OWNED = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec: {template: {metadata: {labels: {app: web}}, spec: {containers: [{ports: [{name: http, containerPort: 8080}]}]}}}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web-5d, namespace: shop, ownerReferences: [{kind: Deployment, name: web, controller: true}]}
spec: {template: {metadata: {labels: {app: web, pod-template-hash: 5d}}}}
---
apiVersion: v1
kind: Pod
metadata:
  name: web-5d-x
  namespace: shop
  labels: {app: web, pod-template-hash: 5d}
  ownerReferences: [{kind: ReplicaSet, name: web-5d, controller: true}]
spec: {containers: [{ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: backup, namespace: shop}
spec: {jobTemplate: {spec: {template: {metadata: {labels: {app: backup}}}}}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: backup-1, namespace: shop, ownerReferences: [{kind: CronJob, name: backup, controller: true}]}
spec: {template: {metadata: {labels: {app: backup}}}}
---
apiVersion: v1
kind: Pod
metadata:
  name: api-7c-q
  namespace: shop
  labels: {app: api}
  ownerReferences: [{kind: ReplicaSet, name: api-7c, controller: true}]
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: cart-9f, namespace: shop, ownerReferences: [{kind: Deployment, name: cart, controller: true}]}
spec: {template: {metadata: {labels: {app: cart}}}}
---
apiVersion: v1
kind: Pod
metadata:
  name: kube-apiserver-node1
  namespace: kube-system
  labels: {component: apiserver}
  ownerReferences: [{kind: Node, name: node1, controller: true}]
---
apiVersion: v1
kind: Pod
metadata: {name: debug, labels: {run: debug}, ownerReferences: [{kind: ReplicaSet, name: x, controller: false}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop}
spec: {template: {metadata: {labels: {app: db}}}}
---
apiVersion: crd.projectcalico.org/v1
kind: NetworkPolicy
metadata: {name: calico-deny, namespace: shop}
spec: {selector: all()}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
"""


def test_pods_collapse_to_their_top_owner() -> None:
    inv = Inventory.from_objects(objects(OWNED))
    got = {w.id: (w.labels, w.named_ports) for w in inv.workloads}
    assert got == {
        "default/debug[Pod]": ({"run": "debug"}, ()),  # a non-controller owner reference is not followed
        "kube-system/kube-apiserver-node1[Pod]": ({"component": "apiserver"}, ()),  # static pods stay pods
        "shop/api-7c[ReplicaSet]": ({"app": "api"}, ()),  # owner absent: its pod describes it
        "shop/backup[CronJob]": ({"app": "backup"}, ()),
        "shop/cart[Deployment]": ({"app": "cart"}, ()),  # described by its ReplicaSet
        "shop/db[StatefulSet]": ({"app": "db"}, ()),
        "shop/web[Deployment]": ({"app": "web", "pod-template-hash": "5d"}, (("http", 8080, "TCP"),)),  # its pod
    }
    assert inv.policies == []  # a Calico NetworkPolicy is not a Kubernetes one
    assert inv.namespaces["shop"] == {"kubernetes.io/metadata.name": "shop"}  # implicit, no Namespace object


ROLLOUTS = """
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: notifier, namespace: pay}
spec:
  template:
    metadata: {labels: {app: notifier}}
    spec: {hostNetwork: true, containers: [{name: n, ports: [{name: http, containerPort: 8085}]}]}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: api, namespace: pay}
spec: {workloadRef: {apiVersion: apps/v1, kind: Deployment, name: api}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: pay}
spec: {replicas: 0, template: {metadata: {labels: {app: api}}}}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: api-6f
  namespace: pay
  ownerReferences: [{apiVersion: argoproj.io/v1alpha1, kind: Rollout, name: api, controller: true}]
spec: {template: {metadata: {labels: {app: api, rollouts-pod-template-hash: 6f}}}}
"""


def test_an_argo_rollout_is_a_workload_controller() -> None:
    """A Rollout's own pod template describes its pods; one with a workloadRef has none, so its ReplicaSets (and
    the Deployment it names) do."""
    got = {w.id: (w.labels, w.host_network) for w in Inventory.from_objects(objects(ROLLOUTS)).workloads}
    assert got == {
        "pay/notifier[Rollout]": ({"app": "notifier"}, True),
        "pay/api[Rollout]": ({"app": "api", "rollouts-pod-template-hash": "6f"}, False),
        "pay/api[Deployment]": ({"app": "api"}, False),
    }


def test_list_dumps_are_flattened_and_bad_objects_named() -> None:
    dump = {"kind": "List", "items": [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}}]}
    assert [w.id for w in Inventory.from_objects([dump, None]).workloads] == ["default/a[Pod]"]
    with pytest.raises(ReachabilityError, match=r"Pod \(object #0\): metadata.name is missing"):
        Inventory.from_objects([{"kind": "Pod", "metadata": {}}])
    with pytest.raises(ReachabilityError, match=r"object #1: expected a Kubernetes object"):
        Inventory.from_objects([dump, "text"])


OPERATOR_DATABASE = """
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: pg, namespace: db}
spec: {template: {metadata: {labels: {app: pg, role: primary}}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: db}
spec: {template: {metadata: {labels: {app: api}}}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: primary-from-api, namespace: db}
spec:
  podSelector: {matchLabels: {role: primary}}
  ingress: [{from: [{podSelector: {matchLabels: {app: api}}}], ports: [{port: 5432}]}]
"""


def operator_pod(name: str, role: str, revision: str) -> str:
    return f"""
---
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: db
  labels: {{app: pg, role: {role}, controller-revision-hash: {revision}, statefulset.kubernetes.io/pod-name: {name}}}
  ownerReferences: [{{kind: StatefulSet, name: pg, controller: true}}]
spec: {{containers: [{{ports: [{{name: pg, containerPort: 5432}}]}}]}}
"""


def test_pods_of_one_workload_with_different_labels_are_analysed_per_label_group() -> None:
    # An operator's template says role=primary; it relabels one pod as the replica. Described by its template, the
    # workload is isolated (only api reaches it on 5432) and the replica's openness is hidden.
    assert pairs(OPERATOR_DATABASE) == [
        "db/api[Deployment] => db/pg[StatefulSet] : TCP 5432",
        "db/pg[StatefulSet] => db/api[Deployment] : All Connections",
    ]
    pods = (
        operator_pod("pg-0", "primary", "7f")
        + operator_pod("pg-1", "replica", "7f")
        + operator_pod("pg-2", "replica", "8a")
    )
    assert pairs(OPERATOR_DATABASE + pods) == [
        "db/api[Deployment] => db/pg[StatefulSet]{role=primary} : TCP 5432",
        "db/api[Deployment] => db/pg[StatefulSet]{role=replica} : All Connections",
        "db/pg[StatefulSet]{role=primary} => db/api[Deployment] : All Connections",
        "db/pg[StatefulSet]{role=primary} => db/pg[StatefulSet]{role=replica} : All Connections",
        "db/pg[StatefulSet]{role=replica} => db/api[Deployment] : All Connections",
    ]  # labels no policy selects on (the revision, the pod name) split nothing
    only_replicas = OPERATOR_DATABASE + operator_pod("pg-1", "replica", "7f")
    assert [w.id for w in Inventory.from_objects(objects(only_replicas)).workloads] == [
        "db/api[Deployment]",
        "db/pg[StatefulSet]",  # one label group: no suffix, described by its pod (role=replica), not the template
    ]
    assert "db/api[Deployment] => db/pg[StatefulSet] : All Connections" in pairs(only_replicas)


# semantics -------------------------------------------------------------------------------------------


def test_no_policies_allows_everything_both_ways() -> None:
    assert lines(pod("a") + pod("b")) == [
        f"{V4_ALL} => ns/a[Pod] : All Connections",
        f"{V4_ALL} => ns/b[Pod] : All Connections",
        f"{V6_ALL} => ns/a[Pod] : All Connections",
        f"{V6_ALL} => ns/b[Pod] : All Connections",
        f"ns/a[Pod] => {V4_ALL} : All Connections",
        f"ns/a[Pod] => {V6_ALL} : All Connections",
        "ns/a[Pod] => ns/b[Pod] : All Connections",
        f"ns/b[Pod] => {V4_ALL} : All Connections",
        f"ns/b[Pod] => {V6_ALL} : All Connections",
        "ns/b[Pod] => ns/a[Pod] : All Connections",
    ]


def test_policy_types_default_and_isolation() -> None:
    base = pod("a", labels="{app: a}") + pod("b", labels="{app: b}")
    # An egress section makes the policy an Egress policy too; an empty egress list does not.
    egress = policy("p", "{podSelector: {matchLabels: {app: a}}, egress: [{ports: [{port: 53, protocol: UDP}]}]}")
    assert pairs(base + egress) == ["ns/a[Pod] => ns/b[Pod] : UDP 53"]  # a is isolated both ways
    assert pairs(base + policy("p", "{podSelector: {matchLabels: {app: a}}, egress: []}")) == [
        "ns/a[Pod] => ns/b[Pod] : All Connections"  # ingress-isolated a, egress unrestricted
    ]
    only_egress = policy("p", "{podSelector: {}, policyTypes: [Egress], ingress: [{}]}")
    assert pairs(base + only_egress) == []  # both egress-isolated with no rule; ingress rules ignored
    assert pairs(base + policy("p", "{podSelector: {}, ingress: [{}]}")) == [
        "ns/a[Pod] => ns/b[Pod] : All Connections",
        "ns/b[Pod] => ns/a[Pod] : All Connections",
    ]


def test_host_network_and_host_ports_are_outside_network_policy() -> None:
    """A hostNetwork pod shares the node's network namespace: NetworkPolicy does not isolate it, so every source
    reaches it on every port and it reaches every destination its peers' policies admit. A hostPort is forwarded
    from the node's addresses: every source reaches the pod on that port (kubernetes.io NetworkPolicy docs)."""
    deny = policy("deny", "{podSelector: {}, policyTypes: [Ingress, Egress]}")
    agent = """
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: ns}
spec:
  template:
    metadata: {labels: {app: agent}}
    spec:
      hostNetwork: true
      containers: [{name: c, ports: [{name: metrics, containerPort: 9100, hostPort: 9100}]}]
"""
    found = lines(pod("a", labels="{app: a}") + agent + deny)
    assert found == [
        f"{V4_ALL} => ns/agent[DaemonSet] : All Connections",
        f"{V6_ALL} => ns/agent[DaemonSet] : All Connections",
        f"ns/agent[DaemonSet] => {V4_ALL} : All Connections",
        f"ns/agent[DaemonSet] => {V6_ALL} : All Connections",
    ]  # a is isolated both ways (its egress to the agent is denied), the agent by nothing
    debug = pod("debug", labels="{app: debug}", ports="[{containerPort: 9091, hostPort: 9091}]")
    found = lines(pod("a", labels="{app: a}") + debug + policy("deny", "{podSelector: {}, policyTypes: [Ingress]}"))
    assert f"{V4_ALL} => ns/debug[Pod] : TCP 9091" in found
    assert "ns/a[Pod] => ns/debug[Pod] : TCP 9091" in found
    inv = Inventory.from_objects(objects(pod("a") + debug.replace("9091}]", "9091, protocol: UDP}, {hostPort: 0}]")))
    assert inv.workloads[1].host_ports == ((9091, "UDP"),)
    with pytest.raises(ReachabilityError, match="invalid host port"):
        Inventory.from_objects(objects(debug.replace("hostPort: 9091", "hostPort: 70000")))


def test_attribution_names_the_objects_that_admit_a_connection() -> None:
    base = pod("a", labels="{app: a}") + pod("b", "other", labels="{app: b}")
    base += policy("deny", "{podSelector: {}, policyTypes: [Ingress]}")
    base += policy("allow-all", "{podSelector: {}, ingress: [{}]}")
    base += policy("allow-b", "{podSelector: {}, ingress: [{from: [{namespaceSelector: {}}], ports: [{port: 80}]}]}")
    base += policy("vpn", "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8}}]}]}")
    why = Attribution(Inventory.from_objects(objects(base)))
    assert why.ingress("other/b[Pod]", "ns/a[Pod]") == ("NetworkPolicy ns/allow-all", "NetworkPolicy ns/allow-b")
    assert why.ingress("10.0.0.0-10.255.255.255", "ns/a[Pod]") == ("NetworkPolicy ns/allow-all", "NetworkPolicy ns/vpn")
    assert why.ingress("ns/a[Pod]", "other/b[Pod]") == (NOT_ISOLATED,)
    assert why.ingress("ns/a[Pod]", "nowhere/x[Pod]") == ()
    agent = pod("agent", labels="{app: agent}").replace("spec: {containers", "spec: {hostNetwork: true, containers")
    why = Attribution(Inventory.from_objects(objects(base + agent)))
    assert why.ingress("other/b[Pod]", "ns/agent[Pod]")[0] == HOST_NETWORK


def test_peers_namespaces_and_ipblocks() -> None:
    text = (
        """
apiVersion: v1
kind: Namespace
metadata: {name: prod, labels: {env: prod}}
"""
        + pod("client", "prod", "{role: client}")
        + pod("other", "prod", "{role: other}")
        + pod("client", "dev", "{role: client}")
        + pod("local", "ns", "{role: client}")
        + pod("server", "ns", "{app: server}")
        + policy(
            "allow",
            """
  podSelector: {matchLabels: {app: server}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {env: prod}}, podSelector: {matchLabels: {role: client}}}]
    ports: [{port: 80}]
  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: dev}}}]
    ports: [{port: 8000, endPort: 8010}, {protocol: SCTP}]
  - from: [{podSelector: {matchLabels: {role: client}}}, {ipBlock: {cidr: 192.0.2.0/24, except: [192.0.2.128/25]}}]
    ports: [{port: 22}]
""",
        )
    )
    assert [line for line in lines(text) if "=> ns/server" in line] == [
        "192.0.2.0-192.0.2.127 => ns/server[Pod] : TCP 22",
        "dev/client[Pod] => ns/server[Pod] : TCP 8000-8010;SCTP 1-65535",
        "ns/local[Pod] => ns/server[Pod] : TCP 22",
        "prod/client[Pod] => ns/server[Pod] : TCP 80",
    ]


def test_named_ports_resolve_against_the_destination() -> None:
    text = (
        pod("web", labels="{app: web}", ports="[{name: http, containerPort: 8080}, {name: dns, containerPort: 53}]")
        + pod(
            "api",
            labels="{app: api}",
            ports="[{name: http, containerPort: 9090}, {name: dns, containerPort: 53, protocol: UDP}]",
        )
        + policy(
            "p",
            """
  podSelector: {}
  policyTypes: [Ingress, Egress]
  ingress: [{ports: [{port: http}, {port: dns, protocol: UDP}]}]
  egress:
  - to: [{podSelector: {}}]
    ports: [{port: http}, {port: dns, protocol: UDP}]
  - to: [{ipBlock: {cidr: 0.0.0.0/0}}]
    ports: [{port: http}, {port: 443}]
""",
        )
    )
    assert lines(text) == [
        # ingress: each destination's own http port; dns/UDP only where the container port is UDP
        f"{V4_ALL} => ns/api[Pod] : TCP 9090;UDP 53",
        f"{V4_ALL} => ns/web[Pod] : TCP 8080",
        f"{V6_ALL} => ns/api[Pod] : TCP 9090;UDP 53",
        f"{V6_ALL} => ns/web[Pod] : TCP 8080",
        # egress to an ipBlock: the named port matches nothing
        f"ns/api[Pod] => {V4_ALL} : TCP 443",
        "ns/api[Pod] => ns/web[Pod] : TCP 8080",  # egress resolves against the peer: web's http, no UDP dns
        f"ns/web[Pod] => {V4_ALL} : TCP 443",
        "ns/web[Pod] => ns/api[Pod] : TCP 9090;UDP 53",
    ]


def test_ipblocks_never_match_workloads_and_adjacent_intervals_merge() -> None:
    text = (
        pod("a", labels="{app: a}")
        + pod("b", labels="{app: b}")
        + policy(
            "p",
            """
  podSelector: {matchLabels: {app: a}}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 0.0.0.0/0}}]
    ports: [{port: 443}]
  - to: [{ipBlock: {cidr: 10.0.0.0/9}}, {ipBlock: {cidr: 10.128.0.0/9}}, {ipBlock: {cidr: "2001:db8::/32"}}]
""",
        )
    )
    assert pairs(text) == ["ns/b[Pod] => ns/a[Pod] : All Connections"]
    assert Inventory.from_objects(objects(text)) and analyze(Inventory.from_objects(objects(text))).egress_from(
        "ns/a"
    ) == [
        "ns/a[Pod] => 0.0.0.0-9.255.255.255 : TCP 443",
        "ns/a[Pod] => 10.0.0.0-10.255.255.255 : All Connections",
        "ns/a[Pod] => 11.0.0.0-255.255.255.255 : TCP 443",
        "ns/a[Pod] => 2001:db8::-2001:db8:ffff:ffff:ffff:ffff:ffff:ffff : All Connections",
    ]


def test_identical_workloads_are_still_distinct_pairs() -> None:
    text = pod("a", labels="{app: x}") + pod("b", labels="{app: x}") + policy("p", "{podSelector: {}, ingress: []}")
    assert pairs(text) == []
    text = pod("a", labels="{app: x}") + pod("b", labels="{app: x}") + policy("p", "{podSelector: {}, ingress: [{}]}")
    assert pairs(text) == ["ns/a[Pod] => ns/b[Pod] : All Connections", "ns/b[Pod] => ns/a[Pod] : All Connections"]


def test_result_views_and_diff() -> None:
    old = analyze(Inventory.from_objects(objects(pod("a", labels="{app: a}") + pod("b", labels="{app: b}"))))
    deny = policy("p", "{podSelector: {matchLabels: {app: b}}, ingress: [{ports: [{port: 80}]}]}")
    new = analyze(Inventory.from_objects(objects(pod("a", labels="{app: a}") + pod("b", labels="{app: b}") + deny)))
    assert (
        new.ingress_to("ns/b")
        == new.ingress_to("ns/b[Pod]")
        == [
            f"{V4_ALL} => ns/b[Pod] : TCP 80",
            f"{V6_ALL} => ns/b[Pod] : TCP 80",
            "ns/a[Pod] => ns/b[Pod] : TCP 80",
        ]
    )
    assert new.egress_from(V4_ALL) == [f"{V4_ALL} => ns/a[Pod] : All Connections", f"{V4_ALL} => ns/b[Pod] : TCP 80"]
    assert {"src": "ns/a[Pod]", "dst": "ns/b[Pod]", "conn": {"TCP": "80"}} in new.to_json()
    assert {"src": "ns/b[Pod]", "dst": "ns/a[Pod]", "conn": "all"} in new.to_json()
    added, removed = diff_lines(old, new)
    assert added == [
        f"{V4_ALL} => ns/b[Pod] : TCP 80",
        f"{V6_ALL} => ns/b[Pod] : TCP 80",
        "ns/a[Pod] => ns/b[Pod] : TCP 80",
    ]
    assert removed == [
        f"{V4_ALL} => ns/b[Pod] : All Connections",
        f"{V6_ALL} => ns/b[Pod] : All Connections",
        "ns/a[Pod] => ns/b[Pod] : All Connections",
    ]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("{podSelector: {}, ingress: [{from: [{}]}]}", r"spec.ingress\[0\].from\[0\]: a peer needs podSelector"),
        ("{podSelector: {}, egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}]}]}", "cannot be combined"),
        ("{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: nope}}]}]}", "invalid ipBlock CIDR 'nope'"),
        ("{podSelector: {}, ingress: [{ports: [{protocol: ICMP}]}]}", "unsupported protocol 'ICMP'"),
        ("{podSelector: {}, ingress: [{ports: [{port: 90, endPort: 80}]}]}", r"ports\[0\]: invalid port range 90-80"),
        ("{podSelector: {}, policyTypes: [Both]}", "policyTypes must list Ingress and/or Egress"),
    ],
)
def test_invalid_policies_are_errors_naming_the_policy(spec: str, message: str) -> None:
    with pytest.raises(ReachabilityError, match=rf"NetworkPolicy team/bad.*{message}"):
        Inventory.from_objects(objects(policy("bad", spec, namespace="team")))


# agreement with the naive evaluator ------------------------------------------------------------------


def random_selector(rng: Random) -> dict:
    selector: dict = {}
    if rng.random() < 0.3:
        return selector
    if rng.random() < 0.5:
        selector["matchLabels"] = {rng.choice("abc"): rng.choice("12")}
    if rng.random() < 0.4:
        op = rng.choice(["In", "NotIn", "Exists", "DoesNotExist"])
        expr = {"key": rng.choice("abc"), "operator": op}
        if op in ("In", "NotIn"):
            expr["values"] = rng.sample(["1", "2", "3"], rng.randint(1, 2))
        selector["matchExpressions"] = [expr]
    return selector


def random_peer(rng: Random) -> dict:
    roll = rng.random()
    if roll < 0.3:
        base = rng.choice(["10.0.0.0/8", "10.0.0.0/16", "192.168.1.0/24", "0.0.0.0/0", "2001:db8::/32", "::/0"])
        excepts = {"10.0.0.0/8": ["10.0.1.0/24"], "0.0.0.0/0": ["10.0.0.0/8"], "::/0": ["2001:db8::/48"]}
        block = {"cidr": base, **({"except": excepts[base]} if base in excepts and rng.random() < 0.6 else {})}
        return {"ipBlock": block}
    peer = {}
    if roll < 0.75:
        peer["podSelector"] = random_selector(rng)
    if roll > 0.55:
        peer["namespaceSelector"] = random_selector(rng)
    return peer


def random_port(rng: Random) -> dict:
    port: dict = {}
    if rng.random() < 0.4:
        port["protocol"] = rng.choice(["TCP", "UDP", "SCTP"])
    roll = rng.random()
    if roll < 0.35:
        port["port"] = rng.choice([53, 80, 443])
    elif roll < 0.55:
        port.update(port=rng.choice([80, 8000]), endPort=rng.choice([8080, 9000]))
    elif roll < 0.85:
        port["port"] = rng.choice(["http", "dns", "metrics"])
    return port


def random_rules(rng: Random, peers: str) -> list[dict]:
    rules = []
    for _ in range(rng.choice([0, 1, 1, 2, 3])):
        rule: dict = {}
        if rng.random() < 0.7:
            rule[peers] = [random_peer(rng) for _ in range(rng.randint(0, 2))]
        if rng.random() < 0.8:
            rule["ports"] = [random_port(rng) for _ in range(rng.randint(0, 2))]
        rules.append(rule)
    return rules


def random_admin_port(rng: Random) -> dict:
    protocol = rng.choice(["TCP", "TCP", "UDP", "SCTP"])
    roll = rng.random()
    if roll < 0.4:
        return {"portNumber": {"protocol": protocol, "port": rng.choice([53, 80, 443, 8080])}}
    if roll < 0.7:
        return {"portRange": {"protocol": protocol, "start": rng.choice([53, 80]), "end": rng.choice([443, 9000])}}
    return {"namedPort": rng.choice(["http", "dns", "metrics"])}


def random_admin_peer(rng: Random, egress: bool) -> dict:
    roll = rng.random()
    if egress and roll < 0.15:
        return {"networks": rng.sample(["10.0.0.0/8", "192.168.1.0/24", "0.0.0.0/0", "2001:db8::/32"], 1)}
    if egress and roll < 0.2:
        return {"nodes": random_selector(rng)}
    if roll < 0.55:
        return {"namespaces": random_selector(rng)}
    return {"pods": {"namespaceSelector": random_selector(rng), "podSelector": random_selector(rng)}}


def random_admin_policy(rng: Random, name: str, baseline: bool) -> dict:
    """An AdminNetworkPolicy (priorities collide on purpose) or the BaselineAdminNetworkPolicy."""
    actions = ["Allow", "Deny"] if baseline else ["Allow", "Deny", "Pass"]
    if rng.random() < 0.5:
        subject: dict = {"namespaces": random_selector(rng)}
    else:
        subject = {"pods": {"namespaceSelector": random_selector(rng), "podSelector": random_selector(rng)}}
    spec: dict = {"subject": subject}
    if not baseline:
        spec["priority"] = rng.choice([0, 5, 5, 10])
    for section, peers in (("ingress", "from"), ("egress", "to")):
        rules = []
        for _ in range(rng.choice([0, 1, 2, 3])):
            rule: dict = {"action": rng.choice(actions), peers: [random_admin_peer(rng, section == "egress")]}
            if rng.random() < 0.6:
                rule["ports"] = [random_admin_port(rng) for _ in range(rng.randint(1, 2))]
            rules.append(rule)
        if rules:
            spec[section] = rules
    kind = "BaselineAdminNetworkPolicy" if baseline else "AdminNetworkPolicy"
    return {"apiVersion": ADMIN_API, "kind": kind, "metadata": {"name": name}, "spec": spec}


def random_inventory(seed: int) -> list[dict]:
    rng = Random(seed)
    out: list[dict] = []
    namespaces = ["n1", "n2", "n3"]
    for ns in namespaces[:2]:
        labels = {k: rng.choice("12") for k in rng.sample("abc", rng.randint(0, 2))}
        out.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}})
    for i in range(rng.randint(3, 8)):
        labels = {k: rng.choice("123") for k in rng.sample("abc", rng.randint(0, 3))}
        ports = [
            {"name": name, "containerPort": rng.choice([53, 80, 8080, 9090]), "protocol": rng.choice(["TCP", "UDP"])}
            for name in rng.sample(["http", "dns", "metrics"], rng.randint(0, 2))
        ]
        if rng.random() < 0.15:  # a hostPort, forwarded from the node outside NetworkPolicy
            ports.append({"containerPort": 9100, "hostPort": rng.choice([9100, 9101]), "protocol": "TCP"})
        meta = {"name": f"w{i}", "namespace": rng.choice(namespaces), "labels": labels}
        pod_spec: dict = {"containers": [{"ports": ports}]}
        if rng.random() < 0.1:
            pod_spec["hostNetwork"] = True
        out.append({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": pod_spec})
    for i in range(rng.randint(1, 6)):
        spec: dict = {"podSelector": random_selector(rng)}
        if rng.random() < 0.5:
            spec["policyTypes"] = rng.choice([["Ingress"], ["Egress"], ["Ingress", "Egress"]])
        if rng.random() < 0.8:
            spec["ingress"] = random_rules(rng, "from")
        if rng.random() < 0.6:
            spec["egress"] = random_rules(rng, "to")
        meta = {"name": f"p{i}", "namespace": rng.choice(namespaces)}
        out.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta, "spec": spec})
    if rng.random() < 0.5:  # admin policies
        out.extend(random_admin_policy(rng, f"a{i}", False) for i in range(rng.randint(1, 3)))
        if rng.random() < 0.5:
            out.append(random_admin_policy(rng, "default", True))
    return out


def test_engine_agrees_with_the_naive_evaluator_on_random_inventories() -> None:
    restricted, uncertain, conns = 0, 0, set()
    for seed in range(600):
        inv = Inventory.from_objects(random_inventory(seed))
        engine_result, naive_result = analyze(inv), naive_analyze(inv)
        engine, naive = engine_result.lines(), naive_result.lines()
        assert engine == naive, f"seed {seed}: {sorted(set(engine) ^ set(naive))}"
        assert engine_result.unmodelled == naive_result.unmodelled, f"seed {seed}"
        uncertain += bool(engine_result.unmodelled)
        restricted += any("All Connections" not in line for line in engine)
        conns |= {line.rsplit(" : ", 1)[1] for line in engine}
    assert restricted > 100 and len(conns) > 50  # the inventories exercise restricted connections
    assert uncertain > 20  # and admin rules whose peers' addresses are unknown


def test_class_level_result_expands_to_the_same_lines() -> None:
    # what is stored (the class rows, the artifact's JSON) and what `reach` expands for one workload are the lines
    merged = 0
    for seed in range(0, 600, 5):
        inv = Inventory.from_objects(random_inventory(seed))
        result = analyze(inv)
        lines = result.lines()
        classes = result.classes
        assert classes is not None
        assert expand_json(json.loads(json.dumps(classes.to_json()))) == lines, f"seed {seed}"
        assert classes.json_text() == json.dumps(classes.to_json(), sort_keys=True, separators=(",", ":"))
        merged += len(classes.members) < len(inv.workloads)
        for w in inv.workloads[:3]:
            fresh = analyze(inv)  # select() before lines(): expanded from the classes alone
            assert fresh.format(fresh.select(dst=w.id)) == [
                x for x in lines if x.split(" => ")[1].split(" : ")[0] == w.id
            ]
            assert fresh.format(fresh.select(src=w.id)) == [x for x in lines if x.split(" => ")[0] == w.id]
    assert merged > 10  # workloads that no selector tells apart share a class


def test_benchmark_runs_and_engine_agrees_with_naive() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "reachability.py"), "--workloads", "120", "--policies", "60"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "120 workloads, 60 policies" in done.stdout
    assert "engine: " in done.stdout and "naive: " in done.stdout and "ratio naive/engine: " in done.stdout
    assert "engine and naive agree on " in done.stdout, done.stdout


def test_admitting_read_off_the_engine_rules_names_what_attribution_names() -> None:
    # inventories of NetworkPolicies alone: the engine's bit tests give Attribution's reasons for every stored row
    checked = 0
    for seed in range(0, 600, 3):
        inv = Inventory.from_objects(random_inventory(seed))
        classes = analyze(inv).classes
        assert classes is not None
        if inv.admin_policies():
            assert classes.admitting is None
            continue
        assert classes.admitting is not None
        why, first = Attribution(inv), [classes.ids[m[0]] for m in classes.members]
        for src, dst, external, _ in classes.rows():
            if dst is not None:
                expected = why.ingress(first[src] if src is not None else external or "", first[dst])
            else:
                expected = why.egress(first[src] if src is not None else "", external or "")
            assert classes.admitting.reasons(src, dst, external) == expected, f"seed {seed}: {src} {dst} {external}"
            checked += 1
    assert checked > 1000
