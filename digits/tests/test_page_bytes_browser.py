"""What the drawing page sends and receives, in Debian's Chromium: only the
probabilities while a stroke is drawn; when it ends the explanation, then
the maps of the layers on screen; the others when scrolled into view; and
the drawing as a grey PNG that the server reads as the canvas's own PNG."""

import json

import pytest

from .test_page_browser import SEVEN

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LAYERS = ["conv1", "conv2", "pool1", "conv3", "conv4", "pool2", "dense"]
ON_SCREEN = """() => [...document.querySelectorAll('.layer')].filter((s) => {
  const r = s.getBoundingClientRect();
  return r.bottom > -100 && r.top < window.innerHeight + 100;
}).map((s) => s.dataset.layer)"""


def predict_calls(page) -> list[dict]:
    """Every predict request: its body, and once finished its sizes on the wire."""
    calls = []

    def sent(request):
        if request.url.endswith("/api/digits/predict"):
            calls.append({"request": request, "body": json.loads(request.post_data)})

    page.on("request", sent)
    return calls


def test_a_stroke_asks_for_probabilities_and_its_end_for_the_maps_on_screen(
    transactional_db, active_version, live_server, chromium
):
    context = chromium.new_context(viewport={"width": 1280, "height": 1500})
    page = context.new_page()
    try:
        calls = predict_calls(page)
        page.goto(live_server.url + "/")
        page.wait_for_selector("#architecture svg")
        page.wait_for_selector('.layer[data-layer="dense"]')  # laid out from the architecture
        on_screen = page.evaluate(ON_SCREEN)
        assert "conv1" in on_screen and "dense" not in on_screen

        box = page.locator("#pad").bounding_box()
        (x0, y0), *rest = SEVEN[0]
        page.mouse.move(box["x"] + x0 * box["width"], box["y"] + y0 * box["height"])
        page.mouse.down()
        for x, y in rest:  # slowly: answers arrive while the pen is still down
            page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"], steps=8)
            page.wait_for_timeout(400)
        page.wait_for_function("/^[0-9]$/.test(document.querySelector('#digit').textContent)")
        during = list(calls)
        assert len(during) >= 2
        assert all(c["body"]["activations"] is False and c["body"]["explanation"] is False for c in during)
        for call in during:
            answer = call["request"].response()
            assert answer.status == 200 and answer.json()["activations"] is None
            # gzipped by the app: the 2.6 KB of probabilities and input in well under 1 KB
            assert answer.header_value("content-encoding") == "gzip"
            assert call["request"].sizes()["responseBodySize"] < 1000

        page.mouse.up()
        page.wait_for_selector('.layer[data-layer="conv1"]:not(.stale) canvas[data-ready="true"]')
        page.wait_for_selector("#why28[data-digit]")
        after = calls[len(during) :]
        ending = [c for c in after if c["body"].get("explanation")]
        assert len(ending) == 1 and ending[0]["body"]["activations"] is False  # the answer first, small
        maps = [c for c in after if c["body"]["activations"]]
        assert len(maps) == 1 and after.index(maps[0]) > after.index(ending[0])
        assert maps[0]["body"]["activations"] == on_screen  # then the maps on screen, in model order
        answer = maps[0]["request"].response().json()
        assert [layer["name"] for layer in answer["activations"]] == on_screen
        for name in on_screen:
            page.wait_for_selector(f'.layer[data-layer="{name}"]:not(.stale) canvas[data-ready="true"]')
        assert page.locator('.layer[data-layer="dense"] canvas[data-ready="true"]').count() == 0

        before = len(calls)
        page.locator('.layer[data-layer="dense"]').scroll_into_view_if_needed()
        page.wait_for_selector('.layer[data-layer="dense"]:not(.stale) canvas[data-ready="true"]')
        scrolled = calls[before:]
        assert len(scrolled) == 1
        asked = scrolled[0]["body"]
        assert "dense" in asked["activations"] and not set(asked["activations"]) & set(on_screen)
        assert not asked.get("explanation")
    finally:
        context.close()


def test_the_grey_png_the_page_sends_reads_as_the_canvas_png(transactional_db, active_version, live_server, page):
    from .test_page_browser import draw

    page.goto(live_server.url + "/")
    page.wait_for_selector("#architecture svg")
    draw(page, SEVEN)
    page.wait_for_selector("#why28[data-digit]")
    answers = page.evaluate(
        """async () => {
          const { greyPngDataUrl } = await import('/static/digits/draw/png.js');
          const pad = document.getElementById('pad');
          const grey = await greyPngDataUrl(pad);
          const rgba = pad.toDataURL('image/png');
          const token = document.querySelector('meta[name="csrf-token"]').content;
          const ask = async (image) => (await fetch('/api/digits/predict', {
            method: 'POST', body: JSON.stringify({ image }),
            headers: { 'Content-Type': 'application/json', 'X-CSRFToken': token },
          })).json();
          return { grey: grey.length, rgba: rgba.length, greyAnswer: await ask(grey), rgbaAnswer: await ask(rgba) };
        }"""
    )
    assert answers["greyAnswer"]["input"] == answers["rgbaAnswer"]["input"]
    assert answers["greyAnswer"]["probabilities"] == answers["rgbaAnswer"]["probabilities"]
    assert answers["greyAnswer"]["digit"] == 7
    assert answers["grey"] < answers["rgba"] / 2


def test_a_stroke_asks_at_most_once_every_live_gap_however_fast_the_answers(
    transactional_db, active_version, live_server, page
):
    sent_at = """() => performance.getEntriesByType('resource')
      .filter((e) => e.name.endsWith('/api/digits/predict')).map((e) => e.startTime)"""
    page.goto(live_server.url + "/")
    page.wait_for_selector("#architecture svg")
    box = page.locator("#pad").bounding_box()
    page.mouse.move(box["x"] + 0.2 * box["width"], box["y"] + 0.2 * box["height"])
    page.mouse.down()
    for step in range(130):  # a pointer move every ~15 ms for about two seconds
        x, y = 0.2 + 0.6 * (step % 40) / 40, 0.2 + 0.3 * ((step // 40) % 2)
        page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"])
        page.wait_for_timeout(15)
    live = page.evaluate(sent_at)  # in the page's clock, ms
    up = page.evaluate("performance.now()")
    page.mouse.up()
    ended = f"() => ({sent_at})().filter((t) => t > {up})"
    page.wait_for_function(f"({ended})().length > 0")
    gaps = [b - a for a, b in zip(live, live[1:], strict=False)]
    # Answers from this server come in a few ms; without the gap the page asks every ~90 ms.
    assert len(live) >= 8, live
    # LIVE_GAP_MS = 200 from one set-off to the next; the fetch starts after the PNG's encoding (a few ms)
    assert min(gaps) >= 180, [round(g) for g in gaps]
    assert page.evaluate(ended)[0] - up < 100  # the stroke's end is asked for at once, gap or not
