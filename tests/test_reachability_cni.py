"""Cilium and Calico policies in the reachability engine: each rule on a small inventory written from the upstream
docs (each scenario is also checked against the naive evaluator), what is not modelled, Calico selector
expressions, and agreement with the naive evaluator on random inventories."""

from __future__ import annotations

import re
import textwrap
from random import Random

import pytest
import yaml
from test_reachability_engine import random_admin_policy

from collector.analysis.reachability import Inventory, ReachabilityError, analyze
from collector.analysis.reachability.calico_selectors import CalicoSelector
from collector.analysis.reachability.naive import naive_analyze
from collector.analysis.reachability.unmodelled import Unmodelled

V4_ALL, V6_ALL = "0.0.0.0-255.255.255.255", "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"

# shop/web, shop/db (named port pg), other/cli; namespaces labelled team
BASE = """
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: a}}
---
apiVersion: v1
kind: Namespace
metadata: {name: other, labels: {team: b}}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: shop, labels: {app: db, tier: data}}
spec: {containers: [{name: c, ports: [{name: pg, containerPort: 5432}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: cli, namespace: other, labels: {app: cli}}
spec: {containers: [{name: c}]}
"""
WEB, DB, CLI = "shop/web[Pod]", "shop/db[Pod]", "other/cli[Pod]"


def analysed(*docs: str):
    objects = [d for d in yaml.safe_load_all(BASE + "".join("---\n" + textwrap.dedent(d) for d in docs)) if d]
    inv = Inventory.from_objects(objects)
    result = analyze(inv)
    assert result.lines() == naive_analyze(inv).lines()  # every scenario also cross-checks the engine
    return result


def into(dst: str, *docs: str) -> dict[str, str]:
    """src -> connections into ``dst``."""
    return {line.split(" => ")[0]: line.rsplit(" : ", 1)[1] for line in analysed(*docs).ingress_to(dst)}


def out_of(src: str, *docs: str) -> dict[str, str]:
    return {
        line.split(" => ")[1].split(" : ")[0]: line.rsplit(" : ", 1)[1] for line in analysed(*docs).egress_from(src)
    }


def cnp(spec: str, name: str = "p", namespace: str = "shop", kind: str = "CiliumNetworkPolicy") -> str:
    meta = f"{{name: {name}, namespace: {namespace}}}" if kind == "CiliumNetworkPolicy" else f"{{name: {name}}}"
    body = textwrap.indent(textwrap.dedent(spec), "  ")
    return f"apiVersion: cilium.io/v2\nkind: {kind}\nmetadata: {meta}\nspec:\n{body}\n"


def calico(spec: str, name: str = "p", namespace: str | None = "shop") -> str:
    kind = "NetworkPolicy" if namespace else "GlobalNetworkPolicy"
    meta = f"{{name: {name}, namespace: {namespace}}}" if namespace else f"{{name: {name}}}"
    body = textwrap.indent(textwrap.dedent(spec), "  ")
    return f"apiVersion: projectcalico.org/v3\nkind: {kind}\nmetadata: {meta}\nspec:\n{body}\n"


ALL = "All Connections"
DB_SELECTED = "endpointSelector: {matchLabels: {app: db}}\n"


# Cilium ----------------------------------------------------------------------------------------------------------


def test_cilium_allow_rule_isolates_the_selected_endpoint() -> None:
    spec = DB_SELECTED + (
        "ingress:\n- fromEndpoints: [{matchLabels: {app: web}}]\n  toPorts: [{ports: [{port: '5432', protocol: TCP}]}]"
    )
    assert into(DB, cnp(spec)) == {WEB: "TCP 5432"}
    assert out_of(DB, cnp(spec))[CLI] == ALL  # no egress section: egress stays open


def test_cilium_endpoint_selectors_stay_in_the_policy_namespace_unless_they_name_one() -> None:
    same = DB_SELECTED + "ingress: [{fromEndpoints: [{matchLabels: {app: cli}}]}]"
    assert into(DB, cnp(same)) == {}
    named = (
        DB_SELECTED + "ingress: [{fromEndpoints: [{matchLabels: {app: cli, k8s:io.kubernetes.pod.namespace: other}}]}]"
    )
    assert into(DB, cnp(named)) == {CLI: ALL}
    by_label = DB_SELECTED + "ingress: [{fromEndpoints: [{matchLabels: {io.cilium.k8s.namespace.labels.team: b}}]}]"
    assert into(DB, cnp(by_label)) == {CLI: ALL}
    everyone = DB_SELECTED + "ingress: [{fromEndpoints: [{}]}]"
    assert into(DB, cnp(everyone)) == {WEB: ALL}


@pytest.mark.parametrize(
    ("entities", "expected"),
    [
        ("[world]", {V4_ALL: ALL, V6_ALL: ALL}),
        ("[cluster]", {WEB: ALL, CLI: ALL}),
        ("[all]", {WEB: ALL, CLI: ALL, V4_ALL: ALL, V6_ALL: ALL}),
        ("[host, remote-node, kube-apiserver]", {}),
    ],
)
def test_cilium_entities(entities: str, expected: dict[str, str]) -> None:
    assert into(DB, cnp(DB_SELECTED + f"ingress: [{{fromEntities: {entities}}}]")) == expected


def test_cilium_deny_rules_take_precedence_over_allows() -> None:
    spec = DB_SELECTED + (
        "ingress: [{fromEntities: [all]}]\n"
        "ingressDeny: [{fromEndpoints: [{matchLabels: {app: web}}], toPorts: [{ports: [{port: '80', protocol: TCP}]}]}]"
    )
    assert into(DB, cnp(spec))[WEB] == "TCP 1-79,81-65535;UDP 1-65535;SCTP 1-65535"
    # a deny in another policy, even a Kubernetes NetworkPolicy's allow, does not undo it
    knp = (
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: k, namespace: shop}\n"
        "spec: {podSelector: {}, ingress: [{}]}\n"
    )
    assert into(DB, cnp(spec), knp)[WEB] == "TCP 1-79,81-65535;UDP 1-65535;SCTP 1-65535"


def test_cilium_default_deny_and_enable_default_deny() -> None:
    deny_only = DB_SELECTED + "ingressDeny: [{fromEndpoints: [{matchLabels: {app: web}}]}]"
    assert into(DB, cnp(deny_only)) == {}  # selected by a rule with an ingress section: default deny
    relaxed = deny_only + "\nenableDefaultDeny: {ingress: false}"
    assert into(DB, cnp(relaxed)) == {CLI: ALL, V4_ALL: ALL, V6_ALL: ALL}
    assert into(DB, cnp(DB_SELECTED + "ingress: [{}]")) == {}  # the documented "deny all ingress"
    egress_only = DB_SELECTED + "egress: [{toEntities: [world]}]"
    assert into(DB, cnp(egress_only))[WEB] == ALL and out_of(DB, cnp(egress_only)) == {V4_ALL: ALL, V6_ALL: ALL}


def test_cilium_ports_cidrs_and_knp_union() -> None:
    l4_only = DB_SELECTED + "ingress: [{toPorts: [{ports: [{port: '53'}]}]}]"  # protocol ANY, every peer
    assert into(DB, cnp(l4_only))[V4_ALL] == "TCP 53;UDP 53;SCTP 53"
    assert (
        into(DB, cnp(DB_SELECTED + "ingress: [{toPorts: [{ports: [{port: pg, protocol: TCP}]}]}]"))[WEB] == "TCP 5432"
    )
    cidr = DB_SELECTED + "egress: [{toCIDRSet: [{cidr: 10.0.0.0/8, except: [10.1.0.0/16]}]}]"
    assert out_of(DB, cnp(cidr)) == {"10.0.0.0-10.0.255.255": ALL, "10.2.0.0-10.255.255.255": ALL}
    knp = (
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: k, namespace: shop}\n"
        "spec: {podSelector: {matchLabels: {app: db}}, ingress: [{from: [{podSelector: {matchLabels: {app: web}}}]}]}\n"
    )
    spec = DB_SELECTED + "ingress: [{fromEntities: [world], toPorts: [{ports: [{port: '443', protocol: TCP}]}]}]"
    assert into(DB, cnp(spec), knp) == {WEB: ALL, V4_ALL: "TCP 443", V6_ALL: "TCP 443"}


def test_cilium_clusterwide_policies_select_every_namespace() -> None:
    spec = "endpointSelector: {}\ningress: [{fromEndpoints: [{matchLabels: {app: web}}]}]"
    ccnp = cnp(spec, kind="CiliumClusterwideNetworkPolicy")
    assert into(CLI, ccnp) == {WEB: ALL} and into(DB, ccnp) == {WEB: ALL}
    scoped = "endpointSelector: {matchLabels: {k8s:io.kubernetes.pod.namespace: other}}\ningress: [{}]"
    assert into(DB, cnp(scoped, kind="CiliumClusterwideNetworkPolicy"))[CLI] == ALL
    assert into(CLI, cnp(scoped, kind="CiliumClusterwideNetworkPolicy")) == {}


def test_cilium_l7_fqdn_and_node_policies_are_reported_not_modelled() -> None:
    l7 = DB_SELECTED + (
        "ingress: [{fromEndpoints: [{matchLabels: {app: web}}], toPorts: [{ports: [{port: '80', protocol: TCP}], "
        "rules: {http: [{method: GET}]}}]}]"
    )
    result = analysed(cnp(l7, name="l7"))
    assert result.ingress_to(DB) == [f"{WEB} => {DB} : TCP 80"]  # L4 as declared
    [entry] = result.unmodelled
    assert (entry.src, entry.dst, entry.policy_kind, entry.policy_namespace, entry.policy_name) == (
        WEB, DB, "CiliumNetworkPolicy", "shop", "l7",
    )  # fmt: skip
    assert "L7 rules (http)" in entry.why
    fqdn = DB_SELECTED + "egress: [{toFQDNs: [{matchName: api.example.com}]}]"
    result = analysed(cnp(fqdn))
    assert result.egress_from(DB) == [f"{DB} => {V4_ALL} : {ALL}", f"{DB} => {V6_ALL} : {ALL}"]
    assert {(u.src, u.dst) for u in result.unmodelled} == {(DB, V4_ALL), (DB, V6_ALL)}
    host = cnp("nodeSelector: {}\ningress: [{}]", name="nodes", kind="CiliumClusterwideNetworkPolicy")
    result = analysed(host)
    assert result.ingress_to(DB)[0].endswith(ALL) and len(result.ingress_to(DB)) == 4
    assert result.unmodelled == [
        Unmodelled(
            None,
            None,
            "CiliumClusterwideNetworkPolicy",
            None,
            "nodes",
            "nodeSelector (host policy: selects nodes, not pods)",
        )
    ]


# Calico ----------------------------------------------------------------------------------------------------------


def test_calico_order_decides_first_match() -> None:
    deny_web = "selector: app == 'db'\norder: 100\ningress: [{action: Deny, source: {selector: app == 'web'}}]"
    allow_all = "selector: app == 'db'\norder: 200\ningress: [{action: Allow}]"
    assert into(DB, calico(deny_web, "a"), calico(allow_all, "b")) == {CLI: ALL, V4_ALL: ALL, V6_ALL: ALL}
    later = deny_web.replace("order: 100", "order: 300")
    assert into(DB, calico(later, "a"), calico(allow_all, "b"))[WEB] == ALL
    unset = deny_web.replace("order: 100\n", "")  # no order: after every ordered policy
    assert into(DB, calico(unset, "a"), calico(allow_all, "b"))[WEB] == ALL


def test_calico_end_of_tier_deny_pass_and_log() -> None:
    only_web = "selector: app == 'db'\ningress: [{action: Log}, {action: Allow, source: {selector: app == 'web'}}]"
    assert into(DB, calico(only_web)) == {WEB: ALL}
    tier = "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: security}\nspec: {order: 100}\n"
    passing = (
        "tier: security\nselector: all()\ningress:\n"
        "- {action: Pass, source: {namespaceSelector: team == 'b'}}\n- {action: Deny}"
    )
    knp = (
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: k, namespace: shop}\n"
        "spec: {podSelector: {matchLabels: {app: db}}, ingress: [{ports: [{port: 8080}]}]}\n"
    )
    assert into(DB, tier, calico(passing, "sec", None), knp) == {CLI: "TCP 8080"}
    assert into(WEB, tier, calico(passing, "sec", None), knp) == {CLI: ALL}  # passed, no later tier: allowed
    pass_tier = tier.replace("{order: 100}", "{order: 100, defaultAction: Pass}")
    open_tier = "tier: security\nselector: all()\ningress: [{action: Deny, source: {selector: app == 'web'}}]"
    assert into(DB, pass_tier, calico(open_tier, "sec", None)) == {CLI: ALL, V4_ALL: ALL, V6_ALL: ALL}


def test_calico_kubernetes_policies_sit_at_order_1000_of_the_default_tier() -> None:
    knp = (
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: k, namespace: shop}\n"
        "spec: {podSelector: {}, ingress: [{}]}\n"
    )
    deny = "selector: app == 'db'\norder: 500\ningress: [{action: Deny, source: {namespaceSelector: all()}}]"
    assert into(DB, calico(deny), knp) == {V4_ALL: ALL, V6_ALL: ALL}
    assert into(DB, calico(deny.replace("500", "1500")), knp)[CLI] == ALL


def test_calico_types_selectors_nets_and_ports() -> None:
    egress = (
        "selector: app == 'db'\n"
        "egress: [{action: Allow, protocol: TCP, destination: {nets: [10.0.0.0/8], ports: [443, '8000:8080']}}]"
    )
    assert into(DB, calico(egress))[WEB] == ALL  # types default to Egress only
    assert out_of(DB, calico(egress)) == {"10.0.0.0-10.255.255.255": "TCP 443,8000-8080"}
    expr = (
        "selector: has(tier) && tier in {'data'}\n"
        "ingress: [{action: Allow, source: {selector: app != 'web' && !has(x)}}]"
    )
    assert into(DB, calico(expr)) == {}  # the same namespace only: cli is elsewhere, web excluded
    other = (
        "selector: app == 'db'\n"
        "ingress: [{action: Allow, protocol: 17, source: {namespaceSelector: projectcalico.org/name == 'other'}}]"
    )
    assert into(DB, calico(other)) == {CLI: "UDP 1-65535"}
    named = "selector: app == 'db'\ningress: [{action: Allow, protocol: TCP, destination: {ports: [pg]}}]"
    assert into(DB, calico(named))[WEB] == "TCP 5432"


def test_calico_unmodelled_parts_are_reported_and_over_approximate_allows() -> None:
    http = (
        "selector: app == 'db'\n"
        "ingress: [{action: Allow, http: {methods: [GET]}, source: {serviceAccounts: {names: [x]}}}]"
    )
    result = analysed(calico(http, "h"))
    assert result.ingress_to(DB)[0] == f"{V4_ALL} => {DB} : {ALL}"  # every peer it could match
    [entry] = result.unmodelled
    assert (entry.src, entry.dst, entry.policy_kind) == (None, DB, "NetworkPolicy.projectcalico.org")
    assert "http" in entry.why and "serviceAccounts" in entry.why


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (calico("selector: app == web"), "NetworkPolicy shop/p spec.selector: invalid selector"),
        (calico("ingress: [{action: Maybe}]"), "spec.ingress[0].action: must be one of"),
        (calico("ingress: [{action: Allow, destination: {ports: [80]}}]"), "need protocol TCP, UDP or SCTP"),
        (cnp(DB_SELECTED + "ingress: [{fromEntities: [moon]}]"), "unknown entity 'moon'"),
        (cnp(DB_SELECTED + "ingress: [{toPorts: [{ports: [{port: '90', endPort: 80}]}]}]"), "invalid port range"),
    ],
)
def test_invalid_cni_policies_are_errors_naming_the_object(doc: str, message: str) -> None:
    with pytest.raises(ReachabilityError, match=re.escape(message)):
        analysed(doc)


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("app == 'web'", {"app": "web"}, True),
        ("app != 'web'", {}, True),
        ("app not in {'a', 'b'}", {}, True),
        ("app in {'a', 'b'}", {}, False),
        ("!has(app) || app == 'x'", {"app": "y"}, False),
        ("a == 'x' || b == 'y' && has(c)", {"a": "x"}, True),
        ("(a == 'x' || b == 'y') && has(c)", {"a": "x"}, False),
        ("name starts with 'we' && name ends with 'eb' && name contains 'e'", {"name": "web"}, True),
        ("all()", {}, True),
        ("global()", {}, False),
        ("", {"x": "1"}, True),
    ],
)
def test_calico_selector_expressions(text: str, labels: dict, expected: bool) -> None:
    assert CalicoSelector.parse(text, "here").matches(labels) is expected


# agreement with the naive evaluator --------------------------------------------------------------------------


def random_cilium(rng: Random, i: int) -> dict:
    def selector() -> dict:
        labels = {rng.choice("ab"): rng.choice("12")} if rng.random() < 0.6 else {}
        if rng.random() < 0.3:
            labels["k8s:io.kubernetes.pod.namespace"] = rng.choice(["n1", "n2"])
        return {"matchLabels": labels}

    def rule(peer: str) -> dict:
        r: dict = {}
        roll = rng.random()
        if roll < 0.3:
            r[f"{peer}Endpoints"] = [selector() for _ in range(rng.randint(1, 2))]
        elif roll < 0.5:
            r[f"{peer}Entities"] = [rng.choice(["world", "cluster", "all", "host"])]
        elif roll < 0.7:
            r[f"{peer}CIDRSet"] = [
                {"cidr": "10.0.0.0/8", **({"except": ["10.1.0.0/16"]} if rng.random() < 0.5 else {})}
            ]
        if rng.random() < 0.6:
            port = rng.choice([{"port": "80", "protocol": "TCP"}, {"port": "53"}, {"port": "http", "protocol": "TCP"}])
            r["toPorts"] = [{"ports": [port]}]
        return r

    spec: dict = {"endpointSelector": selector()}
    for section, peer in (("ingress", "from"), ("ingressDeny", "from"), ("egress", "to"), ("egressDeny", "to")):
        if rng.random() < 0.4:
            spec[section] = [rule(peer) for _ in range(rng.randint(1, 2))]
    if rng.random() < 0.2:
        spec["enableDefaultDeny"] = {"ingress": rng.random() < 0.5, "egress": rng.random() < 0.5}
    clusterwide = rng.random() < 0.3
    kind = "CiliumClusterwideNetworkPolicy" if clusterwide else "CiliumNetworkPolicy"
    meta = {"name": f"c{i}"} if clusterwide else {"name": f"c{i}", "namespace": rng.choice(["n1", "n2"])}
    return {"apiVersion": "cilium.io/v2", "kind": kind, "metadata": meta, "spec": spec}


def random_calico(rng: Random, i: int) -> dict:
    def selector() -> str:
        return rng.choice(["all()", "a == '1'", "has(b)", "a != '2' && !has(c)", "b in {'1', '2'} || a == '2'"])

    def rule() -> dict:
        r: dict = {"action": rng.choice(["Allow", "Allow", "Deny", "Pass", "Log"])}
        side: dict = {}
        roll = rng.random()
        if roll < 0.4:
            side["selector"] = selector()
        elif roll < 0.55:
            side["namespaceSelector"] = rng.choice(["all()", "projectcalico.org/name == 'n1'"])
        elif roll < 0.7:
            side["nets"] = [rng.choice(["10.0.0.0/8", "10.1.0.0/16", "192.168.0.0/24"])]
        if rng.random() < 0.2:
            side["notSelector"] = selector()
        if rng.random() < 0.15:
            side["notNets"] = ["10.1.0.0/16"]
        if rng.random() < 0.5:
            r["protocol"] = rng.choice(["TCP", "UDP"])
            if rng.random() < 0.6:
                r["destination"] = {"ports": [rng.choice([80, "53", "8000:8080", "http"])]}
            if rng.random() < 0.2:
                r.setdefault("destination", {})["notPorts"] = [rng.choice([80, "8000:8010"])]
        elif rng.random() < 0.2:
            r["notProtocol"] = rng.choice(["TCP", "UDP"])
        r.setdefault("destination", {}).update(side) if rng.random() < 0.5 else r.update(source=side)
        local = "source" if "destination" in r and side is r["destination"] else "destination"
        if rng.random() < 0.2:
            r.setdefault(local, {})["selector"] = selector()
        return r

    spec: dict = {"selector": selector(), "order": rng.choice([None, 100, 1000, 2000])}
    spec["ingress"] = [rule() for _ in range(rng.randint(0, 3))]
    spec["egress"] = [rule() for _ in range(rng.randint(0, 2))]
    if rng.random() < 0.3:
        spec["tier"] = "security"
    glob = rng.random() < 0.3
    kind = "GlobalNetworkPolicy" if glob else "NetworkPolicy"
    meta = {"name": f"k{i}"} if glob else {"name": f"k{i}", "namespace": rng.choice(["n1", "n2"])}
    return {"apiVersion": "projectcalico.org/v3", "kind": kind, "metadata": meta, "spec": spec}


def random_inventory(seed: int) -> list[dict]:
    rng = Random(seed)
    out: list[dict] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in ("n1", "n2")]
    for i in range(rng.randint(3, 6)):
        labels = {k: rng.choice("12") for k in rng.sample("abc", rng.randint(0, 2))}
        ports = [{"name": "http", "containerPort": rng.choice([80, 8080])}] if rng.random() < 0.5 else []
        meta = {"name": f"w{i}", "namespace": rng.choice(["n1", "n2"]), "labels": labels}
        out.append({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": {"containers": [{"ports": ports}]}})
    if rng.random() < 0.5:
        out.append({"apiVersion": "projectcalico.org/v3", "kind": "Tier", "metadata": {"name": "security"},
                    "spec": {"order": 50, "defaultAction": rng.choice(["Deny", "Pass"])}})  # fmt: skip
    enforcers = rng.choice([("cilium",), ("calico",), ("cilium", "calico")])
    for i in range(rng.randint(1, 4)):
        enforcer = rng.choice(enforcers)
        out.append(random_cilium(rng, i) if enforcer == "cilium" else random_calico(rng, i))
    if rng.random() < 0.4:
        spec = {"podSelector": {"matchLabels": {"a": "1"}}, "ingress": [{"ports": [{"port": 80}]}]}
        meta = {"name": "knp", "namespace": "n1"}
        out.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta, "spec": spec})
    if rng.random() < 0.4:  # admin policies: a connection must pass them and the CNI's policies
        out.extend(random_admin_policy(rng, f"a{i}", False) for i in range(rng.randint(1, 2)))
        if rng.random() < 0.5:
            out.append(random_admin_policy(rng, "default", True))
    return out


def test_engine_agrees_with_the_naive_evaluator_on_random_cni_inventories() -> None:
    restricted, admin = 0, 0
    for seed in range(300):
        inv = Inventory.from_objects(random_inventory(seed))
        engine_result, naive_result = analyze(inv), naive_analyze(inv)
        engine, naive = engine_result.lines(), naive_result.lines()
        assert engine == naive, f"seed {seed}: {sorted(set(engine) ^ set(naive))}"
        assert engine_result.unmodelled == naive_result.unmodelled, f"seed {seed}"
        restricted += any(ALL not in line for line in engine)
        admin += bool(inv.admin or inv.baseline)
    assert restricted > 100 and admin > 80


def test_unmodelled_parts_never_deny_and_reserved_labels_select_no_pod() -> None:
    deny_sa = "selector: app == 'db'\norder: 1\ningress: [{action: Deny, source: {serviceAccounts: {names: [x]}}}]\n"
    allow = "selector: app == 'db'\norder: 2\ningress: [{action: Allow}]"
    assert into(DB, calico(deny_sa, "d"), calico(allow, "a"))[WEB] == ALL
    v4 = "selector: app == 'db'\ningress: [{action: Allow, ipVersion: 4}]"
    assert into(DB, calico(v4)) == {WEB: ALL, CLI: ALL, V4_ALL: ALL}
    requires = (
        DB_SELECTED + "ingress: [{fromEntities: [all]}]\ningressDeny: [{fromEntities: [all], fromRequires: [{}]}]"
    )
    assert into(DB, cnp(requires))[WEB] == ALL
    host = cnp("endpointSelector: {matchLabels: {reserved:host: ''}}\ningress: [{}]")
    assert into(DB, host)[WEB] == ALL  # a host policy: no pod is isolated
    group = analysed(cnp(DB_SELECTED + "ingress: [{fromCIDRSet: [{cidrGroupRef: partners}]}]"))
    assert group.ingress_to(DB)[0] == f"{V4_ALL} => {DB} : {ALL}"  # every peer it could match
    assert [(u.src, u.dst) for u in group.unmodelled] == [(None, DB)]


def test_attribution_names_cilium_and_calico_policies() -> None:
    from collector.analysis.reachability.attribution import NOT_DENIED, Attribution

    docs = [
        cnp(DB_SELECTED + "ingress: [{fromEndpoints: [{matchLabels: {app: web}}]}]", name="db-in"),
        cnp(DB_SELECTED + "ingress: [{fromEntities: [world]}]\nenableDefaultDeny: {ingress: false}", name="loose"),
    ]
    objects = [d for d in yaml.safe_load_all(BASE + "".join("---\n" + d for d in docs)) if d]
    attribution = Attribution(Inventory.from_objects(objects))
    assert attribution.ingress(WEB, DB) == ("CiliumNetworkPolicy shop/db-in",)
    assert attribution.ingress("1.2.3.4-1.2.3.4", DB) == ("CiliumNetworkPolicy shop/loose",)
    calico_pass = calico("selector: app == 'web'\ningress: [{action: Pass}]")
    objects = [d for d in yaml.safe_load_all(BASE + "---\n" + calico_pass) if d]
    assert Attribution(Inventory.from_objects(objects)).ingress(CLI, WEB) == (NOT_DENIED,)


def test_calico_selectors_match_network_sets() -> None:
    sets = (
        "apiVersion: projectcalico.org/v3\nkind: NetworkSet\nmetadata: {name: partners, namespace: shop, "
        "labels: {role: partner}}\nspec: {nets: [198.51.100.0/24]}\n---\n"
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\n"
        "metadata: {name: scanners, labels: {role: scanner}}\nspec: {nets: [203.0.113.0/24]}\n"
    )
    in_ns = "selector: app == 'db'\ningress: [{action: Allow, source: {selector: role == 'partner'}}]"
    assert into(DB, sets, calico(in_ns)) == {"198.51.100.0-198.51.100.255": ALL}
    elsewhere = "selector: app == 'db'\ningress: [{action: Allow, source: {selector: role == 'partner'}}]"
    assert into(DB, sets.replace("namespace: shop", "namespace: other"), calico(elsewhere)) == {}
    global_set = (
        "selector: app == 'db'\ningress: [{action: Allow, source: {namespaceSelector: global(), selector: has(role)}}]"
    )
    assert into(DB, sets, calico(global_set)) == {"203.0.113.0-203.0.113.255": ALL}
    deny = (
        "selector: app == 'db'\norder: 1\n"
        "ingress: [{action: Deny, source: {selector: role == 'scanner'}}, {action: Allow}]"
    )
    result = into(DB, sets, calico(deny, "scan", None))  # a GlobalNetworkPolicy's selectors match global sets
    assert "203.0.113.0-203.0.113.255" not in result and result["0.0.0.0-203.0.112.255"] == ALL


# admin network policies beside Cilium and Calico ---------------------------------------------------------------


def anp(name: str, priority: int | None, spec: str) -> str:
    kind = "BaselineAdminNetworkPolicy" if priority is None else "AdminNetworkPolicy"
    head = "" if priority is None else f"priority: {priority}\n"
    body = textwrap.indent(head + textwrap.dedent(spec), "  ")
    return f"apiVersion: policy.networking.k8s.io/v1alpha1\nkind: {kind}\nmetadata: {{name: {name}}}\nspec:\n{body}\n"


TO_DB = "subject: {pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: db}}}}\n"
WEB_TO_DB = DB_SELECTED + "ingress: [{fromEndpoints: [{matchLabels: {app: web}}]}]"


def test_admin_deny_closes_what_a_cilium_policy_allows() -> None:
    deny = anp("no-web", 1, TO_DB + "ingress: [{action: Deny, from: [{namespaces: {matchLabels: {team: a}}}]}]")
    assert into(DB, cnp(WEB_TO_DB)) == {WEB: ALL}
    assert into(DB, cnp(WEB_TO_DB), deny) == {}


def test_admin_allow_does_not_open_what_the_cni_policy_drops() -> None:
    allow_cli = anp("cli", 1, TO_DB + "ingress: [{action: Allow, from: [{namespaces: {matchLabels: {team: b}}}]}]")
    assert into(DB, cnp(WEB_TO_DB), allow_cli) == {WEB: ALL}  # both must pass: Cilium admits web only
    assert CLI in into(DB, allow_cli)  # without the Cilium policy the Allow opens it


def test_admin_pass_leaves_the_cni_plan_and_banp_deny_applies_without_networkpolicy() -> None:
    passed = anp("pass", 1, TO_DB + "ingress: [{action: Pass, from: [{namespaces: {}}]}]")
    banp = anp("default", None, TO_DB + "ingress: [{action: Deny, from: [{namespaces: {matchLabels: {team: a}}}]}]")
    assert into(DB, cnp(WEB_TO_DB), passed) == {WEB: ALL}
    assert into(DB, cnp(WEB_TO_DB), passed, banp) == {}  # Pass reaches the BANP: no NetworkPolicy isolates db


def test_admin_egress_deny_and_calico_allow_both_apply() -> None:
    allow_all = calico("selector: app == 'web'\ntypes: [Egress]\negress: [{action: Allow}]")
    deny_db = anp(
        "web-out",
        2,
        "subject: {pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: web}}}}\n"
        "egress: [{action: Deny, to: [{pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: db}}}}],"
        " ports: [{portNumber: {protocol: TCP, port: 5432}}]}]",
    )
    assert out_of(WEB, allow_all)[DB] == ALL
    assert out_of(WEB, allow_all, deny_db)[DB] == "TCP 1-5431,5433-65535;UDP 1-65535;SCTP 1-65535"


def test_admin_allow_to_domain_names_is_unmodelled_beside_a_cilium_egress_policy() -> None:
    web_out = "endpointSelector: {matchLabels: {app: web}}\negress: [{toEndpoints: [{matchLabels: {app: db}}]}]"
    saas = anp(
        "saas",
        3,
        "subject: {pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: web}}}}\n"
        "egress: [{action: Allow, to: [{domainNames: [api.example.com]}]}]",
    )
    result = analysed(cnp(web_out), saas)
    assert [(u.src, u.dst, u.policy_kind, u.policy_name) for u in result.unmodelled] == [
        (WEB, V4_ALL, "AdminNetworkPolicy", "saas"),
        (WEB, V6_ALL, "AdminNetworkPolicy", "saas"),
    ]


# Equivalence classes ----------------------------------------------------------------------------------------------

TWINS = """
apiVersion: v1
kind: Pod
metadata: {name: admin, namespace: shop, labels: {app: twin, role: admin-1}}
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: user, namespace: shop, labels: {app: twin, role: user-1}}
spec: {containers: [{name: c}]}
"""
ADMIN, USER = "shop/admin[Pod]", "shop/user[Pod]"
TWIN_SELECTED = "endpointSelector: {matchLabels: {app: twin}}\n"


def twins(*docs: str) -> tuple[bool, dict[str, set[tuple[str, str]]]]:
    """(whether the twins share a class, per twin its peers and connections in both directions, the other twin
    left out), the engine checked against the naive evaluator."""
    result = analysed(TWINS, *docs)
    classes = result.classes
    assert classes is not None
    shared = classes.class_of[classes.ids.index(ADMIN)] == classes.class_of[classes.ids.index(USER)]
    seen: dict[str, set[tuple[str, str]]] = {}
    for me, twin in ((ADMIN, USER), (USER, ADMIN)):
        ends = [(line.split(" : ")[0], line.rsplit(" : ", 1)[1]) for line in result.lines() if me in line]
        seen[me] = {(ends_.replace(me, "me"), conn) for ends_, conn in ends if twin not in ends_}
    return shared, seen


def test_twins_share_a_class_while_no_selector_tells_them_apart() -> None:
    assert twins()[0]
    assert twins(cnp(TWIN_SELECTED + "ingress: [{fromEndpoints: [{matchLabels: {app: web}}]}]"))[0]
    assert twins(calico("selector: app == 'twin'\ningress: [{action: Allow, source: {selector: app == 'web'}}]"))[0]


@pytest.mark.parametrize(
    "policy",
    [
        # Cilium endpointSelector and fromEndpoints / toEndpoints on the label only Cilium looks at
        cnp("endpointSelector: {matchLabels: {role: admin-1}}\n"
            "ingress: [{fromEndpoints: [{matchLabels: {app: web}}]}]"),
        cnp(DB_SELECTED + "ingress: [{fromEndpoints: [{matchLabels: {role: admin-1}}]}]"),
        cnp("endpointSelector: {matchExpressions: [{key: role, operator: In, values: [user-1]}]}\n"
            "egress: [{toEndpoints: [{matchLabels: {app: db}}]}]"),
        # AdminNetworkPolicy subject and peer pods
        anp("s", 1, "subject: {pods: {namespaceSelector: {}, podSelector: {matchLabels: {role: admin-1}}}}\n"
                    "ingress: [{action: Deny, from: [{namespaces: {}}]}]"),
        anp("p", 1, TO_DB + "ingress: [{action: Deny, from: [{pods: {namespaceSelector: {}, "
                            "podSelector: {matchExpressions: [{key: role, operator: NotIn, values: [admin-1]}]}}}]}]"),
        anp("default", None, TO_DB + "ingress: [{action: Deny, from: [{pods: {namespaceSelector: {}, "
                                     "podSelector: {matchLabels: {role: user-1}}}}]}]"),
        # Calico selector expressions compare values exactly (starts with, contains), in any of their places
        calico("selector: role starts with 'adm'\ningress: [{action: Allow, source: {selector: app == 'web'}}]"),
        calico("selector: app == 'db'\n"
               "ingress: [{action: Deny, source: {selector: role contains 'user'}}, {action: Allow}]"),
        calico("selector: role ends with '1' && role != 'user-1'\ntypes: [Egress]\n"
               "egress: [{action: Deny, destination: {selector: app == 'db'}}]"),
        calico("selector: app == 'web'\ningress: [{action: Allow, source: {selector: \"role in {'admin-1'}\"}}]",
               namespace=None),
    ],
)  # fmt: skip
def test_every_policy_kind_splits_the_twins_it_tells_apart(policy: str) -> None:
    # a one-policy variant of the baseline above: each treats the twins differently, so they are two classes and
    # their lines differ (the engine still agrees with the naive evaluator)
    shared, seen = twins(policy)
    assert not shared
    assert seen[ADMIN] != seen[USER]
