"""Every page on a phone-sized screen (390x844, touch) in Chromium: nothing
runs off the right edge, so a person never has to scroll sideways to find a
button or a number."""

import pytest

from tests.users import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAGES = ["/", "/review/", "/review/statistics/", "/models/"]


def test_no_page_is_wider_than_a_phone(chromium, live_server, superuser, active_version, make_sample, tmp_path):
    make_sample(label=7, predicted=1, margin=0.1)
    context = chromium.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/admin/login/?next=/review/")
        page.fill("#id_username", superuser.username)
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_url("**/review/")
        for path in PAGES:
            page.goto(live_server.url + path)
            page.wait_for_load_state("networkidle")
            width = page.evaluate("document.documentElement.scrollWidth")
            page.screenshot(path=str(tmp_path / f"phone{path.replace('/', '_')}.png"), full_page=True)
            assert width <= 390, f"{path} is {width} px wide on a 390 px screen"
            brand = page.locator(".site-header .brand").bounding_box()
            assert brand["height"] < 30, f"{path}: the site name wraps"
    finally:
        context.close()
