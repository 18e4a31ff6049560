from django.core.files.storage import storages


def artifact_storage():
    """The storage for model artifacts (a callable, so tests and settings can swap it)."""
    return storages["artifacts"]
