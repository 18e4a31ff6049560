"""The poisoning drill (bench/poisoning.py) on small data: the same code as
the benchmark, on the tiny served model, each attack variant measured before
(every stored drawing usable, as TRAIN_INCLUDE_PENDING=true) and after
(triage, audits, caps) in the same run."""

import pytest

from bench.poisoning import DrillConfig, drill

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

# Small: 150 drawings decided by people allow a bound of 5%, not 0.5%.
SMALL = DrillConfig(ids=20, calibration=200, honest=300, style=40, attack=100, attack_ids_c=10, batch=200)


@pytest.mark.parametrize("variant", ["a", "b", "c"])
def test_the_attackers_drawings_stay_out_of_the_fine_tune_set(active_version, settings, variant):
    settings.TRIAGE_MAX_ERROR_BOUND, settings.CONTRIBUTOR_MAX_SHARE = 0.05, 0.02
    (result,) = drill(variants=[variant], cfg=SMALL, fine_tune=False, parent=active_version)

    # Before: most of the attack would be trained on.
    assert result["attack_share_before"] >= 0.5
    # After: at most 1% of it in the fine-tune set, none auto-approved.
    assert result["attack_share_after"] <= 0.01
    assert result["attack_auto_approved"] == 0
    # The honest stream mostly decided without a person, and what was approved is right.
    assert result["honest_auto_share"] >= 0.5, result
    assert result["auto_approved_wrong"] <= 0.02 * result["auto_approved"], result
