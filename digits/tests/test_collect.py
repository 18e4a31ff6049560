"""Collect mode asks for the digits the served model gets wrong lately."""

import random

import pytest

from digits.collect import prompt_choose, weak_digits_get
from digits.models import Sample

pytestmark = pytest.mark.django_db
APPROVED = Sample.Status.APPROVED


@pytest.fixture
def reviewed(make_sample):
    """Approved drawings the given version predicted: ``wrong`` of ``n`` misread."""

    def make(version, digit: int, n: int, wrong: int, status=APPROVED):
        for i in range(n):
            predicted = (digit + 1) % 10 if i < wrong else digit
            make_sample(label=digit, predicted=predicted, status=status, model_version=version)

    return make


def test_the_weakest_digits_come_from_the_served_versions_recent_reviewed_drawings(
    active_version, register_version, reviewed
):
    reviewed(active_version, 4, n=10, wrong=4)
    reviewed(active_version, 7, n=10, wrong=1)
    reviewed(active_version, 9, n=10, wrong=0)
    reviewed(active_version, 2, n=3, wrong=2)  # too few to judge
    reviewed(active_version, 5, n=10, wrong=10, status=Sample.Status.PENDING)  # not reviewed yet
    reviewed(register_version(), 8, n=10, wrong=9)  # another version's mistakes

    weak = weak_digits_get()
    assert [(d.digit, d.wrong, d.drawings) for d in weak] == [(4, 4, 10), (7, 1, 10)]


def test_the_prompt_asks_mostly_for_the_weakest_and_says_why(active_version, reviewed):
    reviewed(active_version, 4, n=10, wrong=3)
    reviewed(active_version, 1, n=10, wrong=0)
    rng = random.Random(5)
    prompts = [prompt_choose(rng=rng) for _ in range(1000)]
    fours = [p for p in prompts if p.digit == 4]
    assert 0.55 < len(fours) / len(prompts) < 0.73  # 0.6 + 0.4 / 10 expected; 0.1 if uniform
    weakness = [p for p in fours if p.error_rate is not None]
    assert weakness[0].reason == "The model gets 4s wrong 30% of the time lately (3 of the last 10 reviewed)."
    assert all(p.error_rate is None and p.reason.startswith("Any digit") for p in prompts if p not in weakness)


def test_without_evidence_it_falls_back_to_the_focus_digits(active_version, settings):
    settings.FOCUS_DIGITS = [3, 8]
    prompts = [prompt_choose(rng=random.Random(i)) for i in range(200)]
    focus = [p for p in prompts if p.reason.startswith("Models often confuse 3s and 8s")]
    assert focus and all(p.digit in (3, 8) for p in focus)


def test_the_prompt_api_gives_the_digit_and_the_reason(client, active_version, reviewed):
    reviewed(active_version, 6, n=5, wrong=5)
    answers = [client.get("/api/digits/prompt").json() for _ in range(30)]
    assert {"digit", "reason", "error_rate", "drawings"} <= set(answers[0])
    weak = [a for a in answers if a["error_rate"] is not None]
    assert weak and all(a["digit"] == 6 and a["error_rate"] == 1.0 and a["drawings"] == 5 for a in weak)
