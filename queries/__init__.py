"""Query packs: data, not code. Each pack is a folder with pack.yaml (claims, parameters) and SQL files.
Loaded by the claim engine (collector.claims); nothing here is imported as Python beyond this marker."""
