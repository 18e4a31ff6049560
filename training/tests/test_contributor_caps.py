"""Caps on a fine-tune's drawings: no contributor supplies more than
CONTRIBUTOR_MAX_SHARE of the drawings no person decided, and the held-out
drawings that judge a candidate are only ones a person decided."""

import hashlib

import pytest
from django.utils import timezone

from digits.models import Sample
from training.selectors import is_held_out, training_drawings_pick

pytestmark = pytest.mark.django_db


def drawings(client_id: str, count: int, *, triage: str, status: str = Sample.Status.APPROVED) -> list[Sample]:
    rows = []
    for i in range(count):
        sha = hashlib.sha256(f"{client_id}-{i}".encode()).hexdigest()
        rows.append(
            Sample(
                image=f"samples/test/{client_id}-{i}.png",
                image_sha256=sha,
                pixels=bytes(784),
                label=i % 10,
                label_source=Sample.LabelSource.PROMPTED,
                client_id=client_id,
                status=status,
                triage=triage,
                reviewed_at=timezone.now(),
            )
        )
    return Sample.objects.bulk_create(rows)


def test_no_contributor_supplies_more_than_the_share_of_unchecked_drawings(settings):
    settings.CONTRIBUTOR_MAX_SHARE = 0.02
    spam = drawings("spammer", 300, triage=Sample.Triage.AUTO_APPROVED)
    for i in range(100):
        drawings(f"honest-{i}", 8, triage=Sample.Triage.AUTO_APPROVED)
    checked = drawings("checked-by-people", 300, triage=Sample.Triage.NEEDS_PERSON)

    pick = training_drawings_pick(since=None, cap=10_000, heldout_cap=5_000)

    train = set(pick.train_ids)
    from_spammer = len(train & {s.id for s in spam})
    assert 0 < from_spammer <= 0.02 * len(train)
    # A person's decision vouches for a label whoever drew it: no cap.
    assert len(train & {s.id for s in checked}) == sum(not is_held_out(s.image_sha256) for s in checked)


def test_the_judges_are_only_drawings_a_person_decided(settings):
    settings.CONTRIBUTOR_MAX_SHARE = 1.0
    settings.TRAIN_INCLUDE_PENDING = True
    auto = drawings("auto", 200, triage=Sample.Triage.AUTO_APPROVED)
    pending = drawings("pending", 200, triage=Sample.Triage.NEEDS_PERSON, status=Sample.Status.PENDING)
    decided = drawings("decided", 200, triage=Sample.Triage.NEEDS_PERSON)

    pick = training_drawings_pick(since=None, cap=10_000, heldout_cap=5_000)

    assert set(pick.heldout_ids) == {s.id for s in decided if is_held_out(s.image_sha256)}
    assert len(pick.heldout_ids) > 20
    # The auto-approved and pending drawings that fall on the held-out side are not trained on either.
    unjudged = [s for s in auto + pending if is_held_out(s.image_sha256)]
    assert unjudged and not set(pick.train_ids) & {s.id for s in unjudged}
