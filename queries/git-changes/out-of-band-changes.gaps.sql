-- Changes to governed kinds by an identity other than the GitOps controllers that nothing accounts for.
SELECT cluster, kind || ' ' || coalesce(namespace || '/', '') || coalesce(name, '*') AS object, kind, namespace, name,
       verb, "user", ts, audit_id,
       verb || ' of ' || kind || ' ' || coalesce(namespace || '/', '') || coalesce(name, '(name not logged)')
         || ' by ' || "user" || coalesce(' as ' || impersonated_user, '')
         || ' at ' || strftime(ts, '%Y-%m-%dT%H:%M:%SZ') || ' (audit ' || audit_id
         || CASE WHEN stage <> 'ResponseComplete' THEN ', outcome not logged: last stage ' || stage ELSE '' END
         || '), not by a GitOps controller; no emergency change in Git touched it within '
         || getvariable('emergency_window_hours') || 'h and the live object has no '
         || getvariable('break_glass_annotation') || ' annotation' AS reason,
       source, run_id, artifact_sha256, collected_at
FROM audit_out_of_band_changes
WHERE emergency_change IS NULL AND break_glass_ticket IS NULL
