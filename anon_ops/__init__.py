"""anon-ops: data anonymization for data pipelines."""

__version__ = "0.1.0"
