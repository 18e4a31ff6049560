from django.apps import AppConfig


class DigitsConfig(AppConfig):
    name = "digits"

    def ready(self) -> None:
        from webapp.metrics import database_collector_register

        from .metrics import ReviewQueueCollector

        database_collector_register(ReviewQueueCollector())
