"""defensible: evidence-bundle collector for regulatory audits of Kubernetes networking platforms."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("defensible")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
