"""The libraries pass: the block definitions a program imports with ``use "file.net"`` (paths
relative to the importing file), each library read and parsed once, its own ``use`` lines
followed. Bounded: at most MAX_LIBRARIES files and MAX_LIBRARY_BYTES of text in all, so a
library that imports many others (or itself, refused) cannot blow up time or memory."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..errors import NetdslError, NetdslLimitError, NetdslNameError, Note
from ..lang import ir
from ..lang.parser import MAX_INPUT_BYTES, parse
from ..vocab.registry import suggest
from .collector import Collector
from .context import note

__all__ = [
    "MAX_LIBRARIES",
    "MAX_LIBRARY_BYTES",
    "Imported",
    "Libraries",
    "inlined",
    "read_libraries",
]

#: the most library files one program may load (its libraries' own imports counted)
MAX_LIBRARIES = 64
#: the most text all of a program's libraries may hold together
MAX_LIBRARY_BYTES = MAX_INPUT_BYTES


@dataclass(frozen=True)
class Imported:
    """One block from a library: its definition (spans in the library's file) and that file."""

    block: ir.BlockDef
    file: str


@dataclass
class Libraries:
    """What the ``use`` lines brought: blocks by name, and each library's text by its name
    (so an error inside a library block is drawn with its own source line)."""

    blocks: dict[str, Imported] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)


def _library_error(message: str, span: object, label: str, **kw: object) -> NetdslNameError:
    return NetdslNameError(message, span, label=label, code="NDL030", **kw)  # type: ignore[arg-type]


class _Reader:
    """One program's libraries, read depth first; ``chain`` is the import path being followed."""

    def __init__(self, collector: Collector) -> None:
        self.collector = collector
        self.out = Libraries()
        self.seen: set[str] = set()  # real paths already read (a diamond reads a file once)
        self.bytes = 0
        self.stopped = False  # past a limit: reported once, nothing more read

    def follow(
        self, uses: tuple[ir.Use, ...], base: str, chain: tuple[tuple[str, str], ...]
    ) -> None:
        for use in uses:
            if self.stopped:
                return
            shown = os.path.normpath(os.path.join(base, use.path))
            real = os.path.realpath(shown)
            if any(key == real for key, _ in chain):
                self._cycle(use, shown, chain, real)
            elif real not in self.seen:
                self._read(use, shown, real, chain)

    def _cycle(
        self, use: ir.Use, shown: str, chain: tuple[tuple[str, str], ...], real: str
    ) -> None:
        names = [name for _, name in chain]
        start = next(i for i, (key, _) in enumerate(chain) if key == real)
        path = " -> ".join([*names[start:], shown])
        self.collector.error(
            _library_error(
                f"`{shown}` imports itself"
                + ("" if len(names) - start == 1 else f" through {path}"),
                use.path_span,
                "imports itself" if len(names) - start == 1 else "closes a cycle",
                help="a library may use other libraries, never one that uses it back",
            )
        )

    def _read(self, use: ir.Use, shown: str, real: str, chain: tuple[tuple[str, str], ...]) -> None:
        if len(self.seen) >= MAX_LIBRARIES:
            return self._limit(use, f"more than {MAX_LIBRARIES} library files")
        try:
            with open(real, "rb") as f:
                data = f.read(MAX_INPUT_BYTES + 1)
        except OSError as e:
            what = "no such file" if isinstance(e, FileNotFoundError) else e.strerror or str(e)
            self.collector.error(
                _library_error(
                    f"cannot read library `{shown}`: {what}",
                    use.path_span,
                    "not found" if isinstance(e, FileNotFoundError) else "cannot be read",
                    help=_missing_help(use.path, real)
                    if isinstance(e, FileNotFoundError)
                    else "a `use` path is relative to the file that has the `use` line",
                )
            )
            return None
        self.bytes += len(data)
        if self.bytes > MAX_LIBRARY_BYTES:
            return self._limit(use, f"more than {MAX_LIBRARY_BYTES:,} bytes of libraries")
        self.seen.add(real)
        try:
            program = parse(data, shown)
        except NetdslError as err:
            for one in err.errors:
                self.collector.error(one, tuple(note(use.span, f"imported here as `{use.path}`")))
            return None
        self.out.sources[shown] = program.source or ""
        self._only_blocks(program, use)
        self.follow(program.uses, os.path.dirname(shown), (*chain, (real, shown)))
        for block in program.blocks:
            self._add(block, shown)
        return None

    def _only_blocks(self, library: ir.Program, use: ir.Use) -> None:
        """A library holds ``use`` lines and blocks only: its settings or network would be
        silently ignored, so each is an error at its span."""
        stray: list[tuple[object, str]] = [(s.span, "a setting") for s in library.settings]
        if library.network is not None:
            stray.append((library.network.span, "a network"))
        for span, what in stray:
            err = _library_error(
                f"a library holds blocks only, and this is {what}",
                span,
                f"{what} in a library",
                help="move it to the program that uses the library",
                notes=note(use.span, "imported here"),
            )
            err.source = library.source
            self.collector.error(err)

    def _add(self, block: ir.BlockDef, file: str) -> None:
        other = self.out.blocks.get(block.name)
        if other is None:
            self.out.blocks[block.name] = Imported(block, file)
            return
        self.collector.error(
            NetdslNameError(
                f"block `{block.name}` is defined by two libraries, {other.file} and {file}",
                block.name_span,
                label="second definition",
                code="NDL011",
                help="rename one of them, or use only one of the libraries",
                notes=note(other.block.name_span, "first defined here"),
            )
        )

    def _limit(self, use: ir.Use, what: str) -> None:
        self.stopped = True
        self.collector.error(
            NetdslLimitError(
                f"the program's libraries hold {what}",
                use.path_span,
                label="one library too many",
                code="NDL012",
                help="use fewer or smaller libraries",
            )
        )


def read_libraries(program: ir.Program, collector: Collector) -> Libraries:
    """Every block the program's ``use`` lines import (their own imports followed), each
    problem reported at its span; a library that cannot be read adds no blocks."""
    if not program.uses:
        return Libraries()
    reader = _Reader(collector)
    here = program.filename
    base = os.path.dirname(here) if here else ""
    chain = ((os.path.realpath(here), here),) if here and os.path.isfile(here) else ()
    reader.follow(program.uses, base, chain)
    return reader.out


def imported_note(item: Imported) -> list[Note]:
    """A note at a library block's definition."""
    return note(item.block.name_span, f"defined in {item.file}")


def inlined(program: ir.Program) -> tuple[ir.Program, str]:
    """The program without its ``use`` lines, and the blocks they import as netdsl text (each
    library's blocks after a comment naming it): what a run folder's ``model.net`` holds, so
    it stands alone (a relative ``use`` path would not resolve from the run folder) and a
    library edited before ``run --resume`` shows in the fingerprint."""
    if not program.uses:
        return program, ""
    from ..lang.formatter import format as format_program  # the formatter needs no checker

    libraries = read_libraries(program, Collector())
    by_file: dict[str, list[ir.BlockDef]] = {}
    for item in libraries.blocks.values():
        by_file.setdefault(item.file, []).append(item.block)
    parts = [
        f"# blocks of {file} (`use` inlined)\n"
        + format_program(ir.Program(blocks=tuple(blocks))).rstrip("\n")
        for file, blocks in by_file.items()
    ]
    rest = ir.Program(
        program.settings,
        program.blocks,
        program.network,
        program.filename,
        program.comments,
        program.source,
    )
    return rest, "\n\n".join(parts) + "\n\n"


def _missing_help(written: str, real: str) -> str:
    """Did-you-mean over the ``.net`` files beside where the library was looked for."""
    folder = os.path.dirname(real)
    try:
        near = [n for n in os.listdir(folder) if n.endswith(".net")][:1000]
    except OSError:
        near = []
    close = suggest(os.path.basename(real), near)
    if close is None:
        return "a `use` path is relative to the file that has the `use` line"
    return f"did you mean `{os.path.join(os.path.dirname(written), close)}`?"
