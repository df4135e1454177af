"""examples/text/text_transformer.net is the Keras example "Text classification with
Transformer": the same parameter count and output as the hand-written twin in bench/, and its
data script makes ids and labels as the program expects."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import netdsl
from netdsl.vocab.registry import load_registry

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "text" / "text_transformer.net"
REG = load_registry(third_party=False)


def _module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def _npz(path: Path, n: int = 16) -> Path:
    """A small file in the format debian_text.py writes: 200 ids < 20,000, one-hot labels."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 20_000, (n, 200)).astype("int32")
    y = np.eye(2, dtype="int32")[rng.integers(0, 2, n)]
    np.savez(path, x_train=x, y_train=y, x_test=x[:4], y_test=y[:4])
    return path


def test_checks_to_the_examples_parameter_count(tmp_path: Path) -> None:
    model = netdsl.check(
        EXAMPLE.read_text(), REG, filename=str(EXAMPLE), data=str(_npz(tmp_path / "t.npz"))
    )
    assert model.total_params == 657_758
    assert tuple(model.output_shape) == (2,)


@pytest.mark.slow
def test_same_parameters_as_the_hand_written_keras_example(tmp_path: Path) -> None:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    pytest.importorskip("keras")
    twin = _module(ROOT / "bench" / "baseline_text_transformer.py").make_model()
    model = netdsl.check(
        EXAMPLE.read_text(), REG, filename=str(EXAMPLE), data=str(_npz(tmp_path / "t.npz"))
    )
    net = netdsl.build(model)  # every node against its Keras layer (verify_shapes)
    assert net.count_params() == twin.count_params() == 657_758
    ids = np.zeros((2, 200), dtype="int32")
    assert net.predict(ids, verbose=0).shape == twin.predict(ids, verbose=0).shape == (2, 2)


PACKAGES = """\
Package: python3-foo
Section: python
Description: Python 3 library for parsing foo files

Package: libfoo-perl
Section: perl
Description: Perl module to parse foo files (CPAN Foo::Bar)

Package: gcc
Section: devel
Description: the GNU C compiler

Package: python3-foo
Section: python
Description: a second stanza of the same package
"""


def test_debian_text_keeps_the_two_sections_without_the_giveaways(tmp_path: Path) -> None:
    dt = _module(ROOT / "examples" / "text" / "debian_text.py")
    found = dt.examples(PACKAGES.split("\n\n"))
    assert [label for _, label in found] == [1, 0]  # gcc is neither; python3-foo counted once
    words = dt.words(found[1][0])
    assert "perl" not in words and "cpan" not in words and "parse" in words
    x = dt.encode([["a", "b", "zzz"]], {"a": 2, "b": 3})
    assert x.shape == (1, 200) and x[0, :4].tolist() == [2, 3, 1, 0]


SHIPPED = sorted([*ROOT.glob("examples/text/*.net"), *ROOT.glob("examples/transfer/*.net")])


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_these_examples_are_canonical(path: Path) -> None:
    from click.testing import CliRunner

    from netdsl.tools.cli import main

    result = CliRunner().invoke(main, ["fmt", "--check", str(path)])
    assert result.exit_code == 0, result.output
