"""The trade a candidate makes, computed as the worker does: lost
validation images beside the gained held-out drawings nearest them in the
model's embedding."""

import keras
import numpy as np

from training.datasets import validation_split
from training.evaluation import predict_digits
from training.trade import embed, trade_evidence


def test_each_lost_image_gets_its_nearest_gained_drawings_in_the_embedding(tiny_model_path, mnist):
    model = keras.models.load_model(tiny_model_path, compile=False)
    split = validation_split(mnist)
    x_val, y_val = split.x_validation[:600], split.y_validation[:600]
    candidate_val = predict_digits(model, x_val)
    lost = np.flatnonzero(candidate_val != y_val)
    assert len(lost) >= 3  # the tiny model misreads a few percent
    parent_val = y_val.copy()  # a parent that read them all right

    # Held-out drawings: MNIST test digits the candidate reads right and its
    # parent did not, plus a copy of the first lost image, which the
    # candidate "reads right" as what it predicts.
    x_test = mnist.x_test[:300]
    candidate_test = predict_digits(model, x_test)
    right = np.flatnonzero(candidate_test == mnist.y_test[:300])[:100]
    heldout_x = np.concatenate([x_test[right], x_val[lost[:1]]])
    y_held = np.concatenate([mnist.y_test[:300][right], candidate_val[lost[:1]]])
    ids = np.arange(1000, 1000 + len(heldout_x))
    candidate_held = y_held.copy()
    parent_held = (y_held + 1) % 10
    parent_held[:50] = y_held[:50]  # the first 50 the parent read right too: not gained

    trade = trade_evidence(
        model=model,
        validation_x=x_val,
        y_validation=y_val,
        candidate_validation=candidate_val,
        parent_validation=parent_val,
        heldout_x=heldout_x,
        y_heldout=y_held,
        heldout_ids=ids,
        candidate_heldout=candidate_held,
        parent_heldout=parent_held,
    )
    assert trade["layer"] == model.layers[-2].name
    assert trade["gained"] == ids[50:].tolist()
    assert [m["index"] for m in trade["misread"]] == lost.tolist()
    assert [(m["true"], m["predicted"]) for m in trade["misread"]] == list(
        zip(y_val[lost].tolist(), candidate_val[lost].tolist(), strict=True)
    )
    first = trade["misread"][0]
    assert first["neighbours"][0] == ids[-1] and first["similarity"][0] > 0.999  # its own copy
    for m in trade["misread"]:
        assert len(m["neighbours"]) == 3 and set(m["neighbours"]) <= set(ids[50:].tolist())
        assert m["similarity"] == sorted(m["similarity"], reverse=True)
        # Nearest by cosine in the embedding, checked by brute force here.
        a = embed(model, x_val[[m["index"]]])[0]
        b = embed(model, heldout_x[50:])
        cos = b @ a / (np.linalg.norm(b, axis=1) * np.linalg.norm(a) + 1e-12)
        assert ids[50 + int(np.argmax(cos))] == m["neighbours"][0]


def test_no_trade_when_nothing_was_lost_or_nothing_gained(tiny_model_path, mnist):
    model = keras.models.load_model(tiny_model_path, compile=False)
    x, y = mnist.x_test[:50], mnist.y_test[:50]
    common = dict(model=model, validation_x=x, y_validation=y, heldout_x=x, y_heldout=y, heldout_ids=np.arange(50))
    wrong = (y + 1) % 10
    assert (
        trade_evidence(**common, candidate_validation=y, parent_validation=y, candidate_heldout=y, parent_heldout=wrong)
        is None
    )
    assert (
        trade_evidence(**common, candidate_validation=wrong, parent_validation=y, candidate_heldout=y, parent_heldout=y)
        is None
    )
