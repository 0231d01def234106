"""Keep secrets out of the store, the bundle and the logs, judged on decoded documents, never on their spelling.

Redacted wherever it appears in a decoded YAML/JSON document:

- Secrets: ``kind`` Secret in any case, an item of a ``SecretList`` (kind or not), or a mapping with
  ``stringData``, or with ``data`` and a Secret ``type`` (``Opaque``, ``kubernetes.io/…``). Every value is replaced
  by a marker; key names stay as evidence of what the Secret holds; the last-applied-configuration is dropped.
- Credentials: scalars under credential-like keys (``password``, ``token``, ``client-key-data``, ``auth``,
  ``*_SECRET``…), the value of an env-style ``{name: DB_PASSWORD, value: …}`` pair, every scalar of a kubeconfig
  ``user`` (tokens, ``auth-provider`` config, ``exec`` env and args), of a kustomize ``secretGenerator`` and of
  ``binaryData``; binary values (``!!binary``) that are not text.
- In any string: private keys (PEM, PGP, SSH2 armour), JWTs, bearer and basic credentials, URL passwords and
  ``key=value`` / ``key: value`` credential assignments; base64 whose decoded text holds any of these; a string
  that is itself a YAML/JSON document holding secrets (a last-applied-configuration, a kubeconfig in a ConfigMap)
  becomes the compact JSON of its redacted documents.
- Containers keep only their name, image, ports (what reachability needs) and resources and, of their arguments and
  command, the ingress controller options that say which Ingresses a controller serves and through which Service,
  the cluster's address ranges and the AWS VPC CNI network policy switch (``KEPT_ARGUMENT``:
  ``--controller-class=k8s.io/ingress-nginx``, ``--publish-service=ns/name``, ``--service-cluster-ip-range=…``…;
  a range option given as two words keeps its value word):
  environment values, other command words and arguments often carry passwords and tokens.

``redact`` also says whether anything was redacted (or a Secret met): raw bytes that decode to such a document are
never kept as written (``CollectContext.add_document_artifact``).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from typing import Any

from collector.safe_yaml import DuplicateKeys, InputError, load_all

REDACTED = "[redacted]"
REDACTED_KEY = "[redacted private key]"
REDACTED_TOKEN = "[redacted token]"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
CONTAINER_FIELDS = ("name", "image", "ports", "resources")
# container arguments (and command words) kept: an ingress controller's class and published Service, a plain name
# as value; the cluster's address ranges (kube-apiserver, kube-controller-manager) and the AWS VPC CNI node agent's
# network policy switch (any spelling of a Go boolean, or bare)
# address range options whose value is not kept (a variable, two words as pflag's ``--flag value``) keep their name,
# and the value word of a two-word one when it is a range: the pack reads an option without a value as no CIDR
RANGE_OPTION = re.compile(r"--(service-cluster-ip-range|cluster-cidr)")
RANGE_VALUE = re.compile(r"[0-9A-Fa-f.:/,]{1,200}")
KEPT_ARGUMENT = re.compile(
    r"--(controller-class|ingress-class|ingress\.class|ingress-class-name|publish-service|watch-ingress-without-class"
    r"|providers\.kubernetesingress\.ingressclass)=[A-Za-z0-9][-A-Za-z0-9._/]{0,252}"
    rf"|{RANGE_OPTION.pattern}={RANGE_VALUE.pattern}"
    r"|--enable-network-policy(=([01tfTF]|true|false|True|False|TRUE|FALSE))?"
)
SECRET_FIELDS = ("apiVersion", "kind", "type", "immutable")  # kept; metadata is redacted, data keeps key names only
SECRET_TYPE = re.compile(r"opaque|([\w.-]+\.)?kubernetes\.io/[\w.-]+", re.IGNORECASE)

# the end of a credential-like key, separators optional: db_password, apiKey, client-key-data, x-auth-token…
CREDENTIAL = (
    r"(?:pass[-_.]?(?:word|wd|phrase)|token|secret|credentials?|(?:api|access|secret|private)[-_.]?key"
    r"|client[-_.]?key[-_.]?data)"
)
CREDENTIAL_KEY = re.compile(rf"(?i)(?:{CREDENTIAL}|(?:^|/)auth)$")
ASSIGNMENT = re.compile(  # token=…, "password": "…", DB_PASSWORD=…; not booleans (automountServiceAccountToken: false)
    rf"(?i)((?:{CREDENTIAL}|\bauth)[\"']?[ \t]*[:=][ \t]*[\"']?)(?!(?:true|false|null)\b)([^\s\"',{{}}\[\]]+)"
)
PRIVATE_KEY = re.compile(  # PEM (RSA, EC, PKCS#8, OpenSSH…), PGP and SSH2 armour, up to its end or the text's
    r"-{4,5} ?BEGIN ([A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?) ?-{4,5}.*?(?:-{4,5} ?END \1 ?-{4,5}|\Z)", re.DOTALL
)
JWT = re.compile(r"(?<![\w-])eyJ[\w-]{8,}+\.eyJ[\w-]{8,}+\.[\w-]*+")
AUTH_SCHEME = re.compile(  # Authorization header values: any bearer token; basic credentials (base64, not prose)
    r"(?i)(\bbearer\s+|\bbasic\s+(?=[\w.~+/=-]*[0-9+/=]))[\w.~+/=-]{8,}"
)
URL_PASSWORD = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]{0,31}+://[^\s/:@]*+:)[^\s/@]++(?=@)")  # https://user:pw@host
# base64, possibly wrapped over lines (indented, or commented out with "#")
BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{16,}(?:[ \t]*\r?\n[ \t#]*[A-Za-z0-9+/]{16,}(?=={0,2}[ \t]*(?:\r?\n|$)))*={0,2}")
SUSPECT = re.compile(r"(?i)key|eyj|bearer|basic|pass|token|secret|credential|auth|://|[a-z0-9+/]{16}")  # to scrub
COMMENT = re.compile(r"(?m)(?:^|[ \t])#(.*)$")  # YAML comments (and some "#" in strings: scrubbed as well)
DOCUMENT_START = re.compile(r"^\s*[\[{]|:\s")  # a string that may be a YAML/JSON document
MAX_NESTING = 4  # documents in strings in documents…: deeper ones are redacted unread
CACHED_LENGTH = 200  # top-level strings up to this long are redacted once per process
MAX_NODES = 100_000  # values walked in one embedded document; a larger (or alias-expanded) one is redacted unread


def _kept_word(previous: Any, word: Any) -> str | None:
    """A container's argument or command word as kept (``KEPT_ARGUMENT``), or None. A range option whose value is not
    kept (``--cluster-cidr=$(RANGE)``) keeps its name alone; the value word of a two-word range option is kept when it
    is a range's characters."""
    if not isinstance(word, str):
        return None
    if KEPT_ARGUMENT.fullmatch(word):
        return word
    option = RANGE_OPTION.match(word)
    if option and (option.end() == len(word) or word[option.end()] == "="):
        return option.group()
    if isinstance(previous, str) and RANGE_OPTION.fullmatch(previous) and RANGE_VALUE.fullmatch(word):
        return word
    return None


class _Unvetted(Exception):
    """An embedded document too deep or too large to vet: the string holding it is redacted whole."""


def redact(obj: Any) -> tuple[Any, bool]:
    """A deep copy of a decoded document (or list of documents) with secrets redacted and mapping keys as strings,
    and whether anything was redacted or a Secret met (then the raw bytes it came from must not be kept)."""
    redactor = _Redactor(0, None)
    return redactor.value(obj), redactor.found


def redact_object(obj: Any) -> Any:
    """A deep copy of a decoded document with secrets redacted (see the module's docstring)."""
    return redact(obj)[0]


def comments_hold_secrets(text: str) -> bool:
    """Whether the comments of a YAML text, which decoding drops, hold key material, tokens or credentials."""
    redactor = _Redactor(0, None)
    try:
        redactor.scrub("\n".join(COMMENT.findall(text)))
    except _Unvetted:
        return True
    return redactor.found


def is_secret(obj: dict, list_kind: str | None = None) -> bool:
    """Whether a decoded mapping is a Secret, however spelled (``list_kind``: the item kind its list names), not a
    reference to one (``certificateRefs``, ``ownerReferences``: no metadata, no data)."""
    if _is_secret_kind(list_kind) or "stringData" in obj:
        return True
    if _is_secret_kind(obj.get("kind")) and any(k in obj for k in ("metadata", "data")):
        return True
    secret_type = obj.get("type")
    return "data" in obj and isinstance(secret_type, str) and SECRET_TYPE.fullmatch(secret_type.strip()) is not None


def _is_secret_kind(kind: Any) -> bool:
    return isinstance(kind, str) and kind.strip().lower() == "secret"


def _list_item_kind(obj: dict) -> str | None:
    kind = obj.get("kind")
    return kind.strip()[:-4] or None if isinstance(kind, str) and kind.strip().endswith("List") else None


def _base64_text(encoded: str) -> str | None:
    """The UTF-8 text a base64 run decodes to, if it does."""
    compact = re.sub(r"[\s#]", "", encoded)
    try:
        return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None


class _Redactor:
    """One walk over a document: ``found`` turns true when something is redacted or a Secret is met."""

    def __init__(self, depth: int, budget: list[int] | None):
        self.depth = depth
        self.budget = budget  # values left to walk (embedded documents only), shared with nested walks
        self.found = False

    def value(self, obj: Any, *, whole: bool = False, list_kind: str | None = None) -> Any:
        """``obj`` redacted; with ``whole`` every scalar in it is redacted (credentials, kubeconfig users)."""
        if self.budget is not None:
            self.budget[0] -= 1
            if self.budget[0] < 0:
                raise _Unvetted
        if isinstance(obj, dict):
            return self.mapping(obj, whole, list_kind)
        if isinstance(obj, list):
            return [self.value(v, whole=whole, list_kind=list_kind) for v in obj]
        if whole and obj not in (None, "") and not isinstance(obj, bool):
            return self.redacted()
        if isinstance(obj, str):
            return self.string(obj)
        if isinstance(obj, bytes):  # YAML !!binary: kept only if it is text with nothing to redact
            try:
                text = obj.decode("utf-8")
            except UnicodeDecodeError:
                return self.redacted()
            return obj if self.string(text) == text else self.redacted()
        return obj

    def mapping(self, obj: dict, whole: bool, list_kind: str | None) -> dict:
        if is_secret(obj, list_kind):
            self.found = True
            return self.secret(obj)
        items_kind = _list_item_kind(obj)
        out = {}
        for key, value in obj.items():
            name = self.key(key)
            if whole or _holds_credentials(obj, key, value):
                out[name] = self.value(value, whole=True)
            elif key in CONTAINER_LISTS and isinstance(value, list):
                out[name] = [self.container(c) for c in value]
            elif key == "items" and items_kind:
                out[name] = self.value(value, list_kind=items_kind)
            else:
                out[name] = self.value(value)
        return out

    def key(self, key: Any) -> str:
        return self.string(key if isinstance(key, str) else str(key))

    def secret(self, secret: dict) -> dict:
        kept: dict[str, Any] = {}
        for key, value in secret.items():
            if key in SECRET_FIELDS:
                kept[key] = self.value(value)
            elif key == "metadata" and isinstance(value, dict):
                kept[key] = self.value({k: v for k, v in value.items() if k != "annotations"})
                if isinstance(value.get("annotations"), dict):
                    annotations = {k: v for k, v in value["annotations"].items() if k != LAST_APPLIED}
                    kept[key]["annotations"] = self.value(annotations)
            elif key in ("data", "stringData") and isinstance(value, dict):
                kept[key] = dict.fromkeys(sorted(self.key(k) for k in value), REDACTED)
            else:
                kept[self.key(key)] = self.value(value, whole=True)
        return kept

    def container(self, container: Any) -> Any:
        if not isinstance(container, dict):
            return self.value(container)
        if any(k not in CONTAINER_FIELDS for k in container):
            self.found = True
        kept = {self.key(k): self.value(v) for k, v in container.items() if k in CONTAINER_FIELDS}
        for field in ("command", "args"):
            words = container.get(field)
            words = words if isinstance(words, list) else []
            pairs = zip([None, *words], words, strict=False)  # each word after the one before it
            options = [option for previous, w in pairs if (option := _kept_word(previous, w))]
            if options:
                kept[field] = options
        return kept

    def string(self, text: str) -> str:
        """``text`` with its secrets redacted; one that is a document holding secrets becomes its redacted JSON."""
        if self.budget is None and len(text) <= CACHED_LENGTH:  # names, kinds, keys: the same few, many times
            redacted, found = _short_string(text)
            self.found = self.found or found
            return redacted
        return self.read_string(text)

    def read_string(self, text: str) -> str:
        try:
            rendered = self.embedded_documents(text)
            return rendered if rendered is not None else self.scrub(text)
        except _Unvetted:
            return self.redacted()

    def embedded_documents(self, text: str) -> str | None:
        """The compact JSON of the redacted documents ``text`` holds, if it holds any with secrets in them."""
        if not DOCUMENT_START.search(text):
            return None
        try:
            documents = [d for _, _, d in load_all(text, "an embedded document") if isinstance(d, dict | list)]
        except DuplicateKeys:
            raise _Unvetted from None
        except InputError:
            return None  # not a document (or a hostile one): scrubbed as text
        if not documents:
            return None
        inner = self.nested()
        try:
            redacted = inner.value(documents[0] if len(documents) == 1 else documents)
        except RecursionError:
            raise _Unvetted from None
        if not inner.found:
            return None
        self.found = True
        return json.dumps(redacted, sort_keys=True, separators=(",", ":"), default=str)

    def scrub(self, text: str) -> str:
        """``text`` with private keys, tokens, credential assignments and base64 holding them replaced."""
        if not SUSPECT.search(text):
            return text
        scrubbed = PRIVATE_KEY.sub(REDACTED_KEY, text)
        scrubbed = BASE64_RUN.sub(self.base64_run, scrubbed)
        scrubbed = JWT.sub(REDACTED_TOKEN, scrubbed)
        for pattern in (AUTH_SCHEME, URL_PASSWORD, ASSIGNMENT):
            scrubbed = pattern.sub(_keep_prefix, scrubbed)
        if scrubbed != text:
            self.found = True
        return scrubbed

    def base64_run(self, match: re.Match[str]) -> str:
        decoded = _base64_text(match.group())
        if decoded is None:
            return match.group()
        inner = self.nested()
        inner.string(decoded)
        return REDACTED if inner.found else match.group()

    def nested(self) -> _Redactor:
        """A walk of a document or text embedded in this one."""
        if self.depth >= MAX_NESTING:
            raise _Unvetted
        return _Redactor(self.depth + 1, self.budget if self.budget is not None else [MAX_NODES])

    def redacted(self) -> str:
        self.found = True
        return REDACTED


def _keep_prefix(match: re.Match[str]) -> str:
    return match.group(1) + REDACTED


@functools.lru_cache(maxsize=16384)
def _short_string(text: str) -> tuple[str, bool]:
    redactor = _Redactor(0, None)
    return redactor.read_string(text), redactor.found


@functools.lru_cache(maxsize=16384)
def _is_credential_key(key: str) -> bool:
    return CREDENTIAL_KEY.search(key) is not None


def _holds_credentials(obj: dict, key: Any, value: Any) -> bool:
    """Whether ``obj[key]`` is credentials, every scalar in it redacted. A mapping under a credential-like key is
    walked, not redacted whole (a Pod volume's ``secret: {secretName: …}`` names a Secret, it holds none)."""
    if isinstance(value, dict):
        return key == "user" and "name" in obj  # a kubeconfig user: {name: …, user: {token: …, exec: …}}
    return (
        (isinstance(key, str) and _is_credential_key(key))
        or (key == "value" and isinstance(obj.get("name"), str) and _is_credential_key(obj["name"]))
        or key in ("secretGenerator", "binaryData")  # kustomize literals; binary payloads cannot be vetted
    )
