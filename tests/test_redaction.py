"""Secrets never reach the store or a bundle, whatever the YAML/JSON spelling, in files, API pages and git history.

A corpus of Secrets (and of credentials outside Secrets) spelled every way YAML and JSON allow is collected by
the kubernetes, certificates and git sources and bundled; every byte of the DuckDB file, the artifacts directory
and the bundle is then scanned for the planted private key (base64 and decoded) and tokens.
"""

from __future__ import annotations

import base64
import json
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest
from certs import Issued, issue
from helpers import named
from kube_api import FakeKubeAPI

from bundles.build import build_bundle
from bundles.signing import generate_keypair, load_signer
from collector.claims import load_pack, resolve_pack
from collector.demo.git_history import GitHistory
from collector.redaction import LAST_APPLIED, REDACTED, comments_hold_secrets, redact
from collector.runner import run_source
from collector.store import Store, sha256_hex
from sources.certificates.source import CertificatesSource
from sources.git.source import GitSource
from sources.kubernetes.source import KubernetesSource

AUTHOR = ("Alice Adams", "alice@example.org")
TOKENS = {name: f"planted-{name}-token-7c1e5a9d3b" for name in "abcdefghijklmn"}


def b64(data: str | bytes) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def dockerconfig(token: str) -> str:
    return b64(json.dumps({"auths": {"registry.example": {"auth": b64(f"robot:{token}")}}}))


def corpus(leaf: Issued) -> dict[str, str]:
    """Manifest files every source reads: each spelling of a Secret, and credentials outside Secrets."""
    key, crt, t = b64(leaf.key_pem), b64(leaf.pem), TOKENS
    embedded = json.dumps(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "inner"}, "data": {"tls.key": key},
         "stringData": {"token": t["h"]}}
    )  # fmt: skip
    kubeconfig = "".join(
        f"      {line}\n"
        for line in (
            "apiVersion: v1",
            "kind: Config",
            'clusters: [{name: prod, cluster: {server: "https://prod.example:6443"}}]',
            "users:",
            "  - name: admin",
            "    user:",
            f"      client-key-data: {key}",
            f"      token: {t['e']}",
            "  - name: sso",
            "    user:",
            f"      auth-provider: {{name: oidc, config: {{access-token: {t['f']}, client-id: shop}}}}",
        )
    )
    files = {
        "single-quoted.yaml": f"""
            apiVersion: v1
            kind: 'Secret'
            metadata: {{name: single, namespace: shop}}
            type: kubernetes.io/tls
            data:
              tls.key: {key}
            """,
        "double-quoted.yaml": f"""
            apiVersion: v1
            kind: "Secret"
            metadata: {{name: double, namespace: shop}}
            stringData: {{token: {t["a"]}}}
            """,
        "flow.yaml": f"""
            {{apiVersion: v1, kind: Secret, metadata: {{name: flow, namespace: shop}}, data: {{tls.key: {key}}}}}
            """,
        "quoted-key.yaml": f"""
            'apiVersion': v1
            "kind": Secret
            'metadata': {{name: quoted, namespace: shop}}
            data: {{token: {b64(t["b"])}}}
            """,
        "tagged.yaml": f"""
            apiVersion: v1
            kind: !!str Secret
            metadata: {{name: tagged, namespace: shop}}
            stringData: {{password: {t["c"]}}}
            """,
        "escaped.json": json.dumps(
            {"apiVersion": "v1", "kind": "SECRET", "metadata": {"name": "escaped"}, "data": {"tls.key": key}}
        ).replace('"SECRET"', '"\\u0053ecret"'),
        "anchored.yaml": f"""
            apiVersion: v1
            metadata: {{name: anchored, namespace: shop, labels: {{role: &kind Secret}}}}
            kind: *kind
            data: {{tls.key: {key}}}
            """,
        "secret-list.json": json.dumps(
            {
                "apiVersion": "v1",
                "kind": "SecretList",
                "items": [  # as the API lists them: items carry no kind
                    {"metadata": {"name": "listed"}, "data": {"tls.crt": crt, "tls.key": key}},
                    {
                        "metadata": {"name": "pull"},
                        "type": "kubernetes.io/dockerconfigjson",
                        "data": {".dockerconfigjson": dockerconfig(t["d"])},
                    },
                ],
            }
        ),
        "mixed.yaml": f"""
            apiVersion: cert-manager.io/v1
            kind: Certificate
            metadata: {{name: shop, namespace: shop}}
            spec: {{secretName: shop-tls, dnsNames: [shop.example], issuerRef: {{name: ca, kind: ClusterIssuer}}}}
            ---
            apiVersion: v1
            kind: 'Secret'
            metadata: {{name: shop-tls, namespace: shop}}
            type: kubernetes.io/tls
            data: {{tls.crt: {crt}, tls.key: {key}}}
            """,
        "kubeconfig-configmap.yaml": """
            apiVersion: v1
            kind: ConfigMap
            metadata:
              name: cluster-access
              namespace: shop
              labels: {defensible.io/egress-allowlist: "true"}
            data:
              hosts: api.example.com
              kubeconfig: |
            """,
        "last-applied.yaml": f"""
            apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: api
              namespace: shop
              annotations:
                kubectl.kubernetes.io/last-applied-configuration: '{embedded}'
            spec:
              template:
                spec:
                  containers: [{{name: api, image: shop/api:1}}]
            ---
            apiVersion: v1
            kind: Service
            metadata:
              name: api
              namespace: shop
              annotations:
                kubectl.kubernetes.io/last-applied-configuration: '{embedded}'
                example.com/bearer: "Bearer {t["g"]}"
            spec: {{ports: [{{port: 80}}]}}
            """,
        "commented.yaml": f"""
            # an old Secret, commented out when it moved to the vault:
            # data:
            #   tls.key: {key}
            #   token: {t["i"]}
            apiVersion: v1
            kind: Service
            metadata: {{name: commented, namespace: shop}}
            """,
        "plain.yaml": PLAIN,
    }
    files = {name: textwrap.dedent(text).lstrip() for name, text in files.items()}
    files["kubeconfig-configmap.yaml"] += kubeconfig
    return files


PLAIN = """
    # nothing secret here: kept as written
    apiVersion: v1
    kind: Service
    metadata: {name: plain, namespace: shop, annotations: {note: "rotate the token weekly"}}
    spec: {ports: [{port: 80}]}
    """


def history_only(leaf: Issued) -> dict[str, str]:
    """Files only the git source reads: they are not Kubernetes objects, or not valid YAML at all."""
    key, t = b64(leaf.key_pem), TOKENS
    files = {
        "kindless.yaml": f"""
            apiVersion: v1
            metadata: {{name: kindless}}
            type: kubernetes.io/dockerconfigjson
            data: {{.dockerconfigjson: {dockerconfig(t["j"])}}}
            """,
        "kustomization.yaml": f"""
            resources: [plain.yaml]
            secretGenerator:
              - name: db
                literals: [password={t["k"]}]
            """,
        "broken.yaml": f"""
            kind: 'Secret'
            data:
              tls.key: {key}
              token: {t["l"]}
              unclosed: [
            """,
        "values.json": json.dumps({"database": {"user": "shop", "password": t["m"]}}),
        "duplicated.yaml": f"""
            apiVersion: v1
            kind: Secret
            metadata: {{name: duplicated}}
            data: {{note: {b64(t["n"])}}}
            kind: ConfigMap
            """,
    }
    return {name: textwrap.dedent(text).lstrip() for name, text in files.items()}


def needles(leaf: Issued) -> dict[str, bytes]:
    """What must never be found: the key (PEM marker, base64, each base64 line of its PEM) and every token."""
    key = b64(leaf.key_pem)
    found = {"PEM marker": b"PRIVATE KEY-----", "key base64": key.encode(), "key base64 slice": key[30:90].encode()}
    found |= {f"key PEM line {i}": line for i, line in enumerate(leaf.key_pem.splitlines()[1:-1])}
    for name, token in TOKENS.items():
        found |= {f"token {name}": token.encode(), f"token {name} base64": b64(token).encode()}
    found |= {f"docker auth {n}": b64(f"robot:{TOKENS[n]}").encode() for n in "dj"}
    return found


def scan(root: Path, skip: Path, planted: dict[str, bytes]) -> list[str]:
    """Every file under ``root`` but ``skip`` holding a needle (DuckDB and Parquet may compress strings: the store's
    tables are also scanned as text, see ``scan_tables``)."""
    return [
        f"{path.relative_to(root)}: {name}"
        for path in sorted(root.rglob("*"))
        if path.is_file() and skip not in path.parents
        for name, needle in planted.items()
        if needle in path.read_bytes()
    ]


def scan_tables(store: Store, planted: dict[str, bytes]) -> list[str]:
    """Every table of the store (the bundle's Parquet files are copies of them) holding a needle in any value."""
    tables = store.con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name <> 'temp'").fetchall()
    found = []
    for (table,) in tables:
        text = repr(store.con.execute(f'SELECT * FROM "{table}"').fetchall()).encode()
        found += [f"{table}: {name}" for name, needle in planted.items() if needle in text]
    return found


@pytest.fixture
def leaf() -> Issued:
    return issue("shop.example")


def test_no_spelling_of_a_secret_reaches_the_store_or_the_bundle(store: Store, tmp_path: Path, leaf: Issued) -> None:
    inputs = tmp_path / "inputs"
    manifests = inputs / "manifests"
    for name, text in corpus(leaf).items():
        (manifests / name).parent.mkdir(parents=True, exist_ok=True)
        (manifests / name).write_text(text)
    repo = GitHistory(inputs / "repo", datetime(2026, 1, 5, 9, tzinfo=UTC))
    repo.commit({f"k8s/{n}": text for n, text in {**corpus(leaf), **history_only(leaf)}.items()}, "add", AUTHOR)
    repo.commit({"k8s/double-quoted.yaml": None, "k8s/flow.yaml": "{}\n"}, "rotate", AUTHOR)

    k8s = {"paths": [str(manifests)], "cluster": "c1", "egress_allowlists": True}
    results = [
        run_source(store, KubernetesSource(), k8s),
        run_source(store, CertificatesSource(), {"paths": [str(manifests)], "cluster": "c1"}),
        run_source(store, GitSource(), {"repositories": [{"path": str(repo.path), "name": "gitops"}]}),
    ]
    generate_keypair(inputs / "signing.key", inputs / "signing.pub")
    packs = [load_pack(resolve_pack(name)) for name in ("certificates", "k8s-networking", "git-changes")]
    build_bundle(store, packs, tmp_path / "bundle", [load_signer(inputs / "signing.key")])
    store.con.execute("CHECKPOINT")

    assert scan(tmp_path, inputs, needles(leaf)) == []
    assert scan_tables(store, needles(leaf)) == []
    assert [r.status for r in results] == ["succeeded", "succeeded", "partial"], [r.error for r in results]
    assert "2 manifest(s) in history could not be parsed" in results[2].partial_reasons[0]
    # the scan covered what it should: the database, redacted renderings, and the mixed file in the bundle
    [(mixed, original)] = store.con.execute(
        "SELECT DISTINCT sha256, origin_sha256 FROM artifacts WHERE origin LIKE '%mixed.yaml'"
    ).fetchall()
    assert original == sha256_hex((manifests / "mixed.yaml").read_bytes())
    assert (tmp_path / "bundle" / "artifacts" / "sha256" / mixed).is_file()
    rendered = json.loads(store.artifact_path(mixed).read_bytes())
    assert rendered[1]["data"] == {"tls.crt": REDACTED, "tls.key": REDACTED}  # key names stay as evidence
    assert store.con.execute("SELECT count(*) FROM certificates WHERE secret_name = 'shop-tls'").fetchone() == (1,)
    # evidence rows keep what is not secret
    [(annotations,)] = store.con.execute(
        "SELECT annotations FROM k8s_objects WHERE kind = 'Service' AND name = 'api'"
    ).fetchall()
    inner = json.loads(json.loads(annotations)["kubectl.kubernetes.io/last-applied-configuration"])
    assert inner["metadata"] == {"name": "inner"} and inner["data"] == {"tls.key": REDACTED}


def test_files_with_nothing_to_redact_are_kept_as_written(store: Store, tmp_path: Path) -> None:
    plain = tmp_path / "plain.yaml"
    plain.write_text(textwrap.dedent(PLAIN).lstrip())
    assert run_source(store, KubernetesSource(), {"paths": [str(plain)]}).status == "succeeded"
    [(sha, original)] = store.con.execute(
        "SELECT sha256, origin_sha256 FROM artifacts WHERE origin = ?", [named(plain)]
    ).fetchall()
    assert store.artifact_path(sha).read_bytes() == plain.read_bytes() and original is None


def test_live_secret_list_pages_are_kept_redacted(store: Store, tmp_path: Path, leaf: Issued) -> None:
    """A ConfigMap page served with Secrets in it (a hostile or misconfigured server): items carry no kind."""
    leaky = {"metadata": {"name": "x", "namespace": "shop", "labels": {"defensible.io/egress-allowlist": "true"}},
             "type": "kubernetes.io/tls", "data": {"tls.key": b64(leaf.key_pem)}}  # fmt: skip
    (tmp_path / "inputs").mkdir()
    with FakeKubeAPI({"/api/v1/configmaps": [leaky]}) as api:
        kubeconfig = api.kubeconfig(tmp_path / "inputs" / "kubeconfig")
        config = {"contexts": ["ctx"], "kubeconfig": str(kubeconfig), "kinds": []}
        result = run_source(store, KubernetesSource(), {**config, "egress_allowlists": True})
    assert result.status == "succeeded", result.error
    store.con.execute("CHECKPOINT")
    assert scan(tmp_path, tmp_path / "inputs", needles(leaf)) == []
    assert scan_tables(store, needles(leaf)) == []


@pytest.mark.parametrize(
    "document",
    [
        {"kind": "SecretList", "items": [{"metadata": {"name": "a"}, "data": {"k": "dmFsdWU="}}]},
        {"kind": "secret", "data": {"k": "dmFsdWU="}},
        {"stringData": {"k": "value"}},
        {"users": [{"name": "u", "user": {"exec": {"command": "aws", "env": [{"name": "KEY", "value": "value"}]}}}]},
        {"spec": {"env": [{"name": "DB_PASSWORD", "value": "value"}]}},
        {"note": "password=value"},
        {"note": b64("token: value")},
        {"note": json.dumps({"deep": json.dumps({"kind": "Secret", "data": {"k": "dmFsdWU="}})})},
        {"note": "kind: Secret\ndata: {k: dmFsdWU=}\nkind: ConfigMap\n"},  # a repeated key hides the Secret
        {"note": "-----BEGIN PGP PRIVATE KEY BLOCK-----\nvalue\n-----END PGP PRIVATE KEY BLOCK-----\n"},
        {"header": "Authorization: Basic dmFsdWU6dmFsdWU="},
        {"repoURL": "https://bot:value@git.example/shop.git"},
        {"kind": "ConfigMap", "binaryData": {"keystore.p12": b"\x30\x82value\xff"}},
    ],
)
def test_credentials_anywhere_in_a_document_are_redacted(document: dict) -> None:
    redacted, sensitive = redact(document)
    assert sensitive
    assert "dmFsdWU=" not in json.dumps(redacted) and "value" not in json.dumps(redacted).replace('"value":', "")


@pytest.mark.parametrize(
    "document",
    [
        {"kind": "Gateway", "spec": {"listeners": [{"tls": {"certificateRefs": [{"kind": "Secret", "name": "tls"}]}}]}},
        {"metadata": {"ownerReferences": [{"apiVersion": "v1", "kind": "Secret", "name": "tls", "uid": "u1"}]}},
        {
            "spec": {
                "volumes": [{"name": "certs", "secret": {"secretName": "tls"}}],
                "automountServiceAccountToken": False,
            }
        },
        {"kind": "ConfigMap", "data": {"hosts": "a.example\n*.b.example\n", "ca.crt": "-----BEGIN CERTIFICATE-----\n"}},
        {"metadata": {"annotations": {LAST_APPLIED: '{"kind":"Service","metadata":{"name":"a","note":"x: y"}}'}}},
        {"spec": {"rules": [{"matches": [{"headers": [{"name": "x-env", "value": "production"}]}]}]}},
        {"spec": {"caBundle": b64("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")}},
    ],
)
def test_what_holds_no_secret_is_kept_unchanged(document: dict) -> None:
    assert redact(document) == (document, False)


def test_raw_text_is_checked_for_secrets_decoding_cannot_see() -> None:
    assert comments_hold_secrets("# tls.key: " + b64(b"-----BEGIN EC PRIVATE KEY-----\nMHcC\n"))
    assert comments_hold_secrets("# token: abc123\nkind: Service\n")
    assert not comments_hold_secrets("# rotate the token weekly\nspec: {automountServiceAccountToken: false}")


def test_containers_keep_only_ingress_controller_options() -> None:
    """An ingress controller's class and published Service are evidence (which Ingresses go through which load
    balancer); every other argument, the command and the environment are dropped."""
    container = {
        "name": "controller",
        "image": "registry.k8s.io/ingress-nginx/controller:v1.12.1",
        "command": ["/nginx-ingress-controller", "--password=value"],
        "args": ["--controller-class=k8s.io/ingress-nginx", "--publish-service=ingress-nginx/controller",
                 "--ingress-class=nginx value", "--token=value", "--ingress-class=$(CLASS)", "-v=2"],
        "env": [{"name": "INGRESS_CLASS", "value": "value"}],
    }  # fmt: skip
    redacted, sensitive = redact({"spec": {"containers": [container]}})
    assert sensitive
    assert redacted["spec"]["containers"] == [
        {
            "name": "controller",
            "image": "registry.k8s.io/ingress-nginx/controller:v1.12.1",
            "args": ["--controller-class=k8s.io/ingress-nginx", "--publish-service=ingress-nginx/controller"],
        }
    ]
