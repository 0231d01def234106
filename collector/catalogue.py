"""The claims catalogue: every built-in pack's claims in Markdown, generated so the docs never drift.

python -m collector.catalogue > docs/claims.md
"""

from __future__ import annotations

import json

from collector.claims import Pack, builtin_pack_dirs, load_pack
from collector.framework import framework

HEADER = """# Claims catalogue

Generated from the built-in packs by `python -m collector.catalogue > docs/claims.md`; a test checks it is
current. Each claim's verdict rules are in [packs.md](packs.md); each pack's own page explains its SQL.
"""


def render_catalogue(packs: list[Pack]) -> str:
    parts = [HEADER]
    covering = framework_items_by_claim()
    for pack in packs:
        parts.append(f"\n## {pack.title} (`{pack.id}` v{pack.version})\n\n{pack.description}\n")
        if pack.parameters:
            parts.append("\n| parameter | type | default |\n|---|---|---|\n")
            parts += [
                f"| `{name}` | {pack.parameter_types[name].words} | `{json.dumps(value)}` |\n"
                for name, value in pack.parameters.items()
            ]
        if pack.freshness:
            fresh = ", ".join(f"{source} {age}" for source, age in pack.freshness.items())
            parts.append(f"\nEvidence is stale after: {fresh}.\n")
        for claim in pack.claims:
            parts.append(f"\n### `{pack.id}/{claim.id}`: {claim.title}\n\n> {claim.statement}\n\n")
            if claim.covers:
                parts.append(f"- Covers: {claim.covers}\n")
            if claim.blind_spots:
                parts.append(f"- Blind spots: {claim.blind_spots}\n")
            if claim.frameworks:
                controls = "; ".join(f"{f['framework']} {f['control']}" for f in claim.frameworks)
                parts.append(f"- Frameworks: {controls}\n")
            if claim.areas:
                parts.append(f"- Scorecard areas: {', '.join(claim.areas)}\n")
            if items := covering.get(f"{pack.id}/{claim.id}"):
                parts.append(f"- Framework items ([coverage](coverage.md)): {'; '.join(items)}\n")
            needs = [f"table `{t}`" for t in claim.tables] + [f"kind `{k}`" for k in claim.k8s_kinds]
            if needs:
                parts.append(f"- Requires: {', '.join(needs)}\n")
            parts.append(
                f"- Queries: [evidence](../queries/{pack.id}/{claim.evidence_file}), "
                f"[gaps](../queries/{pack.id}/{claim.gaps_file})"
                + ("" if claim.enabled else "; off by default (`--enable " + f"{pack.id}/{claim.id}`)")
                + "\n"
            )
    return "".join(parts)


def framework_items_by_claim() -> dict[str, list[str]]:
    """The framework's questions and items each claim evidences, by ``pack/claim``."""
    questions, items = framework()
    found: dict[str, list[str]] = {}
    for ref, text in [(ref, q.question) for q in questions for ref in q.claims] + [
        (ref, i.text) for i in items for ref in i.claims
    ]:
        found.setdefault(ref, []).append(text)
    return found


def builtin_catalogue() -> str:
    return render_catalogue([load_pack(path) for path in builtin_pack_dirs().values()])


if __name__ == "__main__":
    print(builtin_catalogue(), end="")
