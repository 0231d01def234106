-- Gateways no in-cluster workload is found for, gateway workloads no HorizontalPodAutoscaler bounds, and their
-- containers without CPU or memory requests or a memory limit.
SELECT cluster, namespace, object, finding, location, source, run_id, artifact_sha256, collected_at
FROM platform_gateway_capacity_gaps
