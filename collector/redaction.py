"""Keep private key material and Secret payloads out of the store, the bundle and the logs."""

from __future__ import annotations

import re
from typing import Any

PRIVATE_KEY_BLOCK = re.compile(
    r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?(?:-----END \1PRIVATE KEY-----|\Z)", re.DOTALL
)
REDACTED = "[redacted]"
SECRET_KIND = re.compile(r'(?m)^\s*"?kind"?\s*:\s*"?Secret\b|"kind"\s*:\s*"Secret"')  # YAML, JSON (also compact)
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def redact_text(text: str) -> str:
    """Replace every PEM private-key block (complete or truncated) with a marker."""
    return PRIVATE_KEY_BLOCK.sub("[redacted private key]", text)


def has_secret_material(text: str) -> bool:
    return "PRIVATE KEY-----" in text or SECRET_KIND.search(text) is not None


def redact_object(obj: Any) -> Any:
    """Deep copy of a decoded manifest with Secret payloads reduced to key names and PEM keys removed."""
    if isinstance(obj, dict):
        if obj.get("kind") == "Secret":
            return _redact_secret(obj)
        return {k: redact_object(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [redact_object(v) for v in obj]
    if isinstance(obj, str):
        return redact_text(obj)
    return obj


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
