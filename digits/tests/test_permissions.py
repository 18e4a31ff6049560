"""Who reaches the staff side: anonymous visitors nothing, reviewers the
samples and the models (read-only), superusers everything."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from digits.models import Sample

PAGES = ["review:queue", "review:statistics", "admin:digits_sample_changelist", "admin:digits_samplereview_changelist"]


@pytest.fixture
def sample(make_sample):
    return make_sample(label=7, predicted=1)


def page_urls(sample):
    return [reverse(name) for name in PAGES] + [
        reverse("review:sample_drawing", args=[sample.id]),
        reverse("admin:digits_sample_change", args=[sample.id]),
    ]


def api_get(client):
    return client.get(reverse("api:review_queue"))


def api_approve(client, sample):
    url = reverse("api:review_decide", args=[sample.id])
    return client.post(url, {"action": "approve"}, content_type="application/json")


def test_the_reviewers_group_holds_exactly_the_review_and_model_permissions(reviewers_group):
    permissions = set(reviewers_group.permissions.values_list("content_type__app_label", "codename"))

    assert permissions == {
        ("digits", "view_sample"),
        ("digits", "review_sample"),
        ("digits", "view_samplereview"),
        ("models", "view_modelversion"),
        ("models", "view_modelactivation"),
    }
    assert Group.objects.filter(name="Reviewers").count() == 1


def test_anonymous_visitors_are_sent_to_the_login_page(client, sample):
    for url in page_urls(sample):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("admin:login")), url

    assert api_get(client).status_code == 401
    assert api_approve(client, sample).status_code in (401, 403)
    sample.refresh_from_db()
    assert sample.status == Sample.Status.PENDING


def test_a_user_who_is_not_staff_is_sent_to_the_login_page_too(client, visitor, sample):
    client.force_login(visitor)

    assert client.get(reverse("review:queue"))["Location"].startswith(reverse("admin:login"))
    assert api_get(client).status_code == 401


def test_staff_outside_the_group_cannot_review(client, staff_user, sample):
    client.force_login(staff_user)

    assert client.get(reverse("review:queue")).status_code == 403
    assert client.get(reverse("review:statistics")).status_code == 403
    assert client.get(reverse("admin:digits_sample_changelist")).status_code == 403
    assert api_get(client).status_code == 401
    assert api_approve(client, sample).status_code == 401


def test_a_reviewer_reaches_the_review_pages_and_sees_models(client, reviewer, sample):
    client.force_login(reviewer)

    for url in page_urls(sample):
        assert client.get(url).status_code == 200, url
    nav = client.get(reverse("review:statistics")).content.decode()
    assert f'href="{reverse("review:queue")}">Review</a>' in nav
    assert client.get(reverse("admin:models_modelversion_changelist")).status_code == 200
    assert client.get(reverse("admin:models_modelactivation_changelist")).status_code == 200
    assert api_get(client).status_code == 200
    assert api_approve(client, sample).status_code == 200


def test_a_reviewer_can_do_nothing_more(client, reviewer, make_sample):
    sample = make_sample()
    client.force_login(reviewer)

    forbidden = ["admin:auth_user_changelist", "admin:auth_group_changelist"]
    forbidden.append("admin:django_celery_beat_periodictask_changelist")
    for name in forbidden:
        assert client.get(reverse(name)).status_code == 403, name
    assert client.get(reverse("admin:digits_sample_delete", args=[sample.id])).status_code == 403
    versions = client.get(reverse("admin:models_modelversion_changelist"))
    assert versions.context["action_form"] is None  # no "activate" (nor any other) action offered
    samples = client.get(reverse("admin:digits_sample_changelist"))
    actions = {value for value, _ in samples.context["action_form"].fields["action"].choices}
    assert {"approve", "reject", "relabel", "export_npz"} <= actions and "delete_selected" not in actions
    index = client.get(reverse("admin:index")).content.decode()
    assert "Training" not in index and "Users" not in index


def test_a_superuser_reaches_everything(client, superuser, sample):
    client.force_login(superuser)

    for url in page_urls(sample):
        assert client.get(url).status_code == 200, url
    assert client.get(reverse("admin:auth_user_changelist")).status_code == 200
    assert api_approve(client, sample).status_code == 200
