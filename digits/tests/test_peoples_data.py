"""A person's drawings can be forgotten, by them or by the admin, and the
original images of rejected drawings do not stay for ever."""

from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from digits.models import Sample, SampleReview
from digits.review.selectors import review_queue_counts, sample_counts_by_label_and_status
from digits.services import rejected_images_purge, sample_reject
from digits.tasks import rejected_images_purge as purge_task

from .conftest import digit_pixels, png_bytes


def image_path(sample: Sample) -> Path:
    return Path(settings.STORAGES["default"]["OPTIONS"]["location"]) / sample.image.name


def give(post_json, label: int, seed: int):
    from tests.drawings import data_url

    body = {"image": data_url(png_bytes(digit_pixels(seed))), "label": label, "label_source": "prompted"}
    response = post_json("/api/digits/samples", body)
    assert response.status_code == 200, response.content
    return Sample.objects.get(id=response.json()["id"])


def test_forget_my_drawings_deletes_only_this_browsers_drawings_and_files(
    post_json, client, make_sample, django_capture_on_commit_callbacks
):
    someone_else = make_sample(label=3, client_id="someone-else")
    mine = [give(post_json, 7, 1), give(post_json, 9, 2)]
    files = [image_path(s) for s in mine]
    assert all(f.exists() for f in files) and review_queue_counts().pending == 3

    with django_capture_on_commit_callbacks(execute=True):  # the files go once the deletion is committed
        response = post_json("/api/digits/samples/forget", {})

    assert response.status_code == 200 and response.json() == {"deleted": 2}
    assert list(Sample.objects.all()) == [someone_else]
    assert not any(f.exists() for f in files) and image_path(someone_else).exists()
    assert review_queue_counts().pending == 1  # the counts follow
    # The browser starts over as someone new: its next drawing is not linked to the forgotten ones.
    again = give(post_json, 1, 3)
    assert again.client_id != mine[0].client_id


def test_the_page_has_the_control_and_it_forgets(post_json, client, db):
    give(post_json, 4, 5)
    page = client.get("/").content.decode()
    assert 'id="forget"' in page and 'action="/forget"' in page

    response = client.post("/forget", follow=True)

    assert response.status_code == 200 and Sample.objects.count() == 0
    assert "Forgotten: 1 drawing deleted." in response.content.decode()
    assert client.get("/forget").status_code == 405


def test_forgetting_needs_the_csrf_token(db, make_sample):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    assert browser.post("/forget").status_code == 403
    assert browser.post("/api/digits/samples/forget", {}, content_type="application/json").status_code in (401, 403)


def test_the_admin_deletes_every_drawing_of_a_client(client, superuser, reviewer, make_sample):
    theirs = [make_sample(label=d, client_id="client-x") for d in (1, 2, 3)]
    sample_reject(sample=theirs[0], reviewer=reviewer)
    other = make_sample(label=5, client_id="client-y")
    client.force_login(superuser)

    response = client.post(
        reverse("admin:digits_sample_changelist"),
        {"action": "forget_clients", "_selected_action": [theirs[1].id], "label": ""},
        follow=True,
    )

    assert response.status_code == 200 and "Deleted 3 drawings of 1 client(s): client-x" in response.content.decode()
    assert list(Sample.objects.all()) == [other]
    assert not SampleReview.objects.exists()
    assert sum(row["total"] for row in sample_counts_by_label_and_status()) == 1


def test_a_reviewer_cannot_delete_a_clients_drawings(client, reviewer, make_sample):
    sample = make_sample(client_id="client-x")
    client.force_login(reviewer)

    client.post(
        reverse("admin:digits_sample_changelist"),
        {"action": "forget_clients", "_selected_action": [sample.id], "label": ""},
    )

    assert Sample.objects.filter(id=sample.id).exists()


def test_old_rejected_drawings_lose_their_original_image_and_keep_the_rest(
    make_sample, reviewer, settings, django_capture_on_commit_callbacks
):
    settings.REJECTED_IMAGE_RETENTION_DAYS = 30
    old, recent, approved = make_sample(label=1), make_sample(label=2), make_sample(label=3)
    for sample in (old, recent):
        sample_reject(sample=sample, reviewer=reviewer)
    Sample.objects.filter(id__in=[old.id, approved.id]).update(
        reviewed_at=timezone.now() - timedelta(days=31), status=Sample.Status.REJECTED
    )
    Sample.objects.filter(id=approved.id).update(status=Sample.Status.APPROVED)
    files = {s.id: image_path(s) for s in (old, recent, approved)}

    with django_capture_on_commit_callbacks(execute=True):
        assert purge_task() == 1

    old.refresh_from_db()
    assert not old.image and not files[old.id].exists()
    assert old.array.shape == (28, 28) and old.status == Sample.Status.REJECTED
    assert files[recent.id].exists() and files[approved.id].exists()
    assert rejected_images_purge(older_than_days=0) == 0


def test_a_purged_drawing_shows_as_purged_to_staff(client, superuser, make_sample, reviewer):
    sample = make_sample()
    sample_reject(sample=sample, reviewer=reviewer)
    Sample.objects.filter(id=sample.id).update(reviewed_at=timezone.now() - timedelta(days=90))
    rejected_images_purge(older_than_days=30)
    client.force_login(superuser)

    assert client.get(reverse("review:sample_drawing", args=[sample.id])).status_code == 404
    assert "purged" in client.get(reverse("admin:digits_sample_changelist")).content.decode()
