"""Shared test fixtures: real PostgreSQL and Redis (see the Makefile's `test`),
a tiny real CNN trained once per session on a slice of MNIST, artifact and
media storage in a temporary folder per test, and the one set of named users
every test logs in as (password: tests.users.PASSWORD)."""

import os
from pathlib import Path

import pytest

from tests.users import PASSWORD
from webapp.ratelimits import refusals_forget


@pytest.fixture(autouse=True)
def _isolated_storage(settings, tmp_path):
    # Rate limits count per address in a shared cache; tests that exercise
    # them turn them on (digits/tests/test_rate_limits.py).
    settings.RATELIMIT_ENABLE = False
    refusals_forget()  # what this process refused under another test's limits
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
        "artifacts": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "artifacts")},
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def reviewers_group(db):
    from tests.users import reviewers_group_get

    return reviewers_group_get()


@pytest.fixture
def reviewer(reviewers_group, django_user_model):
    """Rita: staff, in the Reviewers group, nothing else."""
    user = django_user_model.objects.create_user("rita", "rita@example.com", PASSWORD, is_staff=True)
    user.groups.add(reviewers_group)
    return user


@pytest.fixture
def other_reviewer(reviewers_group, django_user_model):
    """Otto: a second reviewer, as Rita."""
    user = django_user_model.objects.create_user("otto", "otto@example.com", PASSWORD, is_staff=True)
    user.groups.add(reviewers_group)
    return user


@pytest.fixture
def staff_user(django_user_model):
    """Sam: staff (may log in to the admin) but in no group."""
    return django_user_model.objects.create_user("sam", "sam@example.com", PASSWORD, is_staff=True)


@pytest.fixture
def superuser(django_user_model):
    """Ada: may do everything."""
    return django_user_model.objects.create_superuser("ada", "ada@example.com", PASSWORD)


@pytest.fixture
def visitor(django_user_model):
    """Vic: a logged-in user who is not staff."""
    return django_user_model.objects.create_user("vic", "vic@example.com", PASSWORD)


@pytest.fixture(scope="session")
def mnist():
    from training.datasets import load_mnist

    return load_mnist()


@pytest.fixture(scope="session")
def tiny_model_path(mnist, tmp_path_factory) -> Path:
    """A real CNN trained for one epoch on 3000 MNIST images (about 97% on
    the first 1000 test images): fast, yet it really recognises digits.
    Without batch normalisation: 47 steps are too few for its statistics."""
    from training.train import TrainConfig, train_baseline

    config = TrainConfig(
        epochs=1, train_limit=3000, test_limit=1000, learning_rate=3e-3, batch_size=64, batchnorm=False
    )
    model, metrics, summary = train_baseline(mnist, config, verbose=0)
    path = tmp_path_factory.mktemp("tiny") / "tiny.keras"
    model.save(path)
    return path


@pytest.fixture(scope="session")
def tiny_litert(tiny_model_path, mnist):
    """The tiny CNN's checked LiteRT export (training.litert), made once."""
    import keras

    from training.litert import litert_for_registration

    model = keras.models.load_model(tiny_model_path, compile=False)
    return litert_for_registration(model, images=mnist.x_test[:2000])


@pytest.fixture
def register_version(tiny_model_path, tiny_litert, db):
    """Register the tiny CNN as a new version (a candidate)."""
    import keras

    from models.registry import model_version_register

    def register(**kwargs):
        model = keras.models.load_model(tiny_model_path, compile=False)
        metrics = kwargs.pop("metrics", {"mnist_accuracy": 0.97})
        return model_version_register(
            model=model,
            litert=tiny_litert.content,
            architecture=tiny_litert.architecture,
            metrics=metrics,
            params={"test": True},
            data_summary={},
            **kwargs,
        )

    return register


@pytest.fixture
def active_version(register_version):
    from models.registry import model_version_activate

    version = register_version()
    return model_version_activate(version=version, by="test fixture")


@pytest.fixture(autouse=True)
def _fresh_model_server():
    """Each test starts with no model loaded in this process (the database
    is emptied between tests, so a cached version would be stale)."""
    import models.serving

    models.serving._server = None
    yield
    models.serving._server = None


CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-quic",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium driven by Playwright (no downloaded browser)."""
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs an event loop in this thread
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    context.close()
