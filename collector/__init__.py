"""defensible's core: store, plugin registry, runner, config, claim engine, waivers, scope, scorecard, redaction.
Imports no source, bundle, CLI or demo module; subpackages: cli (top), demo, analysis (pure libraries)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("defensible")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
