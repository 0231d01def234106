"""Pure analysis libraries over Kubernetes objects as plain dicts: NetworkPolicy reachability, Gateway API attachment.
May import only the standard library and each other: nothing of the store, the sources, the bundles or the CLI."""
