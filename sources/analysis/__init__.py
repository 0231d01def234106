"""The analysis source: runs collector.analysis over the collected inventory and stores the results as evidence.
Uses the core and the analysis libraries; reads only what other sources stored."""
