"""User-facing errors.

Every error a user can cause (a missing file, a bad checksum, an unknown flag, an impossible spec)
is a :class:`MedStrataError`. The CLI prints its message and exits non-zero without a traceback;
programming errors are left to raise normally.
"""


class MedStrataError(Exception):
    """Base class for errors caused by user input or the user's environment."""

    exit_code = 2


class DataFileMissingError(MedStrataError):
    """An official data file is not on disk and could not be downloaded."""


class ChecksumMismatchError(MedStrataError):
    """A data file's MD5 differs from the one published in ``medmnist.INFO``."""


class UnknownDatasetError(MedStrataError):
    """The dataset flag is not one of the MedMNIST flags."""


class UnsupportedSizeError(MedStrataError):
    """MedMNIST does not publish this dataset at the requested image size."""


class SpecError(MedStrataError):
    """A task spec or override is malformed (unknown key, wrong type, out of range)."""


class ImpossibleSpecError(SpecError):
    """A well-formed spec asks for something the source data cannot provide."""


class TaskNotFoundError(MedStrataError):
    """No built task with this id exists under ``MEDSTRATA_HOME``."""


class MissingDependencyError(MedStrataError):
    """An optional dependency needed for this command is not installed."""


class CorruptArtifactError(MedStrataError):
    """A stored file does not match its recorded SHA-256 (truncated, edited or half-written)."""


class EnvironmentProblemError(MedStrataError):
    """The environment stops MedStrata (an unwritable ``MEDSTRATA_HOME``, a read-only disk);
    the message names the path."""


class PrivateSecretError(MedStrataError):
    """The leaderboard's private tier has no usable maintainer secret (unset, too short, or a file
    inside the repository); the message says how to set it and never contains it."""
