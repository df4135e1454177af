"""The standard library of blocks, written in netdsl itself: each a global name used like a
layer (``resnet_basic(64)``). Each is tested against a hand-written Keras reference for its
parameter count and output shape (``tests/test_stdlib_blocks.py``).

The decoders are the self-attention form: cross-attention to an encoder's output needs two named
tensors in one network (a graph), which the language does not have yet.

Shortcut forms: the residual blocks add their input back, so their input must already have
their output's channels (``out`` / ``f``), as in the identity blocks of ResNet and MobileNetV2.
"""

from __future__ import annotations

from typing import Any

from netdsl.vocab.components import Block
from netdsl.vocab.hookspecs import hookimpl

#: name -> (what it is, its netdsl source)
_FF = "timedistributed(dense ff relu) -> timedistributed(dense dim) -> dropout rate"
_LN = "layernorm epsilon=1e-5"

STANDARD: dict[str, tuple[str, str]] = {
    "transformer_encoder": (
        "transformer encoder, post-norm, as KerasHub's TransformerEncoder: self-attention of "
        "heads heads (key size dim / heads), feed-forward ff relu, dropout rate; input width dim",
        "block transformer_encoder(dim, heads, ff, rate) = residual(attention heads dropout=rate"
        f" -> dropout rate) -> {_LN} -> residual({_FF}) -> {_LN}",
    ),
    "transformer_encoder_prenorm": (
        "transformer encoder, pre-norm (KerasHub's normalize_first=True): layer norm before "
        "the attention and before the feed-forward, inside the residuals",
        f"block transformer_encoder_prenorm(dim, heads, ff, rate) = residual({_LN}"
        f" -> attention heads dropout=rate -> dropout rate) -> residual({_LN} -> {_FF})",
    ),
    "transformer_decoder": (
        "transformer decoder, post-norm, self-attention form (KerasHub's TransformerDecoder "
        "without an encoder sequence): causal self-attention, feed-forward ff relu",
        "block transformer_decoder(dim, heads, ff, rate) = residual(attention heads dropout=rate"
        f" use_causal_mask=true -> dropout rate) -> {_LN} -> residual({_FF}) -> {_LN}",
    ),
    "transformer_decoder_prenorm": (
        "transformer decoder, pre-norm, self-attention form: causal self-attention and "
        "feed-forward, each after a layer norm inside its residual",
        f"block transformer_decoder_prenorm(dim, heads, ff, rate) = residual({_LN}"
        " -> attention heads dropout=rate use_causal_mask=true -> dropout rate)"
        f" -> residual({_LN} -> {_FF})",
    ),
    "resnet_basic": (
        "ResNet basic block (two 3x3 convolutions with batchnorm, identity shortcut, relu); "
        "the input has f channels",
        "block resnet_basic(f) = residual(conv2d f 3 same -> batchnorm -> activation relu"
        " -> conv2d f 3 same -> batchnorm) -> activation relu",
    ),
    "resnet_bottleneck": (
        "ResNet bottleneck block (1x1 reduce to f, 3x3, 1x1 expand to out, batchnorm after each, "
        "identity shortcut, relu); the input has out channels (4 f in ResNet50)",
        "block resnet_bottleneck(f, out) = residual(conv2d f 1 -> batchnorm -> activation relu"
        " -> conv2d f 3 same -> batchnorm -> activation relu -> conv2d out 1 -> batchnorm)"
        " -> activation relu",
    ),
    "inverted_residual": (
        "MobileNetV2 inverted residual (1x1 expand to expand channels, 3x3 depthwise, 1x1 "
        "linear projection to out, batchnorm and relu6, identity shortcut); input has out channels",
        "block inverted_residual(expand, out) = residual(conv2d expand 1 use_bias=false"
        " -> batchnorm -> activation relu6 -> depthwise_conv2d 3 same use_bias=false"
        " -> batchnorm -> activation relu6 -> conv2d out 1 use_bias=false -> batchnorm)",
    ),
    "squeeze_excite": (
        "squeeze-and-excitation: channels scaled by a gate from their averages (global average, "
        "dense squeeze relu, dense c sigmoid); the input has c channels",
        "block squeeze_excite(c, squeeze) = [activation linear"
        " | global_avgpool2d -> dense squeeze relu -> dense c sigmoid -> reshape (1, 1, c)]"
        " multiply",
    ),
    "inception_module": (
        "GoogLeNet inception module: 1x1, 1x1 then 3x3, 1x1 then 5x5, and 3x3 max pool then 1x1 "
        "branches (relu, same padding), joined along the channels",
        "block inception_module(c1, r3, c3, r5, c5, pool) = [conv2d c1 1 relu"
        " | conv2d r3 1 relu -> conv2d c3 3 relu same"
        " | conv2d r5 1 relu -> conv2d c5 5 relu same"
        " | maxpool2d 3 strides=1 padding=same -> conv2d pool 1 relu] concat",
    ),
}


def standard_blocks() -> tuple[Block, ...]:
    """The standard library as declarations."""
    return tuple(
        Block(name=name, description=what, source=source)
        for name, (what, source) in STANDARD.items()
    )


@hookimpl
def register_blocks(register: Any) -> None:
    """The standard library of blocks."""
    for block in standard_blocks():
        register(block)
