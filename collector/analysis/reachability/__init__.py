"""Network policy reachability (NetworkPolicy, AdminNetworkPolicy, BaselineAdminNetworkPolicy, Cilium and Calico
policies at L3/L4): which workloads and external addresses may connect, on which ports.

    from collector.analysis.reachability import Inventory, analyze, diff_lines

    result = analyze(Inventory.from_objects(objects))
    result.lines()  # ["shop/web[Deployment] => shop/db[StatefulSet] : TCP 5432", ...]

See docs/reachability.md for the semantics and the canonical output.
"""

from collector.analysis.reachability.engine import analyze
from collector.analysis.reachability.errors import ReachabilityError
from collector.analysis.reachability.inventory import Inventory
from collector.analysis.reachability.result import Reachability, diff_lines

__all__ = ["Inventory", "Reachability", "ReachabilityError", "analyze", "diff_lines"]
