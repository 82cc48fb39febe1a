"""DeployForge: a CI-native toolkit for infrastructure pipelines."""

__version__ = "0.1.0"
