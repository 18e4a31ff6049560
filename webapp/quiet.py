"""Libraries' start-up chatter, silenced in one place; their real warnings still show.

- TensorFlow's C++ log lines below ERROR: at start-up which CPU
  instructions it was built for and the oneDNN notice, and at every LiteRT
  export the converter's "Ignored output_format" and "Ignored
  drop_control_dependency", each time with absl's "All log messages before
  absl::InitializeLog()" preamble.  TF_CPP_MIN_LOG_LEVEL=2 (1 would still
  print the converter's two lines and the preamble); TensorFlow's C++
  errors still print, and so do its Python warnings (tf.function retracing
  and the like go through Python's logging, which this leaves alone).
  oneDNN itself stays on (TF_ENABLE_ONEDNN_OPTS is not touched): the notice
  goes, not the numerics it speaks of.
- kombu's "No hostname was supplied. Reverting to default 'localhost'",
  logged for every connection to the embedded filesystem broker, which has
  no host.  Every other kombu warning passes.

``webapp.settings`` calls both, so every process (manage.py, the Celery
worker and beat, gunicorn, tests) is quiet the same way.
"""

from __future__ import annotations

import logging
import os

# 0 prints everything, 1 hides INFO, 2 hides WARNING as well, 3 hides ERROR.
TENSORFLOW_MIN_LOG_LEVEL = "2"
HOSTLESS_BROKER = "No hostname was supplied"


def tensorflow_quiet() -> None:
    """Before TensorFlow loads (it reads the variable once); an explicit
    TF_CPP_MIN_LOG_LEVEL in the environment wins."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", TENSORFLOW_MIN_LOG_LEVEL)


class HostlessBrokerFilter(logging.Filter):
    """Drops kombu's notice that the broker URL names no host."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name == "kombu.connection" and str(record.msg).startswith(HOSTLESS_BROKER))


def logging_quiet(logging_config: dict, *, broker_url: str) -> dict:
    """``logging_config`` (Django's LOGGING) with the filters above where they apply."""
    if not broker_url.startswith("filesystem://"):
        return logging_config
    filters = {**logging_config.get("filters", {}), "hostless_broker": {"()": HostlessBrokerFilter}}
    loggers = {**logging_config.get("loggers", {}), "kombu.connection": {"filters": ["hostless_broker"]}}
    return {**logging_config, "filters": filters, "loggers": loggers}
