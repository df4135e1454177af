"""Error codes belong to error classes, and the README's table says exactly what the code does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from netdsl import errors
from netdsl.errors import error_codes

README = Path(__file__).resolve().parents[1] / "README.md"
ROW = re.compile(r"^\| (NDL\d{3}) \| `(\w+)` \| (.+?) \|$", re.M)


def test_readme_table_is_the_code_table() -> None:
    documented = {
        code: (cls, meaning) for code, cls, meaning in ROW.findall(README.read_text("utf-8"))
    }
    assert documented == error_codes()


def test_every_code_has_one_owner_and_the_class_default_is_its_own() -> None:
    owners: dict[str, str] = {}
    for cls in (
        errors.NetdslSyntaxError,
        errors.NetdslNameError,
        errors.NetdslArgumentError,
        errors.NetdslShapeError,
        errors.NetdslSettingError,
        errors.NetdslLimitError,
        errors.NetdslDataError,
        errors.NetdslPluginError,
        errors.NetdslTrainingError,
    ):
        assert cls.code in cls.codes, cls.__name__
        for code in cls.codes:
            assert code not in owners, f"{code} is owned by {owners[code]} and {cls.__name__}"
            owners[code] = cls.__name__


@pytest.mark.parametrize(
    "cls, code",
    [
        (errors.NetdslSyntaxError, "NDL008"),
        (errors.NetdslShapeError, "NDL005"),
        (errors.NetdslPluginError, "NDL100"),
        (errors.NetdslLimitError, "NDL011"),
    ],
    ids=["syntax-shape", "shape-argument", "plugin-data", "limit-name"],
)
def test_a_class_refuses_another_family_code(cls: type[errors.NetdslError], code: str) -> None:
    with pytest.raises(ValueError, match=f"{code} is not a code of {cls.__name__}"):
        cls("message", code=code)


@pytest.mark.parametrize(
    "text, cls, code",
    [
        ("dense 64 relu6x -> dense 10 softmax", errors.NetdslNameError, "NDL003"),
        ("dense 1.5 -> dense 10 softmax", errors.NetdslArgumentError, "NDL005"),
        ("(dense 1) * 200000 -> dense 10 softmax", errors.NetdslLimitError, "NDL012"),
        ("epochs: 3\nepochs: 4\ndense 10 softmax", errors.NetdslSettingError, "NDL004"),
        (
            "input: 28x28\nlstm 8 return_sequences=true -> dense 10 softmax",
            errors.NetdslShapeError,
            "NDL008",
        ),
        ("dense 64 relu -> dropout 0.2 dense 10 softmax", errors.NetdslSyntaxError, "NDL002"),
    ],
    ids=["name", "argument", "limit", "setting", "shape", "missing-arrow"],
)
def test_check_raises_the_class_that_owns_the_code(
    text: str, cls: type[errors.NetdslError], code: str
) -> None:
    import netdsl

    with pytest.raises(errors.NetdslError) as info:
        netdsl.check(text)
    assert (type(info.value), info.value.code) == (cls, code)
