"""MedStrata: a benchmark for hidden stratification in medical imaging.

Heavy dependencies (torch, datasets, umap) are imported lazily by the modules that need them,
so ``import medstrata`` and ``medstrata --help`` stay fast.
"""

__version__ = "0.1.0"

#: Version of the task builder. Bump it whenever the bytes a build produces for a given spec change;
#: it is part of every task id.
BUILDER_VERSION = "2"
