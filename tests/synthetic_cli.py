"""``python -m tests.synthetic_cli <medstrata args>``: the real CLI, with every official source
replaced by the tiny synthetic source of ``tests.conftest`` (for subprocess tests of ``run`` that
must not need the MedMNIST files). Only the source changes; every other step is the real code."""

from __future__ import annotations

import sys

from medstrata.runner import jobs
from tests.conftest import synthetic_source

SIZES = (400, 120, 200)


def patch() -> None:
    """Make ``jobs._source`` return the synthetic source of the flag (same bytes in every process),
    here and in every worker process that an engine starts (``MEDSTRATA_WORKER_INIT``)."""
    import os

    jobs._source_cached = lambda root, flag, size: synthetic_source(flag, n=SIZES)
    os.environ["MEDSTRATA_WORKER_INIT"] = "tests.synthetic_cli:patch"


if __name__ == "__main__":
    patch()
    from medstrata.cli import main

    sys.exit(main(sys.argv[1:], exiting=True))
