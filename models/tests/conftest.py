import pytest


@pytest.fixture
def artifacts(settings, tmp_path):
    """Artifacts in a folder the web processes read too."""
    root = tmp_path / "shared" / "artifacts"
    settings.ARTIFACT_ROOT = root
    settings.STORAGES = {
        **settings.STORAGES,
        "artifacts": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(root)}},
    }
    return root
