"""Fuzz harness: generated and mutated programs through parse → check → format, and a sample of
the accepted ones built in Keras, run on real tensors and trained for a step on tiny data.

    python bench/fuzz.py [--programs N] [--build N] [--seed S] [--timeout SECONDS]
                         [--out results.json] [--report BENCHMARKS.md]

Stage 1 (in this process, no TensorFlow): every program is parsed, checked and formatted; any
exception that is not a ``NetdslError`` is an *escape* (goal 0). Time per program is measured
with ``time.perf_counter`` and peak memory with ``tracemalloc`` on every 10th program (tracing
slows Python down, so it is not on for the timed ones); both are reported per input size.
A program over the time limit is stopped (SIGALRM) and counted as a hang.

Stage 2 (one long-lived worker process, ``keras.backend.clear_session()`` between models,
restarted after a timeout and every 1,000 models): a sample of the accepted programs is built
(``compiler.build_layers``), a real batch is run through every layer (each node's output shape
and parameter count against its shape rule: a *disagreement*, goal 0), then compiled and stepped
once eagerly (``train_on_batch``, ``test_on_batch``), saved as ``.keras``, reloaded and run again;
every ``GRAPH_EVERY``-th is also trained one epoch in graph mode (``fit``, traced, as ``netdsl
run`` does). Any failure there is *accepted but failed* (goal 0), listed with its message.

Programs come from a grammar- and registry-aware generator (every layer, argument type and
setting the registry declares, blocks with parameters, repetition, residual, branches,
wrappers, doubling blocks, deep nesting, huge numbers) and from mutations of generated
programs (characters and tokens deleted, duplicated, swapped; odd whitespace; random bytes).
Everything is seeded: the same ``--seed`` gives the same programs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import select
import signal
import subprocess
import sys
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for _p in (str(ROOT), str(ROOT / "plugins")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

__all__ = ["BuildWorker", "Generator", "Stats", "main", "run_front"]

#: input sizes the figures are grouped by (bytes)
SIZE_CLASSES = ((1_000, "≤ 1 KB"), (10_000, "≤ 10 KB"), (100_000, "≤ 100 KB"), (10**9, "> 100 KB"))
#: programs of up to 1 KB that expand to more layers than this are counted with the legal maximum
FEW_LAYERS = 1_000
SMALL, SMALL_HUGE = "≤ 1 KB, ≤ 1,000 layers", "≤ 1 KB, > 1,000 layers"
#: the groups of the per-size table, in order, with the issue's goal for each
GROUPS = (
    (SMALL, "≤ 50 ms, ≤ 20 MB"),
    (SMALL_HUGE, "≤ 1 s (legal maximum: 100,000 layers)"),
    ("≤ 10 KB", "–"),
    ("≤ 100 KB", "≤ 1 s"),
    ("> 100 KB", "refused (size limit)"),
)
INPUTS = {"vector": ["8", "12"], "sequence": ["6x4", "5x3"], "image": ["8x8x1", "6x6x2"]}
#: the share of generated programs that are graphs (named tensors, merges of them, shared)
GRAPH_SHARE = 0.3
BUILD_DATA = "dataset: synthetic({task}, train_size={n}, test_size=8{extra})"


# --- generation --------------------------------------------------------------------------------------


class Generator:
    """Random programs from the registry's vocabulary (seeded: the same seed, the same programs)."""

    def __init__(self, seed: int) -> None:
        from netdsl.vocab import types as T
        from netdsl.vocab.components import Layer
        from netdsl.vocab.registry import default_registry

        self.T = T
        self.rng = random.Random(seed)
        self.registry = default_registry()
        self.layers = [
            e.component for e in self.registry.entries("layer") if isinstance(e.component, Layer)
        ]
        self.plain = [c for c in self.layers if not c.merge and not c.wrapper]
        self.wrapped = [
            c
            for c in self.plain
            if c.accepts == "sequence" and c.name in ("lstm", "gru", "simple_rnn")
        ]
        self.merges = [c.name for c in self.layers if c.merge]
        self.names = {
            k: self.registry.names(k)
            for k in ("activation", "regularizer", "optimizer", "loss", "metric")
        }

    # values
    def number(self, lo: float | None, hi: float | None, integer: bool) -> str:
        r = self.rng.random()
        if r < 0.04:
            return self.rng.choice(
                [
                    "99999999999999999",
                    "4294967296",
                    "2147483647",
                    "-1",
                    "0",
                    "1e300",
                    "1e-300",
                    "100000",
                ]
            )
        if r < 0.12 and (lo is not None or hi is not None):  # at or just past a bound
            b = self.rng.choice([x for x in (lo, hi) if x is not None])
            if integer:
                return str(int(b) + self.rng.choice([-1, 0, 0, 1]))
            return repr(float(b) + self.rng.choice([-1e-6, 0.0, 0.0, 1e-6]))
        lo_ = lo if lo is not None else (0 if integer else 0.0)
        hi_ = hi if hi is not None else (lo_ + 8 if integer else lo_ + 1.0)
        hi_ = min(hi_, lo_ + (16 if integer else 2.0))
        if integer:
            return str(self.rng.randint(int(lo_), int(max(lo_, hi_))))
        return repr(round(self.rng.uniform(lo_, hi_), 4))

    def value(self, t: Any) -> str:
        T, rng = self.T, self.rng
        if isinstance(t, T.Int):
            return self.number(t.min, t.max, True)
        if isinstance(t, T.Float):
            return self.number(t.min, t.max, False)
        if isinstance(t, T.Bool):
            return rng.choice(["true", "false"])
        if isinstance(t, T.Choice):
            return rng.choice(t.choices)
        if isinstance(t, T.Ref):
            names = self.registry.names(t.kind) or ["x"]
            name = rng.choice(names)
            component = self.registry.get(t.kind, name)
            if component is not None and component.params and rng.random() < 0.3:
                p = rng.choice(component.params)
                return f"{name}({p.name}={self.value(p.type)})"
            return name
        if isinstance(t, T.Size):
            return (
                "x".join(str(rng.randint(1, 3)) for _ in range(t.rank))
                if rng.random() < 0.3 and t.rank > 1
                else str(rng.randint(t.min, 3))
            )
        if isinstance(t, T.ShapeT):
            return rng.choice(["8", "2x4", "4x2x1", "-1", "2x2x2"])
        if isinstance(t, T.ListOf):
            return "[" + ", ".join(self.value(t.item) for _ in range(rng.randint(1, 3))) + "]"
        if isinstance(t, T.OneOf):
            return self.value(rng.choice(t.options))
        return rng.choice(["1", "0.5", "true", '"a"', "relu"])

    # steps
    def layer(self, depth: int) -> str:
        rng = self.rng
        r = rng.random()
        if r < 0.05 and depth < 3:
            return f"residual({self.chain(depth + 1, rng.randint(1, 2))})"
        if r < 0.08 and self.wrapped:
            inner = rng.choice(self.wrapped)
            extra = " go_backwards=true" if rng.random() < 0.1 else ""
            return f"{rng.choice(['bidirectional', 'timedistributed'])}({inner.name} {rng.randint(1, 6)}{extra})"
        c = rng.choice(self.plain)
        parts = [c.name]
        for p in c.params:
            if p.required or rng.random() < 0.15:
                v = self.value(p.type)
                parts.append(v if p.positional and rng.random() < 0.6 else f"{p.name}={v}")
        return " ".join(parts)

    def step(self, depth: int, blocks: list[tuple[str, int]]) -> str:
        rng = self.rng
        r = rng.random()
        if r < 0.08 and depth < 4:
            times = rng.choice(["2", "3", "1", str(rng.randint(1, 40))])
            return f"({self.chain(depth + 1, rng.randint(1, 3), blocks)}) * {times}"
        if r < 0.14 and depth < 4:
            merge = rng.choice([*self.merges, ""])
            arms = " | ".join(
                self.chain(depth + 1, rng.randint(1, 2), blocks) for _ in range(rng.randint(2, 3))
            )
            return f"[{arms}]{' ' + merge if merge else ''}"
        if r < 0.24 and blocks:
            name, n = rng.choice(blocks)
            args = [self.number(1, 16, True) for _ in range(n)]
            return f"{name}({', '.join(args)})" if args else name
        return self.layer(depth)

    def chain(self, depth: int, n: int, blocks: list[tuple[str, int]] | None = None) -> str:
        return " -> ".join(self.step(depth, blocks or []) for _ in range(n))

    def program(self, build: bool = False) -> str:
        """A program; ``build``: with a small synthetic dataset so the accepted ones can train."""
        rng = self.rng
        kind = rng.choice(list(INPUTS))
        lines = [f"input: {rng.choice(INPUTS[kind])}"]
        task = rng.choice(["classes", "classes", "binary", "regression"])
        extra = f", classes={rng.randint(2, 5)}" if task == "classes" else ""
        lines.append(BUILD_DATA.format(task=task, n=rng.choice([16, 20]), extra=extra))
        lines.append("epochs: 1")
        if rng.random() < 0.5:
            lines.append(f"batch_size: {rng.choice([4, 8, 16, 100])}")
        if rng.random() < 0.4:
            lines.append(f"optimizer: {self.value(self.T.Ref('optimizer'))}")
        if rng.random() < 0.3:
            lines.append(f"loss: {self.value(self.T.Ref('loss'))}")
        if rng.random() < 0.3:
            lines.append(f"metrics: {self.value(self.T.ListOf(self.T.Ref('metric')))}")
        if rng.random() < 0.1:
            lines.append(f"validation_split: {rng.choice(['0.25', '0.5', '0.9', '0.99'])}")
        if rng.random() < 0.1:
            lines.append(f"seed: {self.number(0, 2**32 - 1, True)}")
        blocks: list[tuple[str, int]] = []
        for i in range(rng.choice([0, 0, 1, 2])):
            params = [f"p{j}" for j in range(rng.randint(0, 2))]
            body = " -> ".join([f"dense {params[0]} relu"] if params else []) or self.chain(
                1, rng.randint(1, 2), blocks
            )
            head = f"block blk{i}({', '.join(params)})" if params else f"block blk{i}"
            lines.append(f"{head} = {body}")
            blocks.append((f"blk{i}", len(params)))
        if kind == "image" and rng.random() < 0.5:
            start = f"conv2d {rng.randint(1, 4)} 3 relu padding=same -> "
        elif kind == "sequence" and rng.random() < 0.5:
            start = (
                f"lstm {rng.randint(1, 4)} return_sequences=true -> " if rng.random() < 0.3 else ""
            )
        else:
            start = ""
        head = self.output(task, extra)
        if rng.random() < GRAPH_SHARE:  # a graph: named tensors, merges of them, shared chains
            lines += self.graph(start, head, blocks)
        else:
            lines.append(start + self.chain(0, rng.randint(1, 4), blocks) + " -> " + head)
        text = "\n".join(lines) + "\n"
        return text if build else self.distort(text)

    def graph(self, start: str, head: str, blocks: list[tuple[str, int]]) -> list[str]:
        """A graph on the sole input ``x``: named tensors starting from ``x`` or an earlier
        tensor (often flattened to one width, so merges of them fit), merges of two named
        tensors, a shared chain used by several, the last unnamed chain the output."""
        rng = self.rng
        lines: list[str] = []
        shared = rng.random() < 0.4
        width = rng.choice([4, 8])
        if shared:
            inner = self.chain(1, 1, blocks) if rng.random() < 0.3 else f"dense {width} relu"
            lines.append(f"shared sh = {inner} -> flatten -> dense {width}")
        names: list[str] = []
        for i in range(rng.randint(1, 5)):
            source = rng.choice(["x", *names]) if names else "x"
            random_body = rng.random() < 0.4  # else a simple one, so most graphs are accepted
            body = (start if source == "x" else "") + (
                self.chain(1, rng.randint(1, 2), blocks) if random_body else "flatten"
            )
            if shared and rng.random() < 0.5:
                body = f"{body} -> sh"
            if rng.random() < 0.7:
                body += f" -> flatten -> dense {width} relu"
            if len(names) >= 2 and rng.random() < 0.4:
                a, b = rng.sample(names, 2)
                merge = rng.choice(self.merges or ["concat"])
                lines.append(f"t{i} = [{a} | {b} -> dense {width}] {merge}")
            else:
                lines.append(f"t{i} = {source} -> {body}")
            names.append(f"t{i}")
        last = rng.sample(names, min(2, len(names)))
        if len(last) == 2 and rng.random() < 0.5:
            lines.append(f"[{last[0]} | {last[1]}] {rng.choice(self.merges or ['add'])} -> {head}")
        else:
            lines.append(f"{last[0]} -> {head}")
        return lines

    def output(self, task: str, extra: str) -> str:
        n = int(extra.split("=")[1].rstrip(")")) if extra else 1
        if task == "classes":
            return f"flatten -> dense {n} softmax"
        if task == "binary":
            return "flatten -> dense 1 sigmoid"
        return "flatten -> dense 1"

    # adversarial shapes and mutations
    def adversarial(self) -> str:
        rng = self.rng
        k = rng.randrange(9)
        if k == 0:  # blocks that double per level
            depth = rng.randint(5, 60)
            lines = [f"block b{i} = b{i + 1} -> b{i + 1}" for i in range(depth)]
            lines.append(f"block b{depth} = dense {rng.randint(1, 9)}")
            return "\n".join(lines) + "\nb0 -> dense 10 softmax\n"
        if k == 1:  # huge repetition, maybe after an error
            times = rng.choice(
                ["1000000000", "99999999999999999", "100001", "50000", "99999999999999999999"]
            )
            head = rng.choice(["dense -> ", "", "input: 8\n", "nope 3 -> "])
            return f"{head}(dense 10) * {times}\n"
        if k == 2:  # nested repetition
            n = rng.randint(5, 40)
            return "(" * n + "dense 4" + ") * 2" * n + "\n"
        if k == 3:  # deep nesting of brackets or residuals
            n = rng.randint(50, 400)
            inner = rng.choice(["(", "residual(", "["])
            close = {"(": ")", "residual(": ")", "[": "]"}[inner]
            return inner * n + "dense 4" + close * n + "\n"
        n = rng.randint(100, 3000) if rng.random() < 0.1 else rng.randint(5, 100)
        if k == 4:  # many repeated settings / arguments
            return rng.choice(
                [
                    "epochs: 1\n" * n + "dense 10 softmax\n",
                    "dense 10 softmax" + " use_bias=true" * n + "\n",
                ]
            )
        if k == 5:  # a long valid chain
            return "input: 8\n" + " -> ".join(["dense 8 relu"] * n) + " -> dense 10 softmax\n"
        if k == 6:  # huge numbers everywhere
            big = "9" * rng.randint(15, 5000)
            return rng.choice(
                [
                    f"dense {big}\n",
                    f"input: {big}x{big}\ndense 1\n",
                    f"dense 10 -> (dense 2) * {big}\n",
                    f"dropout 0.{big}\n",
                    f"seed: {big}\ndense 10 softmax\n",
                ]
            )
        if k == 7:  # random bytes
            raw = bytes(rng.randrange(256) for _ in range(rng.randint(0, 300)))
            return raw.decode("latin-1")
        many = rng.randint(2, 200)  # many blocks, each using the previous
        lines = ["block c0 = dense 4 relu"] + [
            f"block c{i} = c{i - 1} -> c{i - 1}" for i in range(1, many)
        ]
        return "\n".join(lines) + f"\nc{many - 1} -> dense 10 softmax\n"

    def distort(self, text: str) -> str:
        rng = self.rng
        r = rng.random()
        if r < 0.45:
            return text
        if r < 0.55:
            return self.adversarial()
        out = list(text)
        for _ in range(rng.randint(1, 4)):
            if not out:
                break
            i = rng.randrange(len(out))
            op = rng.randrange(7)
            if op == 0:
                del out[i]
            elif op == 1:
                out.insert(
                    i,
                    rng.choice(
                        [
                            *list('()[]|->*=:,."\\#xe0123456789 \t\n\r'),
                            "\xa0",
                            "→",
                            "\x00",
                            "\ufeff",
                            "é",
                        ]
                    ),
                )
            elif op == 2:
                j = rng.randrange(len(out))
                out[i], out[j] = out[j], out[i]
            elif op == 3:
                j = min(len(out), i + rng.randint(1, 30))
                out[i:i] = out[i:j]  # duplicate a span
            elif op == 4:
                out.insert(
                    i,
                    rng.choice(
                        [
                            "9999999999999999999",
                            " * 1000000",
                            "block z = ",
                            "->",
                            " relux ",
                            "(",
                            ")",
                            "[",
                            "]",
                            "\\q",
                            '"\\n"',
                            "1e999",
                            "-",
                        ]
                    ),
                )
            elif op == 5:
                out[i] = chr(rng.randrange(1, 0x3000))
            else:
                del out[i : i + rng.randint(1, 20)]
        return "".join(out)


# --- stage 1: parse, check, format ------------------------------------------------------------------


class _Hang(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _Hang()


@dataclass
class Stats:
    """Counts and worst cases of a run (what goes into BENCHMARKS.md)."""

    tried: int = 0
    parsed: int = 0
    accepted: int = 0
    escapes: list[dict[str, Any]] = field(default_factory=list)
    hangs: list[dict[str, Any]] = field(default_factory=list)
    worst_time: dict[str, tuple[float, int, str]] = field(default_factory=dict)
    worst_mem: dict[str, tuple[float, int, str]] = field(default_factory=dict)
    worst_cpu: dict[str, tuple[float, int, str]] = field(default_factory=dict)
    measured_mem: int = 0
    per_class: dict[str, int] = field(default_factory=dict)
    built: int = 0
    build_failures: list[dict[str, Any]] = field(default_factory=list)
    disagreements: list[dict[str, Any]] = field(default_factory=list)
    build_timeouts: int = 0
    build_seconds: float = 0.0
    phase_seconds: dict[str, float] = field(default_factory=dict)  # stage 2, summed over models
    graph_fits: int = 0  # models of the sample also trained in graph mode
    #: each group's worst-CPU program timed again after the run: best of RERUNS (CPU seconds)
    worst_rerun: dict[str, float] = field(default_factory=dict)
    front_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def recheck(stats: Stats, timeout: float) -> list[dict[str, Any]]:
    """Every accepted-but-failed program of a run made at an earlier commit, again with this
    tree: refused by ``check`` now (the error says where), or built again (passes, or still fails).
    The failures still failing stay in ``stats.build_failures``; the others are returned."""
    import netdsl
    from netdsl.errors import NetdslError

    fixed: list[dict[str, Any]] = []
    remaining: list[dict[str, Any]] = []
    again: list[dict[str, Any]] = []
    for item in stats.build_failures:
        try:
            netdsl.check(item["program"])
        except NetdslError as e:
            first = e.errors[0]
            fixed.append({**item, "now": f"refused by check: {first.code} {first.message}"})
            continue
        again.append(item)
    worker = BuildWorker(timeout)
    try:
        for item in again:
            result = worker.run(item["program"], 0)  # index 0: the graph-mode fit too
            if result is not None and result.get("ok"):
                fixed.append({**item, "now": "builds and trains now"})
            else:
                remaining.append({**item, "now": (result or {}).get("error", "timed out")})
    finally:
        worker.close()
    stats.build_failures = remaining
    return fixed


FRONT_FIELDS = (
    "tried",
    "parsed",
    "accepted",
    "measured_mem",
    "front_seconds",
    "escapes",
    "hangs",
    "per_class",
    "worst_time",
    "worst_mem",
    "worst_cpu",
)


def merge(paths: list[Path], build_paths: list[Path] = ()) -> Stats:  # type: ignore[assignment]
    """Several saved runs as one (counts added, worst cases kept, findings listed together);
    from ``build_paths`` only their stage 2 (a build-only run's own stage 1 generates its sample)."""
    total = Stats()
    for path in [*paths, *build_paths]:
        data = json.loads(path.read_text())
        front = path in paths
        for name in (
            "tried",
            "parsed",
            "accepted",
            "measured_mem",
            "built",
            "build_timeouts",
            "front_seconds",
            "build_seconds",
        ):
            if front or name not in FRONT_FIELDS:
                setattr(total, name, getattr(total, name) + data[name])
        total.graph_fits += data.get("graph_fits", 0)
        for phase, seconds in data.get("phase_seconds", {}).items():
            total.phase_seconds[phase] = total.phase_seconds.get(phase, 0.0) + seconds
        for name in ("escapes", "hangs", "build_failures", "disagreements"):
            if front or name not in FRONT_FIELDS:
                getattr(total, name).extend(data[name])
        if not front:
            continue
        for label, n in data["per_class"].items():
            total.per_class[label] = total.per_class.get(label, 0) + n
        for name in ("worst_time", "worst_mem", "worst_cpu"):
            worst = getattr(total, name)
            for label, value in data.get(name, {}).items():
                if value[0] > worst.get(label, (0, 0, ""))[0]:
                    worst[label] = tuple(value)
    return total


#: the worst-CPU program of each group is kept whole up to this size (to be timed again)
KEEP_WORST = 200_000
RERUNS = 3


def rerun_worst(stats: Stats) -> None:
    """Time each group's worst-CPU program again, best of RERUNS, in this process: one slow
    measurement on a shared machine may be a garbage collection or another job, the best of a
    few is the program's own cost."""
    import gc

    import netdsl
    from netdsl.errors import NetdslError

    for label, (_, size, text) in stats.worst_cpu.items():
        if len(text.encode("utf-8", "surrogatepass")) != size:
            continue  # kept truncated (an older run): cannot be timed again
        best = float("inf")
        for _ in range(RERUNS):
            gc.collect()
            cpu = time.process_time()
            try:
                program = netdsl.parse(text)
                netdsl.format(program)
                netdsl.check(program)
            except NetdslError as e:
                from netdsl.lang.diagnostics import render

                render(e, color=False)
            best = min(best, time.process_time() - cpu)
        stats.worst_rerun[label] = best


def _size_class(n: int, layers: int = 0) -> str:
    """The table group of a program of ``n`` bytes expanding to ``layers`` layers: up to 1 KB,
    few layers and (the legal-maximum goal) many layers are told apart."""
    label = next(label for limit, label in SIZE_CLASSES if n <= limit)
    if label == "≤ 1 KB":
        return SMALL_HUGE if layers > FEW_LAYERS else SMALL
    return label


def _layers(program: Any) -> int:
    """How many layers a parsed program expands to (0 when it did not parse)."""
    from netdsl.checking.checker import expanded_layers

    if program is None:
        return 0
    try:
        return expanded_layers(program)
    except (Exception, RecursionError):  # noqa: BLE001 - only groups the figures; check decides
        return 0


def front(text: str, stats: Stats, timeout: float, measure_memory: bool) -> Any:
    """One program through parse → check → format; the checked model if accepted."""
    import netdsl
    from netdsl.errors import NetdslError

    size = len(text.encode("utf-8", "surrogatepass"))
    stats.tried += 1
    model = program = None
    if measure_memory:
        tracemalloc.start()
    signal.setitimer(signal.ITIMER_PROF, timeout)  # CPU time: the machine is shared
    start, cpu = time.perf_counter(), time.process_time()
    try:
        program = netdsl.parse(text)
        stats.parsed += 1
        if netdsl.parse(netdsl.format(program)) != program:  # fmt's one canonical form
            raise AssertionError("parse(format(p)) != p")
        model = netdsl.check(program)
        stats.accepted += 1
    except NetdslError as e:
        from netdsl.lang.diagnostics import render

        render(e, color=False)
    except _Hang:
        stats.hangs.append({"program": text[:2000], "size": size})
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        stats.escapes.append(
            {"program": text[:2000], "error": f"{type(exc).__name__}: {exc}"[:500]}
        )
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        elapsed = time.perf_counter() - start
        used = time.process_time() - cpu
        peak = 0
        if measure_memory:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        label = _size_class(size, _layers(program))  # after the timing: not part of it
        stats.per_class[label] = stats.per_class.get(label, 0) + 1
        if measure_memory:
            stats.measured_mem += 1
            if peak > stats.worst_mem.get(label, (0, 0, ""))[0]:
                stats.worst_mem[label] = (peak, size, text[:300])
        else:
            if elapsed > stats.worst_time.get(label, (0.0, 0, ""))[0]:
                stats.worst_time[label] = (elapsed, size, text[:300])
            if used > stats.worst_cpu.get(label, (0.0, 0, ""))[0]:
                stats.worst_cpu[label] = (used, size, text[:KEEP_WORST])
    return model


def run_front(
    programs: int,
    seed: int,
    timeout: float = 10.0,
    stats: Stats | None = None,
    keep: int = 0,
    only_build: bool = False,
    save: Path | None = None,
) -> tuple[Stats, list[str]]:
    """Stage 1 over ``programs`` programs; returns the stats and up to ``keep`` accepted programs
    with a dataset (the build sample), taken evenly through the run. ``save``: write the stats
    there every 1,000 programs (a long run stopped early keeps what it measured)."""
    signal.signal(signal.SIGPROF, _alarm)
    gen = Generator(seed)
    stats = stats or Stats()
    sample: list[str] = []
    start = time.perf_counter()
    for i in range(programs):
        if only_build and len(sample) >= keep:
            break
        if save is not None and i % 1000 == 999:
            stats.front_seconds = time.perf_counter() - start
            save.write_text(json.dumps(stats.to_json(), indent=1))
        build = keep and len(sample) < keep and (only_build or i % 2 == 0)
        text = gen.program(build=bool(build))
        model = front(text, stats, timeout, measure_memory=i % 10 == 9)
        if build and model is not None:
            sample.append(text)
    stats.front_seconds = time.perf_counter() - start
    return stats, sample


# --- stage 2: build, real tensors, one epoch -------------------------------------------------------------

WORKER_RESTART = 1000


#: every this many-th model of the build sample is also trained in graph mode (``fit`` traced into a
#: ``tf.function``, as ``netdsl run`` does); the others step eagerly (tracing is most of the cost)
GRAPH_EVERY = 20
#: the phases of stage 2, in order, whose time the report adds up
PHASES = ("check+data", "build+probe", "eager step", "save+reload", "graph fit")


def worker_main() -> None:
    """The build worker: one ``[index, program]`` per stdin line (JSON), one result per stdout
    line. Every model is built, run on a real batch (each layer's shape and parameter count
    against its rule), compiled and trained one epoch eagerly, evaluated, saved as ``.keras``,
    reloaded and run again (the same outputs); every GRAPH_EVERY-th is trained once more in graph
    mode. ``keras.backend.clear_session()`` between models."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import dataclasses
    import tempfile

    import numpy as np

    import netdsl
    from netdsl.keras.compiler import build, build_layers, materialise
    from netdsl.keras.named import plain
    from netdsl.keras.runtime import import_keras
    from netdsl.keras.saving import model_components, register_custom_objects
    from netdsl.keras.training import load_data, seed_everything

    keras = import_keras()
    every = int(os.environ.get("NETDSL_FUZZ_GRAPH_EVERY", GRAPH_EVERY))
    out = sys.stdout
    sys.stdout = sys.stderr  # Keras prints; the protocol owns the real stdout
    scratch = Path(tempfile.mkdtemp(prefix="netdsl-fuzz-"))
    for line in sys.stdin:
        index, text = json.loads(line)
        result: dict[str, Any] = {"ok": True}
        phases: dict[str, float] = {}
        clock = time.perf_counter()

        def lap(name: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            phases[name] = now - clock
            clock = now

        try:
            model = netdsl.check(text)
            model = dataclasses.replace(model, settings=model.settings.replace(epochs=1))
            seed_everything(model.settings.seed)
            data: Any = load_data(model)  # arrays: `synthetic` is never streamed
            lap("check+data")
            register_custom_objects(model_components(model))
            inputs, layers, tensors = build_layers(model)
            probe = keras.Model(inputs, tensors)
            real = probe(plain(data.x_train[:2]))
            real = real if isinstance(real, (list, tuple)) else [real]
            for node, layer, value in zip(model.nodes, layers, real):
                shape = tuple(np.shape(value)[1:])
                params = int(layer.count_params()) if node.shares is None else 0
                if shape != tuple(node.output_shape) or params != node.params:
                    result = {
                        "ok": False,
                        "disagree": True,
                        "layer": node.text,
                        "error": f"rule {node.output_shape}/{node.params:,}, real {shape}/{params:,}",
                    }
                    break
            lap("build+probe")
            if result["ok"]:
                settings = model.settings

                def compiled(eager: bool) -> Any:
                    if model.is_graph:  # dicts by name: as `netdsl run` builds and compiles it
                        net = build(model, verify=False, run_eagerly=eager)
                        return net
                    net = keras.Model(inputs, tensors[-1])
                    net.compile(
                        optimizer=materialise(settings.optimizer),
                        loss=materialise(settings.loss),
                        metrics=[materialise(m) for m in settings.metrics or ()],
                        run_eagerly=eager,
                    )
                    return net

                def fit(net: Any) -> None:
                    net.fit(
                        plain(data.x_train),
                        plain(data.y_train),
                        epochs=1,
                        batch_size=settings.batch_size,
                        validation_split=settings.validation_split,
                        verbose=0,
                    )
                    net.evaluate(plain(data.x_test), plain(data.y_test), verbose=0)

                net = compiled(eager=True)
                size = settings.batch_size
                net.train_on_batch(plain(data.x_train[:size]), plain(data.y_train[:size]))
                net.test_on_batch(plain(data.x_test[:size]), plain(data.y_test[:size]))
                lap("eager step")
                file = scratch / "model.keras"
                net.save(file)
                loaded = netdsl.load_model(file, compile=False)
                x = plain(data.x_test[:2])
                a, b = (_flat(net(x)), _flat(loaded(x)))  # called, not predict(): no tracing
                if np.shape(a) != np.shape(b) or not np.allclose(a, b, equal_nan=True):
                    raise RuntimeError(
                        "the reloaded model computes other outputs than the saved one"
                    )
                lap("save+reload")
                if every > 0 and index % every == 0:
                    result["graph"] = True
                    fit(compiled(eager=False))  # a whole epoch, with the validation split
                    lap("graph fit")
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            msg = " ".join(f"{type(exc).__name__}: {exc}".split())
            result = {
                "ok": False,
                "error": msg[:400],
                "phase": next((p for p in PHASES if p not in phases), "?"),
                "graph": result.get("graph", False),
            }
        keras.backend.clear_session()
        result["phases"] = phases
        out.write(json.dumps(result) + "\n")
        out.flush()


def _flat(out: Any) -> Any:
    """A model's output as one array (a graph's dict of outputs side by side, by name)."""
    import numpy as np

    parts = [out[k] for k in sorted(out)] if isinstance(out, dict) else [out]
    return np.concatenate([np.asarray(p).reshape(len(p), -1) for p in parts], axis=1)


class BuildWorker:
    """The long-lived build worker process, with a per-program timeout (then restarted)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.proc: subprocess.Popen[str] | None = None
        self.count = 0

    def _start(self) -> subprocess.Popen[str]:
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "plugins")]),
            TF_CPP_MIN_LOG_LEVEL="3",
            CUDA_VISIBLE_DEVICES="",
        )
        return subprocess.Popen(
            [sys.executable, __file__, "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )

    def run(self, text: str, index: int = 1) -> dict[str, Any] | None:
        """The worker's result for one program (``index``: its place in the sample, which picks
        the graph-mode subsample), or None after a timeout."""
        if self.proc is None or self.count >= WORKER_RESTART:
            self.close()
            self.proc, self.count = self._start(), 0
        proc = self.proc
        assert proc.stdin and proc.stdout
        proc.stdin.write(json.dumps([index, text]) + "\n")
        proc.stdin.flush()
        self.count += 1
        limit = self.timeout + (
            60 if self.count == 1 else 0
        )  # the first includes importing TensorFlow
        ready, _, _ = select.select([proc.stdout], [], [], limit)
        line = proc.stdout.readline() if ready else ""
        if not line:
            self.close()
            return None
        return json.loads(line)

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


def run_build(sample: list[str], stats: Stats, timeout: float, save: Path | None = None) -> None:
    """Stage 2 over ``sample`` (see :func:`worker_main`); ``save``: write the stats there every 20 programs (a long run
    stopped early keeps what it measured)."""
    worker = BuildWorker(timeout)
    start = time.perf_counter()
    try:
        for i, text in enumerate(sample):
            if save is not None and i % 20 == 0:
                stats.build_seconds = time.perf_counter() - start
                save.write_text(json.dumps(stats.to_json(), indent=1))
            result = worker.run(text, i)
            stats.built += 1
            for name, seconds in (result or {}).get("phases", {}).items():
                stats.phase_seconds[name] = stats.phase_seconds.get(name, 0.0) + seconds
            if result is not None and result.get("graph"):
                stats.graph_fits += 1
            if result is None:
                stats.build_timeouts += 1
                stats.build_failures.append(
                    {"program": text, "error": f"timed out after {timeout:g} s"}
                )
            elif result.get("disagree"):
                stats.disagreements.append({"program": text, **result})
            elif not result["ok"]:
                stats.build_failures.append({"program": text, "error": result["error"]})
    finally:
        worker.close()
        stats.build_seconds += time.perf_counter() - start


# --- report -------------------------------------------------------------------------------------------

MARK_START = "<!-- fuzz:start -->"
MARK_END = "<!-- fuzz:end -->"


def report(stats: Stats, args: argparse.Namespace) -> str:
    lines = [
        MARK_START,
        "## Reliability: fuzz harness (`bench/fuzz.py`)",
        "",
        f"Measured with {args.how or f'`python bench/fuzz.py --programs {args.programs} --build {args.build} --seed {args.seed}`'}"
        " on the shared 2-core machine (other engineers' jobs running at the "
        "same time, so wall times are upper bounds; CPU time, `time.process_time`, is the fairer "
        "figure). Time: around parse + format + check + rendering the errors, per program, in one "
        "process; memory: `tracemalloc` peak on every 10th program (not timed). The worst-CPU program of "
        "each group is timed again when the report is written (best of 3, each after a garbage "
        "collection): a single slow measurement on the shared machine may be a collection or another "
        "job, the best of three is the program's own cost.",
        "",
        "| figure | value | goal |",
        "|---|---|---|",
        f"| programs tried (parse → format → check) | {stats.tried:,} | ≥ 100,000 |",
        f"| of which parsed / accepted by check | {stats.parsed:,} / {stats.accepted:,} | |",
        f"| exceptions other than `NetdslError` | {len(stats.escapes)} | 0 |",
        f"| programs over the {args.timeout:g} s CPU-time limit | {len(stats.hangs)} | 0 |",
        f"| accepted programs built and stepped (see below) | {stats.built:,} | ≥ 2,000 |",
        f"| of which also trained in graph mode (every {GRAPH_EVERY}th) | {stats.graph_fits:,} | |",
        f"| of which failed in Keras (accepted but failed{', still after the fixes listed below' if getattr(args, 'fixed', None) else ''}) "
        f"| {len(stats.build_failures)} | 0 |",
        f"| shape or parameter disagreements against real tensors | {len(stats.disagreements)} | 0 |",
        "",
        f"Per input size; programs of up to 1 KB are split by how many layers they expand to "
        f"(≤ {FEW_LAYERS:,}, or more: up to the legal maximum of 100,000 layers, whose goal is 1 s).",
        "",
        "| input size | goal | programs | worst CPU time | its size | that program begins | "
        f"it again, best of {RERUNS} (CPU) | worst wall time | worst memory (tracemalloc) | its size |",
        "|---|---|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for label, goal in GROUPS:
        if label not in stats.per_class:
            continue
        c = stats.worst_cpu.get(label)
        t = stats.worst_time.get(label)
        m = stats.worst_mem.get(label)
        lines.append(
            f"| {label} | {goal} | {stats.per_class[label]:,} | "
            + (f"{c[0] * 1000:.1f} ms | {c[1]:,} B | `{_short(c[2])}`" if c else "– | – | –")
            + " | "
            + (f"{stats.worst_rerun[label] * 1000:.1f} ms" if label in stats.worst_rerun else "–")
            + " | "
            + (f"{t[0] * 1000:.1f} ms" if t else "–")
            + " | "
            + (f"{m[0] / 2**20:.1f} MB | {m[1]:,} B" if m else "– | –")
            + " |"
        )
    lines += [
        "",
        "*Built and stepped* means, for every program of the build sample (accepted programs with "
        "a tiny `synthetic` dataset of 16–20 training and 8 test examples), in one long-lived worker "
        "process with `keras.backend.clear_session()` between models: checked and its data loaded; "
        "built layer by layer (`compiler.build_layers`) and run on a real batch of 2 examples, each "
        "layer's output shape and parameter count compared with its shape rule; compiled with its "
        "optimizer, loss and metrics and **stepped once eagerly** (`run_eagerly=True`; "
        "`train_on_batch` on one batch of the program's `batch_size`, then `test_on_batch`); "
        "saved as `.keras`, reloaded with `netdsl.load_model` and called again on 2 examples "
        "(outputs must match); and every "
        f"{GRAPH_EVERY}th model of the sample compiled again and trained one whole epoch in **graph "
        "mode** (`fit` traced into a `tf.function`, as `netdsl run` does, with the program's "
        "validation split, then `evaluate`). A failure at any of these steps is *accepted but "
        "failed*.",
        "",
        f"Stage 1 took {stats.front_seconds:.0f} s, stage 2 {stats.build_seconds:.0f} s "
        f"({stats.build_timeouts} build timeouts at {args.build_timeout:g} s).",
    ]
    if stats.phase_seconds and stats.built:
        total = sum(stats.phase_seconds.values()) or 1.0
        lines += [
            "",
            "Stage 2's wall time by phase, summed over the sample (the graph fit ran on the "
            "subsample only): "
            + ", ".join(
                f"{name} {stats.phase_seconds.get(name, 0.0):,.0f} s "
                f"({100 * stats.phase_seconds.get(name, 0.0) / total:.0f} %)"
                for name in PHASES
            )
            + f"; {stats.build_seconds / stats.built:.2f} s per model overall.",
        ]
    fixed = getattr(args, "fixed", None) or []
    if fixed:
        lines += [
            "",
            f"Accepted but failed when the sample was built, at an earlier commit of this branch, "
            f"and since fixed ({len(fixed)}; rechecked with `--recheck`):",
            "",
        ]
        for item in fixed:
            prog = _short(item["program"], 200)
            lines.append(
                f"- `{prog}`: was {str(item['error'])[:160].replace('|', '/')}; **now** "
                f"{item['now'][:200].replace('|', '/')}"
            )
    for title, items in (
        ("Escapes", stats.escapes),
        ("Accepted but failed", stats.build_failures),
        ("Disagreements", stats.disagreements),
        ("Over the time limit", stats.hangs),
    ):
        if items:
            lines += ["", f"{title} ({len(items)}; first 10):", ""]
            for item in items[:10]:
                prog = item["program"][:300].replace("\n", "⏎").replace("|", "\\|")
                lines.append(f"- `{prog}`: {str(item.get('error', ''))[:300].replace('|', '/')}")
    lines.append(MARK_END)
    return "\n".join(lines) + "\n"


def _short(program: str, n: int = 50) -> str:
    """The start of a program on one table cell."""
    text = program.replace("\n", "⏎").replace("|", "\\|").replace("`", "'")
    return "".join(c if c.isprintable() else "?" for c in text[:n]) + ("…" if len(text) > n else "")


def write_report(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else ""
    if MARK_START in text and MARK_END in text:
        head, rest = text.split(MARK_START, 1)
        text = head + section.rstrip("\n") + rest.split(MARK_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", type=int, default=2_000)
    parser.add_argument("--build", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=10.0, help="per program, stage 1")
    parser.add_argument("--build-timeout", type=float, default=60.0, help="per program, stage 2")
    parser.add_argument("--out", type=Path, default=None, help="write the raw results as JSON")
    parser.add_argument(
        "--report", type=Path, default=None, help="update this BENCHMARKS.md section"
    )
    parser.add_argument(
        "--build-only",
        action="store_true",
        help="generate only programs for the build sample, until --build are accepted",
    )
    parser.add_argument(
        "--merge",
        type=Path,
        nargs="*",
        default=None,
        help="report from these saved results instead of running",
    )
    parser.add_argument(
        "--build-results",
        type=Path,
        nargs="*",
        default=None,
        help="with --merge: saved runs whose stage 2 (only) is added",
    )
    parser.add_argument(
        "--recheck",
        action="store_true",
        help="with --merge: run the accepted-but-failed programs again with this tree",
    )
    parser.add_argument(
        "--how", default=None, help="how the merged runs were made (for the report)"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker_main()
        return 0
    if args.merge is not None:
        stats = merge(args.merge, args.build_results or [])
        rerun_worst(stats)
        if args.recheck:
            args.fixed = recheck(stats, args.build_timeout)
        if args.report:
            write_report(args.report, report(stats, args))
        return 0
    only = args.build_only
    stats, sample = run_front(
        10**9 if only else args.programs,
        args.seed,
        args.timeout,
        keep=args.build,
        only_build=only,
        save=args.out,
    )
    rerun_worst(stats)
    print(
        f"stage 1: {stats.tried:,} programs, {len(stats.escapes)} escapes, {len(stats.hangs)} hangs, "
        f"{stats.front_seconds:.0f} s; building {len(sample)}",
        flush=True,
    )
    if sample:
        run_build(sample, stats, args.build_timeout, args.out)
    print(
        f"stage 2: {stats.built:,} built, {len(stats.build_failures)} failed, "
        f"{len(stats.disagreements)} disagreements, {stats.build_seconds:.0f} s",
        flush=True,
    )
    if args.out:
        args.out.write_text(json.dumps(stats.to_json(), indent=1))
    if args.report:
        write_report(args.report, report(stats, args))
    return 0 if not stats.escapes and not stats.hangs else 1


if __name__ == "__main__":
    sys.exit(main())
