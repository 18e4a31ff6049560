from django.apps import AppConfig


class DigitsConfig(AppConfig):
    name = "digits"
