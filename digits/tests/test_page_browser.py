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
        page.wait_for_selector(f'.layer[data-layer="{layer}"] canvas[data-ready="true"]')
    assert page.locator('.layer[data-layer="conv1"] h3').inner_text() == "conv1 Conv2D · 26×26×32"
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
