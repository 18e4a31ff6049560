from django.urls import reverse

from digits.models import Sample


def test_the_statistics_page_shows_the_rate_and_the_heat_map(client, reviewer, make_sample):
    make_sample(label=7, predicted=1)
    make_sample(label=7, predicted=7, status=Sample.Status.APPROVED)
    make_sample(label=7, predicted=7, status=Sample.Status.APPROVED)
    make_sample(label=7, predicted=1, status=Sample.Status.APPROVED)
    client.force_login(reviewer)

    response = client.get(reverse("review:statistics"))

    html = response.content.decode()
    assert response.status_code == 200
    assert "<strong>50%</strong>" in html and "(2 of 4;" in html
    heat = response.context["heat"]
    assert [c["n"] for c in heat[7]["cells"]] == [0, 2, 0, 0, 0, 0, 0, 2, 0, 0]
    assert heat[7]["cells"][1]["share"] == 0.5 and heat[7]["cells"][7]["diagonal"]
    assert 'style="--share: 0.500"' in html
    assert response.context["by_label"][7]["approved"] == 3
