"""The fuzz harness (bench/fuzz.py), a small always-on slice: a few hundred generated and mutated
programs through parse, format and check with nothing but ``NetdslError`` escaping, and (slow)
a few accepted ones built, run on real tensors and trained for an epoch without failing.

The full runs and their figures are in BENCHMARKS.md; this keeps the harness working and
catches a regression on a fixed seed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import fuzz


def test_generation_is_deterministic_and_covers_the_grammar() -> None:
    a, b = fuzz.Generator(5), fuzz.Generator(5)
    programs = [a.program() for _ in range(300)]
    assert programs == [b.program() for _ in range(300)]
    text = "".join(programs)
    for piece in (
        "block ",
        ") * ",
        "[",
        "residual(",
        "bidirectional(",
        "dataset: synthetic",
        "optimizer:",
    ):
        assert piece in text, piece
    adversarial = [fuzz.Generator(s).adversarial() for s in range(40)]
    assert any(len(p) > 1000 for p in adversarial) and any("b0 -> dense" in p for p in adversarial)


def test_a_slice_lets_nothing_but_netdsl_errors_escape() -> None:
    stats, _ = fuzz.run_front(400, seed=11)
    assert stats.tried == 400
    assert stats.escapes == [] and stats.hangs == []
    assert 0 < stats.accepted < stats.parsed <= stats.tried


def test_the_report_has_every_figure(tmp_path: Path) -> None:
    stats, _ = fuzz.run_front(50, seed=3)
    args = fuzz.argparse.Namespace(
        programs=50, build=0, seed=3, timeout=10.0, build_timeout=60.0, how=None
    )
    out = tmp_path / "BENCHMARKS.md"
    out.write_text("# benchmarks\n")
    fuzz.write_report(out, fuzz.report(stats, args))
    fuzz.write_report(out, fuzz.report(stats, args))  # replaces its own section
    text = out.read_text()
    assert text.count(fuzz.MARK_START) == 1 and text.startswith("# benchmarks")
    assert "| programs tried (parse → format → check) | 50 |" in text


@pytest.mark.slow
def test_a_few_accepted_programs_build_and_train() -> None:
    stats, sample = fuzz.run_front(200, seed=4, keep=3, only_build=True)
    assert len(sample) == 3
    fuzz.run_build(sample, stats, timeout=120)
    assert stats.built == 3
    assert stats.build_failures == [] and stats.disagreements == []


@pytest.mark.parametrize(
    "text, group",
    [
        ("input: 8\ndense 10 softmax\n", fuzz.SMALL),
        ("input: 8\n(dense 4) * 5000 -> dense 10 softmax\n", fuzz.SMALL_HUGE),
        ("input: 8\n" + " -> ".join(["dense 8 relu"] * 200) + "\n", "≤ 10 KB"),
        ("dense ((( oops\n", fuzz.SMALL),
    ],
    ids=["few-layers", "expands-past-1000", "bigger-than-1KB", "does-not-parse"],
)
def test_programs_are_grouped_by_size_and_expanded_layers(text: str, group: str) -> None:
    stats = fuzz.Stats()
    fuzz.front(text, stats, timeout=10.0, measure_memory=False)
    assert stats.per_class == {group: 1}
    assert group in stats.worst_time


def test_a_slice_of_hostile_protocol_messages_never_stops_the_language_server() -> None:
    """bench/fuzz_lsp.py on a fixed seed: 40 messages (framing lies, JSON-RPC garbage, hostile
    documents, feature requests anywhere) to a real `netdsl lsp`, each followed by a probe."""
    pytest.importorskip("pygls")
    import fuzz_lsp

    results = fuzz_lsp.run(messages=40, seed=7, probe_timeout=30)
    assert results.escapes == [], results.escapes
    assert sum(results.tried.values()) == 40 and len(results.tried) == 4
    assert len(results.probe_ms) == 40
