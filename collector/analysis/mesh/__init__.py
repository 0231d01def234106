"""Istio mesh semantics: which workloads and ports the mesh encrypts, and which DestinationRule a client applies.

``enrollment`` decides, per workload (pod template) and port, whether the workload is in the mesh (sidecar
injection or ambient), whether the port's inbound traffic is captured, and the effective PeerAuthentication
mode. ``destination_rules`` resolves the DestinationRule a client proxy applies to a Service port, as istiod
looks it up. Pure functions of Kubernetes object dicts; see docs/analysis.md.
"""

from collector.analysis.mesh.destination_rules import ClientTls, analyze_client_tls, resolve_client_tls
from collector.analysis.mesh.enrollment import MeshReport, WorkloadPort, analyze_mesh

__all__ = ["ClientTls", "MeshReport", "WorkloadPort", "analyze_client_tls", "analyze_mesh", "resolve_client_tls"]
