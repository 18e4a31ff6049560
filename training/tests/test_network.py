from training.network import architecture_summary, build_cnn


def test_the_cnn_is_small_and_its_layers_are_named():
    model = build_cnn()
    assert 100_000 <= model.count_params() <= 300_000
    names = [layer.name for layer in model.layers]
    for name in ("conv1", "conv2", "pool1", "conv3", "conv4", "pool2", "dense", "dropout", "output"):
        assert name in names
    assert model.get_layer("dropout").rate == 0.5


def test_the_architecture_summary_lists_shapes_and_parameters():
    summary = architecture_summary(build_cnn())
    by_name = {row["name"]: row for row in summary}
    assert by_name["conv1"]["output_shape"] == [26, 26, 32]
    assert by_name["output"]["output_shape"] == [10]
    assert sum(row["params"] for row in summary) == build_cnn().count_params()
