"""The benchmark runner behind ``medstrata run``: suites -> jobs -> cached results -> ranked report."""
