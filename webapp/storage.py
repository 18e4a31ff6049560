from django.core.files.storage import Storage, storages
from whitenoise.storage import CompressedManifestStaticFilesStorage


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


class StaticStorage(CompressedManifestStaticFilesStorage):
    """Hashed, compressed static files, and the drawing page's ES modules
    import each other by their hashed names too (Django rewrites the import
    statements), so a browser never mixes modules of two releases."""

    support_js_module_import_aggregation = True
