"""Reference classifiers, their training loop, cache, outputs and encoder registry.

Data flow: ``SplitArrays`` (train, val) --:func:`get_or_train`--> model dir (cached by content hash)
--:func:`write_outputs`--> probs, losses and embeddings per split, keyed by sample id
--:func:`load_outputs`--> :class:`medstrata.problem.Problem`. This package knows nothing about strata.

Torch is imported lazily, inside the functions that need it.
"""

from medstrata.models.data import SplitArrays, toy_splits

__all__ = ["SplitArrays", "toy_splits"]
