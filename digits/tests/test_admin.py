import pytest
from django.urls import reverse

from digits.models import Sample, SampleReview

CHANGELIST = reverse("admin:digits_sample_changelist")


def bulk(client, action, samples, **extra):
    data = {"action": action, "_selected_action": [s.id for s in samples], "label": "", **extra}
    return client.post(CHANGELIST, data, follow=True)


def test_the_list_shows_both_thumbnails_and_the_columns(client, superuser, make_sample):
    sample = make_sample(label=7, predicted=1)
    client.force_login(superuser)

    response = client.get(CHANGELIST)

    html = response.content.decode()
    assert response.status_code == 200
    assert reverse("review:sample_drawing", args=[sample.id]) in html
    assert 'src="data:image/png;base64,' in html
    for column in ("confidence", "model version", "label source", "reviewed by", "prediction disagrees with label"):
        assert column in html.lower()
    assert "91%" in html


def test_the_disagreement_filter_keeps_samples_whose_prediction_differs(client, superuser, make_sample):
    disagrees = make_sample(label=7, predicted=1)
    agrees = make_sample(label=7, predicted=7)
    no_prediction = make_sample(label=7, predicted=None)
    client.force_login(superuser)

    yes = client.get(CHANGELIST, {"disagrees": "yes"}).context["cl"].result_list
    no = client.get(CHANGELIST, {"disagrees": "no"}).context["cl"].result_list

    assert list(yes) == [disagrees]
    assert list(no) == [agrees]
    assert no_prediction not in yes


def test_filters_by_label_prediction_and_status(client, superuser, make_sample):
    target = make_sample(label=3, predicted=5, status=Sample.Status.APPROVED)
    make_sample(label=3, predicted=3, status=Sample.Status.APPROVED)
    make_sample(label=3, predicted=5)
    client.force_login(superuser)

    result = client.get(CHANGELIST, {"label": "3", "predicted": "5", "status__exact": "approved"}).context["cl"]

    assert list(result.result_list) == [target]


@pytest.mark.parametrize("term", ["id", "client"])
def test_search_finds_a_sample_by_id_or_client(client, superuser, make_sample, term):
    wanted = make_sample(client_id="browser-1234")
    make_sample(client_id="another")
    client.force_login(superuser)

    query = str(wanted.id) if term == "id" else "1234"
    result = client.get(CHANGELIST, {"q": query}).context["cl"].result_list

    assert list(result) == [wanted]


def test_a_reviewer_approves_and_rejects_in_bulk(client, reviewer, make_sample):
    first, second, third = make_sample(), make_sample(), make_sample()
    client.force_login(reviewer)

    response = bulk(client, "approve", [first, second])
    assert "Approve: 2 samples." in response.content.decode()
    bulk(client, "reject", [third])

    statuses = dict(Sample.objects.values_list("id", "status"))
    assert statuses == {first.id: "approved", second.id: "approved", third.id: "rejected"}
    assert set(SampleReview.objects.values_list("reviewer__username", flat=True)) == {"rita"}


def test_relabelling_in_bulk_uses_the_chosen_digit(client, reviewer, make_sample):
    samples = [make_sample(label=1, predicted=7), make_sample(label=2, predicted=7)]
    client.force_login(reviewer)

    bulk(client, "relabel", samples, label="7")

    assert set(Sample.objects.values_list("label", "status")) == {(7, "approved")}
    assert SampleReview.objects.filter(action="relabel").count() == 2


def test_relabelling_without_a_digit_changes_nothing(client, reviewer, make_sample):
    sample = make_sample(label=1)
    client.force_login(reviewer)

    response = bulk(client, "relabel", [sample])

    assert "Choose the digit" in response.content.decode()
    sample.refresh_from_db()
    assert (sample.label, sample.status) == (1, Sample.Status.PENDING)


def test_the_detail_page_shows_the_drawing_large_and_the_probabilities(client, reviewer, make_sample):
    sample = make_sample(label=4, predicted=9)
    client.force_login(reviewer)

    response = client.get(reverse("admin:digits_sample_change", args=[sample.id]))

    html = response.content.decode()
    assert response.status_code == 200
    assert f'src="{reverse("review:sample_drawing", args=[sample.id])}"' in html and 'width="280"' in html
    assert html.count("<tr><th>") >= 10 and "91.0%" in html and "1.0%" in html
    assert "/media/" not in html  # the file is linked through the staff-only view


def test_the_detail_page_edits_nothing_even_for_a_superuser(client, superuser, make_sample):
    sample = make_sample(label=4)
    client.force_login(superuser)

    client.post(reverse("admin:digits_sample_change", args=[sample.id]), {"label": "5", "status": "approved"})

    sample.refresh_from_db()
    assert (sample.label, sample.status) == (4, Sample.Status.PENDING)


def test_the_drawing_is_served_to_staff_as_png(client, reviewer, make_sample):
    sample = make_sample()
    client.force_login(reviewer)

    response = client.get(reverse("review:sample_drawing", args=[sample.id]))

    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")
