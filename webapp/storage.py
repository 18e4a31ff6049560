from django.core.files.storage import Storage, storages


class _ArtifactStorage(Storage):
    """Whatever ``storages["artifacts"]`` is at the moment of each call.

    A FileField calls its storage callable once, when models load; handing it
    this proxy instead of the storage itself means a changed STORAGES setting
    (tests give every test its own folder) takes effect, rather than every
    artifact landing in the folder configured at start-up."""

    def __getattribute__(self, name):
        return getattr(storages["artifacts"], name)


_artifacts = _ArtifactStorage()


def artifact_storage():
    """The storage for model artifacts (a callable, so tests and settings can swap it)."""
    return _artifacts
