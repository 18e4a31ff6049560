"""The drawing page in Debian's Chromium: draw with pointer moves, watch the
prediction and the feature maps arrive, correct the label, and find the
sample in PostgreSQL."""

import pytest

from digits.models import Sample

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def draw(page, strokes: list[list[tuple[float, float]]]) -> None:
    """Pointer strokes in pad coordinates (0-1 of the canvas side)."""
    box = page.locator("#pad").bounding_box()
    for stroke in strokes:
        x, y = stroke[0]
        page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"])
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"], steps=8)
        page.mouse.up()


SEVEN = [[(0.25, 0.2), (0.75, 0.2), (0.45, 0.85)]]


def test_draw_predict_look_inside_and_correct_the_label(transactional_db, active_version, live_server, page):
    page.goto(live_server.url + "/")
    page.wait_for_selector("#architecture svg")
    assert page.locator("#model-version").inner_text() == f"v{active_version.version}"

    draw(page, SEVEN)
    page.wait_for_function("/^[0-9]$/.test(document.querySelector('#digit').textContent)")
    for layer in ["conv1", "conv2", "pool1", "conv3", "conv4", "pool2", "dense"]:
        # Below the fold: each layer's maps are asked for once it is scrolled into view.
        page.locator(f'.layer[data-layer="{layer}"]').scroll_into_view_if_needed()
        page.wait_for_selector(f'.layer[data-layer="{layer}"] canvas[data-ready="true"]')
    assert page.locator('.layer[data-layer="conv1"] h3').inner_text() == "conv1 Conv2D · 26×26×32"
    # Captions are worked out from the served version's architecture (filters, kernel, shapes).
    captions = {name: page.locator(f'.layer[data-layer="{name}"] .caption').inner_text() for name in ["conv1", "pool2"]}
    assert captions["conv1"].startswith("First convolution: 32 filters of 3×3, looking at your drawing directly")
    assert captions["pool2"].startswith(
        "Pooling keeps the strongest response in each 2×2 patch: 4×4 maps of the same 64"
    )
    assert page.locator('.layer[data-layer="dense"] .caption').inner_text().startswith("128 hidden units")
    predicted = int(page.locator("#digit").inner_text())
    assert predicted == 7  # a clear 7, drawn by a pointer, is recognised
    assert page.locator("#confirm").inner_text() == "Yes, that's a 7"
    # The 28x28 input arrived and has ink in it.
    ink = page.evaluate(
        "Array.from(document.querySelector('#input28').getContext('2d').getImageData(0, 0, 28, 28).data)"
        ".filter((v, i) => i % 4 === 0 && v > 128).length"
    )
    assert ink > 30

    # Hovering a feature map enlarges it and names it.
    page.locator('.layer[data-layer="conv1"] canvas').hover(position={"x": 5, "y": 5})
    label = page.locator("#inspect-label").inner_text()
    assert label.startswith("conv1 (Conv2D), channel 1 of 32, 26×26: min ")

    page.locator('#digit-buttons button[data-digit="1"]').click()
    page.wait_for_selector("#thanks:not([hidden])")
    assert "drawing number 1 from you" in page.locator("#thanks").inner_text()
    assert page.locator("#count").inner_text() == "1"

    sample = Sample.objects.get()
    assert sample.label == 1
    assert sample.label_source == Sample.LabelSource.CORRECTED
    assert sample.predicted == predicted and sample.model_version_id == active_version.pk
    assert sample.status == Sample.Status.PENDING


def test_a_blank_canvas_says_draw_a_digit_first(transactional_db, active_version, live_server, page):
    page.goto(live_server.url + "/")
    page.wait_for_selector("#architecture svg")
    draw(page, [[(0.5, 0.5), (0.505, 0.5)]])  # a dot
    page.wait_for_function("document.querySelector('#status').textContent.startsWith('Draw a digit first')")
    assert page.locator("#digit").inner_text() == "?"
    page.locator("#clear").click()
    assert page.locator("#status").inner_text() == "Draw a digit first."
    assert Sample.objects.count() == 0


def test_collect_mode_asks_for_a_digit_and_stores_it_as_prompted(transactional_db, active_version, live_server, page):
    page.goto(live_server.url + "/")
    page.locator("#mode-collect").click()
    page.wait_for_selector("#prompt:not([hidden])")
    asked = int(page.locator("#prompt-digit").inner_text())
    draw(page, SEVEN)
    page.wait_for_selector("#collect-save:not([hidden])")
    page.locator("#save-prompted").click()
    page.wait_for_selector("#thanks:not([hidden])")
    sample = Sample.objects.get()
    assert sample.label == asked and sample.label_source == Sample.LabelSource.PROMPTED


WHY_PIXELS = "Array.from(document.querySelector('#why28').getContext('2d').getImageData(0, 0, 28, 28).data)"


def red_and_blue(page) -> tuple[int, int]:
    """How many pixels of the map lean clearly red (toward) and blue (against)."""
    data = page.evaluate(WHY_PIXELS)
    pixels = [data[i : i + 3] for i in range(0, len(data), 4)]
    return sum(r > b + 60 for r, _, b in pixels), sum(b > r + 60 for r, _, b in pixels)


def test_why_this_digit_and_why_not_another_on_hover_and_tap(transactional_db, active_version, live_server, page):
    page.goto(live_server.url + "/")
    page.wait_for_selector("#architecture svg")
    draw(page, SEVEN)
    page.wait_for_selector("#why28[data-digit]")
    assert page.locator("#why28").get_attribute("data-digit") == page.locator("#digit").inner_text() == "7"
    assert page.locator("#why-caption").inner_text().startswith("Why a 7: red ink pushed the model toward 7")
    toward, _ = red_and_blue(page)
    assert toward > 10  # the strokes of a clear 7 speak for 7
    seven_map = page.evaluate(WHY_PIXELS)

    page.locator('.bar[data-digit="9"]').hover()
    assert page.locator("#why28").get_attribute("data-digit") == "9"
    assert page.locator("#why-caption").inner_text().startswith("Why not a 9? Blue ink argues against a 9")
    assert page.evaluate(WHY_PIXELS) != seven_map
    assert "asked" in page.locator('.bar[data-digit="9"]').get_attribute("class")
    page.mouse.move(5, 5)  # leaving the bar shows the answer's map again
    assert page.locator("#why28").get_attribute("data-digit") == "7"

    page.locator('.bar[data-digit="1"]').click()  # a click (a tap) pins it
    page.mouse.move(5, 5)
    assert page.locator("#why28").get_attribute("data-digit") == "1"
    page.locator("#clear").click()
    assert page.locator("#why-caption").inner_text().startswith("Draw a digit to see")


def test_on_a_phone_a_tap_on_a_bar_asks_why_not(transactional_db, active_version, live_server, chromium, tmp_path):
    context = chromium.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    phone = context.new_page()
    try:
        phone.goto(live_server.url + "/")
        phone.wait_for_selector("#architecture svg")
        draw(phone, SEVEN)
        phone.wait_for_selector("#why28[data-digit]")
        phone.locator('.bar[data-digit="9"]').tap()
        assert phone.locator("#why28").get_attribute("data-digit") == "9"
        phone.locator('.bar[data-digit="9"]').tap()  # tapping again goes back to the answer
        assert phone.locator("#why28").get_attribute("data-digit") == "7"
        phone.locator("#why").screenshot(path=str(tmp_path / "why-phone.png"))
    finally:
        context.close()


def test_collect_mode_asks_for_the_digit_the_model_gets_wrong_lately(
    transactional_db, active_version, live_server, page, make_sample
):
    for i in range(10):  # the served model read 3 of the last 10 reviewed 4s wrong
        predicted = 9 if i < 3 else 4
        make_sample(label=4, predicted=predicted, status=Sample.Status.APPROVED, model_version=active_version)
    page.goto(live_server.url + "/")
    page.locator("#mode-collect").click()
    reasons = {}
    for _ in range(25):  # a weak digit 60 % of the time, any digit otherwise
        page.wait_for_selector("#prompt:not([hidden])")
        digit = page.locator("#prompt-digit").inner_text()
        reasons.setdefault(digit, set()).add(page.locator("#prompt-reason").inner_text())
        if "The model gets" in " ".join(reasons.get("4", ())):
            break
        page.locator("#mode-free").click()
        page.locator("#mode-collect").click()
    assert "The model gets 4s wrong 30% of the time lately (3 of the last 10 reviewed)." in reasons["4"]
    assert all(r.startswith("Any digit") for d, rs in reasons.items() if d != "4" for r in rs)


def test_a_drawing_that_cannot_be_saved_says_so_beside_the_button_on_a_phone(
    transactional_db, active_version, live_server, chromium, tmp_path
):
    context = chromium.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    phone = context.new_page()
    try:
        phone.goto(live_server.url + "/")
        phone.wait_for_selector("#architecture svg")
        draw(phone, SEVEN)
        phone.wait_for_selector("#labelling:not([hidden]) #confirm:enabled")
        phone.route("**/api/digits/samples", lambda route: route.abort())
        phone.locator("#confirm").tap()
        phone.wait_for_selector("#thanks.problem:not([hidden])")
        assert phone.locator("#thanks").inner_text().startswith("Cannot reach the server: your drawing was not saved.")
        assert phone.locator("#thanks").is_visible()  # where the person is looking, not only in the status line
        phone.screenshot(path=str(tmp_path / "save-offline.png"))

        phone.unroute("**/api/digits/samples")
        limited = {"detail": "Too many requests.", "code": "rate_limited"}
        phone.route(
            "**/api/digits/samples",
            lambda route: route.fulfill(status=429, headers={"Retry-After": "30"}, json=limited),
        )
        phone.locator("#confirm").tap()
        phone.wait_for_function("document.querySelector('#thanks').textContent.includes('Try again in 30 s')")
        assert Sample.objects.count() == 0

        phone.unroute("**/api/digits/samples")
        phone.locator("#confirm").tap()
        phone.wait_for_selector("#thanks:not(.problem):not([hidden])")
        assert phone.locator("#thanks").inner_text().startswith("Thank you! Saved as a 7")
        assert Sample.objects.count() == 1
    finally:
        context.close()


def test_when_the_calibrated_model_is_not_sure_the_page_asks_which_digit_it_is(
    transactional_db, register_version, live_server, page
):
    from models.registry import model_version_activate

    # A version whose fitted temperature flattens every answer below the threshold.
    hesitant = register_version(metrics={"mnist_accuracy": 0.97, "temperature": 50.0})
    model_version_activate(version=hesitant, by="test")
    page.goto(live_server.url + "/")
    page.wait_for_selector("#architecture svg")
    draw(page, SEVEN)
    # The page predicts while the stroke is drawn: wait for the answer to the
    # finished drawing, not for the first (unsure) answer to half a seven.
    page.wait_for_function("document.querySelector('#confirm').textContent === 'It is a 7'")
    page.wait_for_selector("#unsure:not([hidden])")
    assert page.locator("#confidence").inner_text() == "Not sure"
    assert page.locator("#unsure").inner_text().startswith("Not sure — which digit is it?")
    assert page.locator("#confirm").inner_text() == "It is a 7"
    shown = [float(t.rstrip("%")) for t in page.locator(".bar .pct").all_inner_texts()]
    assert max(shown) < 80  # the calibrated probabilities, not the raw "99 % sure"
    page.locator('#digit-buttons button[data-digit="7"]').click()
    page.wait_for_selector("#thanks:not([hidden])")
    assert Sample.objects.get().label == 7
