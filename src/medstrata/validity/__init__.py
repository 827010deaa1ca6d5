"""Validity checks of a built task: is each stratum hidden (no trivial shortcut) and harmful."""
