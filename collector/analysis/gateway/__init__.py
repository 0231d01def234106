"""Gateway API attachment, as a conformant controller computes it: inventory, listeners, reference grants, routes.
A pure library (see collector.analysis): objects in, attachments and listener status out; no store, no I/O."""
