"""What the training app tells operators at /metrics (webapp/metrics.py
serves it): training runs by kind and outcome, and how long finished ones
took, read from the database at each scrape."""

from django.db.models import Count
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

RUN_DURATION_BUCKETS = (15, 30, 60, 90, 120, 300, 600, 1200, 1800, 3600)


class TrainingRunsCollector:
    def collect(self):
        from .models import TrainingRun

        runs = list(TrainingRun.objects.order_by().values("kind", "status").annotate(n=Count("id")))
        finished = TrainingRun.objects.filter(started_at__isnull=False, finished_at__isnull=False)
        durations = list(finished.values_list("status", "started_at", "finished_at"))
        total = CounterMetricFamily(
            "digitlab_training_runs", "Training runs by kind and outcome", labels=["kind", "status"]
        )
        for row in runs:
            total.add_metric([row["kind"], row["status"]], row["n"])
        yield total
        histogram = HistogramMetricFamily(
            "digitlab_training_run_duration_seconds", "How long finished training runs took", labels=["status"]
        )
        for status in sorted({status for status, _, _ in durations}):
            seconds = [(end - start).total_seconds() for s, start, end in durations if s == status]
            buckets = [(str(b), sum(1 for d in seconds if d <= b)) for b in RUN_DURATION_BUCKETS]
            histogram.add_metric([status], buckets + [("+Inf", len(seconds))], sum(seconds))
        yield histogram
