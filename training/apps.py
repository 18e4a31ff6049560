from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "training"

    def ready(self) -> None:
        from webapp.metrics import database_collector_register

        from .metrics import TrainingRunsCollector

        database_collector_register(TrainingRunsCollector())
