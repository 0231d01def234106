"""The embedded demo (a GitOps repository, recorded review API, logs, manifests) and the helpers that build it.
Sits above the sources and bundles it drives; only the CLI and the tests import it."""
