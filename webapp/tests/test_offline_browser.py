"""Pages that work with no internet: in Chromium, every request that leaves
the test server is blocked, and the API docs and the drawing page still load
whole, with nothing missing in the console."""

from pathlib import Path

import pytest
from django.contrib.staticfiles import finders

from webapp.api import api

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def offline_page(page, live_server):
    """The page, with requests outside the live server aborted and recorded,
    and the console's errors and every answer of 400 or more recorded."""
    page.outside, page.errors = [], []

    def only_the_server(route):
        if route.request.url.startswith(live_server.url):
            route.continue_()
        else:
            page.outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_server)
    page.on("console", lambda m: page.errors.append(f"{m.text} ({m.location['url']})") if m.type == "error" else None)
    page.on("response", lambda r: page.errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    return page


def test_the_api_docs_render_their_operations_offline(offline_page, live_server):
    schema = api.get_openapi_schema()
    operations = [(m.upper(), p) for p, item in schema["paths"].items() for m in item if m in HTTP_METHODS]
    assert len(operations) >= 5

    offline_page.goto(f"{live_server.url}/api/docs")
    offline_page.wait_for_selector(".opblock")
    offline_page.wait_for_load_state("networkidle")

    rendered = offline_page.locator(".opblock-summary").evaluate_all(
        "rows => rows.map(r => [r.querySelector('.opblock-summary-method').textContent,"
        " r.querySelector('.opblock-summary-path').dataset.path])"
    )
    assert sorted(map(tuple, rendered)) == sorted(operations)
    assert offline_page.locator(".swagger-ui .info .title").inner_text().startswith("Digit Lab API")
    icon = offline_page.locator("link[rel=icon]").first.get_attribute("href")
    assert icon.startswith("/static/")
    assert offline_page.outside == []
    assert offline_page.errors == []


def test_the_drawing_page_loads_with_no_error_and_nothing_from_outside(offline_page, live_server, active_version):
    offline_page.goto(live_server.url + "/")
    offline_page.wait_for_load_state("networkidle")
    offline_page.wait_for_timeout(500)  # the favicon is asked for after the load

    assert offline_page.locator("#pad").is_visible()
    assert offline_page.outside == []
    assert offline_page.errors == []


def test_a_page_that_names_no_icon_gets_the_sites(client):
    response = client.get("/favicon.ico")  # what a browser asks for on the admin's pages, JSON, ...

    assert response.status_code == 302
    assert response["Location"] == "/static/webapp/favicon.svg"
    assert "<svg" in Path(finders.find("webapp/favicon.svg")).read_text()
