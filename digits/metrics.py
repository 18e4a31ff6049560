"""What the digits app tells operators at /metrics (webapp/metrics.py serves
it): predictions answered in this process, and the drawings waiting for
review, read from the tallies at each scrape."""

from prometheus_client import Counter, Gauge
from prometheus_client.core import GaugeMetricFamily

PREDICTIONS = Counter(
    "digitlab_predictions", "Predictions answered, by served model version and predicted digit", ["version", "digit"]
)
SERVED_VERSION = Gauge(
    "digitlab_served_model_version", "The model version this process last answered with", multiprocess_mode="liveall"
)


def record_prediction(*, version: int, digit: int) -> None:
    PREDICTIONS.labels(version=str(version), digit=str(digit)).inc()
    SERVED_VERSION.set(version)


class ReviewQueueCollector:
    """The review queue's size, from the tallies (a sum over a few rows)."""

    def collect(self):
        from .review.selectors import review_queue_counts

        counts = review_queue_counts()
        yield GaugeMetricFamily("digitlab_pending_drawings", "Drawings waiting for review", value=counts.pending)
        yield GaugeMetricFamily(
            "digitlab_pending_disagreeing_drawings",
            "Pending drawings whose prediction disagrees with their label",
            value=counts.disagreements,
        )
