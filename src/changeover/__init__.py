"""changeover: ship new versions of HTTP services without dropping a single request."""

__version__ = "0.1.0"
