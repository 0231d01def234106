"""The git source: who changed a governed file and who approved it (commits, merges, PR/MR reviews).
Uses the core and sources.kubernetes (to classify changed manifests)."""
