"""The web app with the drawing's work replaced by a stored answer, to
measure what the serving stack itself costs (bench/http_load.py --floor).

Each web process answers every predict request with the answer it computed
for the first drawing it was sent: no decoding, preprocessing, LiteRT or
quantising; everything else (gunicorn, Django's middleware, ninja, the CSRF
check, both rate limits in Redis, the JSON in and out) runs as in
production.  Served by gunicorn as ``bench.stack_floor:application``."""

from __future__ import annotations

from webapp.wsgi import application  # sets Django up

__all__ = ["application"]


def _store_answers() -> None:
    from digits import api

    work, stored = (api.drawing_predict, api.activations_encode), {}

    def stored_prediction(**kwargs):
        if "prediction" not in stored:
            stored["prediction"] = work[0](**kwargs)
        return stored["prediction"]

    def stored_activations(result):
        if "activations" not in stored:
            stored["activations"] = work[1](result)
        return stored["activations"]

    api.drawing_predict, api.activations_encode = stored_prediction, stored_activations


_store_answers()
