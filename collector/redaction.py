"""Keep private key material, Secret payloads and container settings out of the store, the bundle and the logs.

Containers keep only their name, image and ports (what reachability needs): environment values, commands and
arguments often carry passwords and tokens."""

from __future__ import annotations

import re
from typing import Any

PRIVATE_KEY_BLOCK = re.compile(
    r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?(?:-----END \1PRIVATE KEY-----|\Z)", re.DOTALL
)
REDACTED = "[redacted]"
SECRET_KIND = re.compile(r'(?m)^\s*"?kind"?\s*:\s*"?Secret\b|"kind"\s*:\s*"Secret"')  # YAML, JSON (also compact)
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
CONTAINER_FIELDS = ("name", "image", "ports")
CONTAINERS = re.compile(r'(?m)^\s*"?(?:containers|initContainers|ephemeralContainers)"?\s*:|"containers"\s*:')


def redact_text(text: str) -> str:
    """Replace every PEM private-key block (complete or truncated) with a marker."""
    return PRIVATE_KEY_BLOCK.sub("[redacted private key]", text)


def has_secret_material(text: str) -> bool:
    """Whether a document must be kept as a redacted rendering (key material, a Secret, container settings)."""
    return "PRIVATE KEY-----" in text or SECRET_KIND.search(text) is not None or CONTAINERS.search(text) is not None


def redact_object(obj: Any) -> Any:
    """Deep copy of a decoded manifest with Secret payloads reduced to key names and PEM keys removed."""
    if isinstance(obj, dict):
        if obj.get("kind") == "Secret":
            return _redact_secret(obj)
        return {
            k: [_container(c) for c in v] if k in CONTAINER_LISTS and isinstance(v, list) else redact_object(v)
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [redact_object(v) for v in obj]
    if isinstance(obj, str):
        return redact_text(obj)
    return obj


def _container(container: Any) -> Any:
    if not isinstance(container, dict):
        return redact_object(container)
    return {k: redact_object(v) for k, v in container.items() if k in CONTAINER_FIELDS}


def _redact_secret(secret: dict) -> dict:
    kept = {k: redact_object(v) for k, v in secret.items() if k not in ("data", "stringData", "metadata")}
    metadata = dict(secret.get("metadata") or {})
    annotations = {k: v for k, v in (metadata.get("annotations") or {}).items() if k != LAST_APPLIED}
    if "annotations" in metadata:
        metadata["annotations"] = redact_object(annotations)
    kept["metadata"] = metadata
    for field in ("data", "stringData"):
        if isinstance(secret.get(field), dict):
            kept[field] = dict.fromkeys(sorted(secret[field]), REDACTED)
    return kept
