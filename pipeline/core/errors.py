"""Error types that the CLI turns into one clear line instead of a traceback."""


class RefineryError(Exception):
    """Base class: a problem the user can fix (the message says how)."""


class ConfigError(RefineryError):
    """Bad YAML, unknown key, wrong type, missing model file — raised at start-up."""


class TaskFailedError(RefineryError):
    """Some map tasks could not finish (an exception, or their worker kept dying); the
    message names their inputs. Rerunning the same command redoes only those."""


class InputError(RefineryError):
    """An input path that does not exist, cannot be read, or has an unknown format."""


class StageFailure(RefineryError):
    """A systemic failure: a stage's backend is broken (missing module, unreadable model) or
    the same exception hit too many documents. The run stops with exit code 3; what was
    written is kept and the run is not marked complete, so a rerun resumes."""
