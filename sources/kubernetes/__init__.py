"""The kubernetes source: manifests, `kubectl get -o json` dumps and live clusters into `k8s_objects`.
Uses the core only; the certificates and git sources reuse its manifest reading and listing."""
