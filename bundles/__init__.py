"""Bundles: build, sign, verify, diff and render the audit bundle (reports, OSCAL, JUnit, SARIF, re-performance).
Uses the core (store, claims, scorecard); never the sources, the CLI or the demo."""
