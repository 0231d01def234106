"""Source plugins, one package per family, registered under the entry-point group `defensible.sources`.
They use the core (collector: store, plugins, redaction, analysis); never bundles, the CLI or the demo."""
