"""The ``refinery`` logger: one format (``refinery: LEVEL: message``) in the main process
and in every worker process, so that warnings read the same wherever they arise."""

from __future__ import annotations

import logging
import sys

LOGGER = "refinery"


def setup_logging(quiet: bool) -> logging.Logger:
    """Send the ``refinery`` logger to stderr (warnings only when ``quiet``)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("refinery: %(levelname)s: %(message)s"))
    logger = logging.getLogger(LOGGER)
    logger.handlers[:] = [handler]
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    logger.propagate = False
    return logger
