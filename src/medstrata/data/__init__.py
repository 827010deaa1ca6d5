"""Data sources: the official MedMNIST files, checksummed on every load."""

from medstrata.data.source import Source, load_source

__all__ = ["Source", "load_source"]
