"""The ``refinery`` logger: one format (``refinery: LEVEL: message``) for the main process
and every worker process, so that warnings read the same wherever they arise. Pool workers
send their records to the main process (:func:`forward_logs`, :func:`log_listener`), which
prints them."""

from __future__ import annotations

import logging
import sys
from logging.handlers import QueueHandler, QueueListener
from typing import Any

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


def forward_logs(queue: Any, quiet: bool) -> None:
    """In a worker process: hand the ``refinery`` logger's records to the main process
    through ``queue``, so that they print there in the one format and between the lines of
    its progress bar (tqdm's logging redirect), not torn into it."""
    logger = logging.getLogger(LOGGER)
    logger.handlers[:] = [QueueHandler(queue)]
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    logger.propagate = False


def log_listener(queue: Any) -> QueueListener:
    """In the main process: a started thread that passes the workers' records (see
    :func:`forward_logs`) to the ``refinery`` logger, i.e. to whatever handler it has now."""
    listener = QueueListener(queue, logging.getLogger(LOGGER))  # a Logger has the handle() a listener calls
    listener.start()
    return listener
