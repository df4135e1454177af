"""``netdsl summary --flops``: multiply-accumulates per layer, against values computed by hand."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import EXAMPLES

import netdsl
from netdsl.tools.cli import main
from netdsl.tools.flops import model_macs
from netdsl.vocab.components import Layer, keras_factory
from netdsl.vocab.registry import Provider, load_registry


def _macs(input_shape: str, network: str, count: int) -> list[int | None]:
    """The MACs of the first ``count`` layers (a classifier head ends the network)."""
    model = netdsl.check(
        f"dataset: synthetic\ninput: {input_shape}\n{network} -> flatten -> dense 10 softmax\n"
    )
    return model_macs(model).per_layer[:count]


#: (input, network, MACs of each layer), each worked out by hand in the comment
CASES = {
    # 20 inputs x 8 units
    "dense": ("20", "dense 8", [160]),
    # flatten moves values; then 32 inputs x 8 units
    "flatten-dense": ("4x4x2", "flatten -> dense 8", [0, 256]),
    # valid 3x3 on 12x12x2 -> 10x10x4: 100 positions x 9 x 2 channels x 4 filters
    "conv2d": ("12x12x2", "conv2d 4 3", [7200]),
    # same, stride 2 -> 6x6x4: 36 x 9 x 2 x 4
    "conv2d-strided": ("12x12x2", "conv2d 4 3 strides=2 same", [2592]),
    # 16 steps, kernel 3 valid -> 14 x 3 x 3 channels x 4 filters
    "conv1d": ("16x3", "conv1d 4 3", [504]),
    # 3x3 depthwise on 10x10x3 -> 8x8x3: 192 values x 9
    "depthwise": ("10x10x3", "depthwise_conv2d 3", [1728]),
    # depth_multiplier 2 -> 8x8x6: 384 x 9
    "depthwise-x2": ("10x10x3", "depthwise_conv2d 3 depth_multiplier=2", [3456]),
    # depthwise 8x8x3 x 9 = 1728, then pointwise 64 x 3 x 8 = 1536
    "separable": ("10x10x3", "separable_conv2d 8 3", [3264]),
    # transposed: 36 input positions x 9 x 1 channel x 4 filters
    "conv2d-transpose": ("6x6x1", "conv2d_transpose 4 3 strides=2 same", [1296]),
    # 2x2 max pooling on 12x12x2 -> 72 values x 4; then 3x3 stride 1 same -> 72 x 9
    "pooling": ("12x12x2", "maxpool 2 -> avgpool 3 strides=1 same", [288, 648]),
    # global average pooling reads all 300 values
    "global-pooling": ("10x10x3", "global_avgpool", [300]),
    # pooling over steps: 16x3 -> 8x3 = 24 x 2
    "pool1d": ("16x3", "maxpool1d 2", [48]),
    # 7 steps x 4 gates x 6 units x (5 features + 6 state)
    "lstm": ("7x5", "lstm 6", [1848]),
    # 7 x 3 gates x 4 x (5 + 4)
    "gru": ("7x5", "gru 4", [756]),
    # 7 x 1 x 5 x (5 + 5)
    "simple-rnn": ("7x5", "simple_rnn 5", [350]),
    # both directions of the lstm above
    "bidirectional": ("7x5", "bidirectional(lstm 6)", [3696]),
    # dense 5 -> 3 on each of 7 steps
    "timedistributed": ("7x5", "timedistributed(dense 3)", [105]),
    # two dense 6->4 (24 each), then one add per value of 4
    "add": ("6", "[dense 4 | dense 4] add", [24, 24, 4]),
    # three inputs: two comparisons per value of 3
    "maximum": ("6", "[dense 3 | dense 3 | dense 3] maximum", [18, 18, 18, 6]),
    # concatenation moves values only
    "concat": ("6", "[dense 3 | dense 2] concat", [18, 12, 0]),
    # the body (8x8) plus one add per value
    "residual": ("8", "residual(dense 8)", [64, 8]),
    # inference batch normalisation: one multiply-add per value of 12x12x2
    "batchnorm": ("12x12x2", "batchnorm -> dropout 0.5", [288, 0]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_macs_match_hand_computed_values(case: str) -> None:
    shape, network, expected = CASES[case]
    assert _macs(shape, network, len(expected)) == expected


def test_examples_total_is_the_sum_of_the_layers() -> None:
    model = netdsl.check((EXAMPLES / "lstm.net").read_text())
    report = model_macs(model)
    # reshape: 0; lstm: 28 steps x 4 x 128 x (28 + 128); dense 128 x 10
    assert report.per_layer == [0, 28 * 4 * 128 * 156, 1280]
    assert report.total == 2_237_696 and report.unknown == []


def _no_rule_registry() -> Any:
    registry = load_registry(third_party=False)
    registry.add(
        Layer(name="mystery", infer=lambda s, a: (s, 0), build=keras_factory("layers.Identity")),
        Provider("my-plugin", "1.0", "my_plugin"),
    )
    return registry


def test_a_layer_without_a_rule_is_shown_unknown_and_named_in_the_total() -> None:
    model = netdsl.check(
        "input: 4\ndataset: synthetic\ndense 4 -> mystery -> dense 10 softmax\n",
        _no_rule_registry(),
    )
    report = model_macs(model)
    assert report.per_layer == [16, None, 40] and report.unknown == [1] and report.total == 56
    from netdsl.tools.summary import summary_text

    text = summary_text(model, report)
    assert "leaves out 1 layer(s) whose declaration gives no MACs rule: #1" in text
    assert "?" in text.splitlines()[4]


def test_a_plugin_declares_its_own_rule() -> None:
    registry = load_registry(third_party=False)
    registry.add(
        Layer(
            name="square",
            infer=lambda s, a: (s, 0),
            build=keras_factory("layers.Identity"),
            macs=lambda shape, out, args: shape[0],
        ),
        Provider("p", "1", "p"),
    )
    model = netdsl.check("input: 4\ndataset: synthetic\nsquare -> dense 10 softmax\n", registry)
    assert model_macs(model).per_layer == [4, 40]


def test_cli_table_and_json() -> None:
    runner = CliRunner()
    seed = str(EXAMPLES / "mnist.net")
    text = runner.invoke(main, ["summary", "--flops", seed])
    assert text.exit_code == 0, text.output
    header = text.output.splitlines()[0]
    assert header.split() == ["#", "layer", "output", "shape", "params", "MACs"]
    assert "total (MACs per example)" in text.output and "50,816" in text.output
    plain = runner.invoke(main, ["summary", seed]).output
    assert "MACs" not in plain
    data = json.loads(runner.invoke(main, ["summary", "--flops", "--json", seed]).output)
    assert [layer["macs"] for layer in data["layers"]] == [0, 784 * 64, 640]
    assert data["total_macs"] == 50_816 and data["macs_unknown_layers"] == []
    assert "multiply-accumulates" in runner.invoke(main, ["summary", "--help"]).output
