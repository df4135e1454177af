"""Faults (issue 16): ``fmt --write`` edits files as an editor would; misbehaving plugins are
isolated and named from import to build; environment switches parse as people write them;
hostile MNIST files are refused cleanly and cheaply. Every case ends in a ``NetdslError``-style
message and a documented exit code, never a traceback.

Process-level faults (``sys.exit`` or ``KeyboardInterrupt`` at a plugin's import, a plugin printing
to stdout) run the real ``netdsl`` in a subprocess, with fake installed distributions (see
``test_plugins.Site``) on its ``PYTHONPATH``.
"""

from __future__ import annotations

import errno
import gzip
import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from test_plugins import HEADER, Site, _clean_env, site  # noqa: F401 - fixtures used below

from netdsl.checking.checker import check
from netdsl.errors import NetdslDataError, NetdslError, NetdslPluginError
from netdsl.tools import files
from netdsl.tools.cli import main
from netdsl.vocab.registry import env_flag, load_registry
from netdsl_builtins.mnist_files import MAX_BYTES, load_mnist, read_idx

ROOT = Path(__file__).resolve().parents[1]
UGLY = "dense  64   relu->dense 10 softmax\n"
PRETTY = "dense 64 relu -> dense 10 softmax\n"
TRACEBACK = "Traceback (most recent call last)"


def cli(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(main, list(args), env=env)


def netdsl(
    site_root: Path | None, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The real ``netdsl`` in a fresh process, with a fake site's distributions installed."""
    paths = [str(site_root)] if site_root else []
    full = {k: v for k, v in os.environ.items() if not k.startswith("NETDSL_")}
    full["PYTHONPATH"] = os.pathsep.join([*paths, str(ROOT), str(ROOT / "plugins")])
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "netdsl.tools.cli", *args],
        capture_output=True,
        text=True,
        env=full,
        cwd=cwd,
        timeout=120,
    )


# --- fmt --write ---------------------------------------------------------------------------------


def test_fmt_write_follows_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "real.net"
    target.write_text(UGLY)
    link = tmp_path / "link.net"
    link.symlink_to(target.name)
    result = cli("fmt", "--write", str(link))
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and os.readlink(link) == "real.net"
    assert target.read_text() == PRETTY


def test_fmt_write_refuses_a_read_only_file(tmp_path: Path) -> None:
    path = tmp_path / "ro.net"
    path.write_text(UGLY)
    path.chmod(0o444)
    result = cli("fmt", "--write", str(path))
    assert result.exit_code == 1
    assert f"error[NDL015]: cannot write {path}: the file is read-only (mode 444)" in result.stderr
    assert path.read_text() == UGLY and stat.S_IMODE(path.stat().st_mode) == 0o444
    assert TRACEBACK not in result.output


def test_fmt_write_keeps_bom_mode_and_hard_links(tmp_path: Path) -> None:
    bom = tmp_path / "bom.net"
    bom.write_bytes(b"\xef\xbb\xbf" + UGLY.encode())
    bom.chmod(0o751)
    first = tmp_path / "first.net"
    first.write_text(UGLY)
    second = tmp_path / "second.net"
    os.link(first, second)
    inode = first.stat().st_ino
    result = cli("fmt", "--write", str(bom), str(first))
    assert result.exit_code == 0, result.output
    assert bom.read_bytes() == b"\xef\xbb\xbf" + PRETTY.encode()
    assert stat.S_IMODE(bom.stat().st_mode) == 0o751
    assert first.stat().st_ino == second.stat().st_ino == inode and first.stat().st_nlink == 2
    assert second.read_text() == PRETTY
    assert cli("fmt", "--check", str(bom)).exit_code == 0  # a BOM alone is not a difference
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bom.net", "first.net", "second.net"]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown")
def test_fmt_write_keeps_the_owner(tmp_path: Path) -> None:
    path = tmp_path / "theirs.net"
    path.write_text(UGLY)
    os.chown(path, 65534, 65534)
    assert cli("fmt", "--write", str(path)).exit_code == 0
    st = path.stat()
    assert (st.st_uid, st.st_gid) == (65534, 65534) and path.read_text() == PRETTY


@pytest.mark.parametrize("links", [1, 2], ids=["rename", "in-place"])
def test_fmt_write_on_a_full_disk_leaves_the_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, links: int
) -> None:
    path = tmp_path / "m.net"
    path.write_text(UGLY)
    if links == 2:
        os.link(path, tmp_path / "other.net")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files.os, "fsync", full)
    result = cli("fmt", "--write", str(path))
    assert result.exit_code == 1
    assert (
        f"error[NDL015]: cannot write {path}: No space left on device; the file is unchanged"
        in result.stderr
    )
    assert path.read_text() == UGLY
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".netdsl-tmp")]


# --- plugins: import -----------------------------------------------------------------------------

GOOD_LAYER = (
    HEADER
    + """
@hookimpl
def register_layers(register):
    register(Layer(name="good_layer", infer=same, build=build))
"""
)

AT_IMPORT = {
    "sys-exit": ("import sys\nsys.exit(3)\n", "failed to import: SystemExit: 3"),
    "keyboard-interrupt": ("raise KeyboardInterrupt\n", "failed to import: KeyboardInterrupt"),
    "base-exception": (
        "class Odd(BaseException):\n    pass\nraise Odd('odd')\n",
        "failed to import: Odd: odd",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(AT_IMPORT))
def test_a_plugin_raising_anything_at_import_is_one_warning(
    site: Site, tmp_path: Path, case: str
) -> None:
    source, message = AT_IMPORT[case]
    site.add("bad-dist", source, entry="b")
    site.add("good-dist", GOOD_LAYER, entry="a")
    program = tmp_path / "m.net"
    program.write_text("good_layer -> " + PRETTY)
    done = netdsl(site.root, "check", "--json", str(program))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["files"][0]["ok"] is True  # the good plugin still loaded
    assert f"warning: plugin bad-dist 1.0 {message}" in done.stderr
    assert TRACEBACK not in done.stderr and "Aborted" not in done.stderr
    strict = netdsl(site.root, "--strict-plugins", "check", str(program))
    assert (
        strict.returncode == 1 and f"error[NDL202]: plugin bad-dist 1.0 {message}" in strict.stderr
    )
    assert TRACEBACK not in strict.stderr


@pytest.mark.slow
def test_plugin_stdout_never_reaches_json_output(site: Site, tmp_path: Path) -> None:
    noisy = (
        "print('hello from import ' * 2000)\n"
        + HEADER
        + "@hookimpl\ndef register_layers(register):\n    print('hello from a hook')\n"
    )
    site.add("noisy-dist", noisy)
    program = tmp_path / "m.net"
    program.write_text(PRETTY)
    done = netdsl(site.root, "check", "--json", str(program))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["files"][0]["ok"] is True
    assert "hello from import" in done.stderr and "hello from a hook" in done.stderr


@pytest.mark.slow
def test_a_slow_plugin_is_named_with_its_time_under_verbose(site: Site, tmp_path: Path) -> None:
    site.add("slow-dist", "import time\ntime.sleep(1.2)\n" + GOOD_LAYER)
    program = tmp_path / "m.net"
    program.write_text(PRETTY)
    verbose = netdsl(site.root, "-v", "check", str(program))
    assert verbose.returncode == 0, verbose.stderr
    assert "note: plugin slow-dist 1.0 took " in verbose.stderr and " s to load" in verbose.stderr
    seconds = float(verbose.stderr.split("took ")[1].split(" s")[0])
    assert seconds >= 1.1
    assert "slow-dist" not in netdsl(site.root, "check", str(program)).stderr


# --- plugins: malformed declarations, refused at registration --------------------------------------


def _layer_plugin(fields: str) -> str:
    return (
        HEADER
        + f"@hookimpl\ndef register_layers(register):\n    register(Layer(name='odd', {fields}))\n"
    )


DECLARATIONS = {
    "params-not-Param": (
        "infer=same, build=build, params=('units',)",
        "params: must be a tuple of",
    ),
    "accepts-matrix": (
        "infer=same, build=build, accepts='matrix'",
        "accepts: 'matrix' is not one of",
    ),
    "missing-build": ("infer=same", "build: a layer needs a build function"),
}


@pytest.mark.parametrize("case", list(DECLARATIONS))
def test_a_malformed_declaration_is_named_and_refused(site: Site, case: str) -> None:
    fields, fragment = DECLARATIONS[case]
    site.add("odd-dist", _layer_plugin(fields))
    problems: list[NetdslPluginError] = []
    registry = load_registry(on_problem=problems.append)
    assert registry.get("layer", "odd") is None
    [err] = problems
    assert err.code == "NDL204" and "plugin odd-dist 1.0: layer `odd`: " + fragment in err.message
    with pytest.raises(NetdslPluginError, match=fragment.split(":")[0]):
        load_registry(strict=True)
    result = CliRunner().invoke(
        main, ["check", "-"], input=PRETTY, env={"NETDSL_STRICT_PLUGINS": "yes"}
    )
    assert (
        result.exit_code == 1 and "error[NDL204]: plugin odd-dist 1.0: layer `odd`" in result.stderr
    )


# --- plugins: shape rules, data descriptions (check) ------------------------------------------------

RULES = {
    "infer-garbage": ("lambda shape, args: 'garbage'", "returned 'garbage'"),
    "infer-raises": ("lambda shape, args: {}['units']", "raised KeyError: 'units'"),
    "infer-exits": ("lambda shape, args: exit(4)", "raised SystemExit: 4"),
}


@pytest.mark.parametrize("case", list(RULES))
def test_a_broken_shape_rule_is_an_error_naming_plugin_and_layer(
    site: Site, tmp_path: Path, case: str
) -> None:
    rule, fragment = RULES[case]
    site.add("rule-dist", _layer_plugin(f"infer={rule}, build=build"))
    program = tmp_path / "m.net"
    program.write_text("odd -> " + PRETTY)
    result = cli("check", "--json", str(program))
    assert result.exit_code == 1
    [err] = json.loads(result.stdout)["files"][0]["errors"]
    assert err["code"] == "NDL206" and err["span"]["column"] == 1
    assert (
        err["message"].startswith("the shape rule of `odd` (rule-dist 1.0) ")
        and fragment in err["message"]
    )
    assert TRACEBACK not in result.output


DATASET = (
    HEADER.replace(
        "Activation, Layer, Param", "Activation, Layer, Param, Dataset, DataInfo, Target"
    )
    + """
import numpy as np

def describe(request):
    return DataInfo({shape}, Target("classes", 2))

def load(request, info):
    {load}

@hookimpl
def register_datasets(register):
    register(Dataset(name="odd_data", describe=describe, load=load))
"""
)


def _dataset_plugin(shape: str = "(4,)", load: str = "return None") -> str:
    return DATASET.format(shape=shape, load=load)


@pytest.mark.parametrize("shape", ["()", "(0,)", "('a',)"])
def test_a_dataset_without_a_usable_input_shape_is_an_error(
    site: Site, tmp_path: Path, shape: str
) -> None:
    site.add("data-dist", _dataset_plugin(shape))
    program = tmp_path / "m.net"
    program.write_text("dataset: odd_data\ndense 2 softmax\n")
    result = cli("check", str(program))
    assert result.exit_code == 1 and "ok (" not in result.output
    assert "error[NDL205]: dataset `odd_data` (data-dist 1.0) answered" in result.stderr


LOADS = {
    "raises": ("raise OSError('disk on fire')", "failed to load: OSError: disk on fire"),
    "mismatched": (
        "return np.zeros((5, 4)), np.zeros(3), np.zeros((2, 4)), np.zeros(2)",
        "returned 5 training examples but 3 labels",
    ),
    "scalar": (
        "return np.zeros((5, 4)), 1, np.zeros((2, 4)), np.zeros(2)",
        "returned a single value as its training labels",
    ),
    "not-four": ("return [1, 2]", "returned list, not (x_train, y_train, x_test, y_test)"),
    "no-examples": (
        "return np.zeros((0, 4)), np.zeros(0), np.zeros((2, 4)), np.zeros(2)",
        "returned 0 training examples",
    ),
    "no test examples": (
        "return np.zeros((5, 4)), np.zeros(5), np.zeros((0, 4)), np.zeros(0)",
        "returned 0 test examples",
    ),
}


@pytest.mark.parametrize("case", list(LOADS))
def test_a_dataset_loader_fault_names_the_plugin(site: Site, case: str) -> None:
    from netdsl.keras.training import load_data

    body, fragment = LOADS[case]
    site.add("data-dist", _dataset_plugin(load=body))
    model = check("dataset: odd_data\ndense 2 softmax\n", load_registry())
    with pytest.raises(NetdslPluginError) as info:
        load_data(model)
    assert info.value.code == "NDL205"
    assert (
        info.value.message.startswith("dataset `odd_data` (data-dist 1.0) ")
        and fragment in info.value.message
    )
    if "0 " in fragment:  # a plugin's loader: the help says whose it is
        assert "plugin" in (info.value.help or ""), info.value.help


@pytest.mark.parametrize(
    "body, what",
    [
        (
            "x = np.ones((5, 4)); x[3, 1] = np.nan; return x, np.zeros(5), np.ones((2, 4)), np.zeros(2)",
            "training examples holding NaN or infinite values (the first at training example 3)",
        ),
        (
            "return np.ones((5, 4)), np.zeros(5), np.ones((2, 4)), np.array([0.0, np.inf])",
            "test labels holding NaN or infinite values (the first at test example 1)",
        ),
    ],
    ids=["nan-feature", "infinite-label"],
)
def test_a_loader_returning_non_finite_values_is_a_data_error_naming_the_plugin(
    site: Site, body: str, what: str
) -> None:
    from netdsl.keras.training import load_data

    site.add("data-dist", _dataset_plugin(load=body))
    model = check("dataset: odd_data\ndense 2 softmax\n", load_registry())
    with pytest.raises(NetdslDataError) as info:
        load_data(model)
    assert info.value.code == "NDL100"
    assert (
        info.value.message.startswith("dataset `odd_data` (data-dist 1.0) ")
        and what in info.value.message
    )
    assert "fill in or drop" in (info.value.help or "") and "data-dist" in (info.value.help or "")


# --- plugins: build (needs Keras) ----------------------------------------------------------------

BUILDS = {
    "layer-build-raises": (
        _layer_plugin("infer=same, build=lambda **kw: 1 / 0") + "\n",
        "odd -> " + PRETTY,
        "layer `odd` (build-dist 1.0) failed to build: ZeroDivisionError",
    ),
    "activation-build-raises": (
        HEADER + "@hookimpl\ndef register_activations(register):\n"
        "    register(Activation(name='odd_act', build=lambda: [][1]))\n",
        "dense 64 odd_act -> dense 10 softmax\n",
        "activation `odd_act` (build-dist 1.0) failed to build: IndexError",
    ),
    "layer-build-returns-42": (
        _layer_plugin("infer=same, build=lambda **kw: 42") + "\n",
        "odd -> " + PRETTY,
        "layer `odd` (build-dist 1.0) built int 42, not a Keras layer",
    ),
    "activation-without-build": (
        HEADER + "@hookimpl\ndef register_activations(register):\n"
        "    register(Activation(name='odd_act'))\n",
        "dense 64 odd_act -> dense 10 softmax\n",
        "activation `odd_act` (build-dist 1.0) has no build function",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(BUILDS))
def test_a_build_fault_is_an_error_naming_plugin_and_component(site: Site, case: str) -> None:
    pytest.importorskip("keras")
    import netdsl

    source, program, fragment = BUILDS[case]
    site.add("build-dist", source)
    model = check(program, load_registry())
    with pytest.raises(NetdslError) as info:
        netdsl.build(model)
    assert fragment in info.value.message and info.value.code in ("NDL206", "NDL302")


# --- environment switches, the plugin list, overrides ------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("1", True),
        ("yes", True),
        ("ON", True),
        (" true ", True),
        ("0", False),
        ("no", False),
        ("Off", False),
        ("false", False),
        ("", False),
    ],
)
def test_env_flag_reads_booleans_as_people_write_them(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: bool
) -> None:
    monkeypatch.setenv("NETDSL_X", raw)
    assert env_flag("NETDSL_X") is expected


def test_strict_plugins_switch_off_means_off_and_a_bad_value_is_an_error(site: Site) -> None:
    site.add("bad-dist", "raise RuntimeError('boom')\n")
    off = CliRunner().invoke(
        main, ["check", "-"], input=PRETTY, env={"NETDSL_STRICT_PLUGINS": "off"}
    )
    assert off.exit_code == 0 and "warning: plugin bad-dist 1.0 failed to import" in off.stderr
    on = CliRunner().invoke(main, ["check", "-"], input=PRETTY, env={"NETDSL_STRICT_PLUGINS": "on"})
    assert on.exit_code == 1 and "error[NDL202]" in on.stderr
    bad = CliRunner().invoke(
        main, ["check", "-"], input=PRETTY, env={"NETDSL_STRICT_PLUGINS": "maybe"}
    )
    assert bad.exit_code == 1
    assert "error[NDL207]: NETDSL_STRICT_PLUGINS='maybe' is not a boolean" in bad.stderr
    assert TRACEBACK not in bad.output


def test_an_unknown_name_in_netdsl_plugins_is_a_warning_with_a_suggestion(site: Site) -> None:
    site.add("netdsl-tiny", GOOD_LAYER)
    env = {"NETDSL_PLUGINS": "netdsl-tiyn"}
    loose = CliRunner().invoke(main, ["check", "-"], input=PRETTY, env=env)
    assert loose.exit_code == 0
    assert (
        "warning: NETDSL_PLUGINS names `netdsl-tiyn`, but no installed distribution provides "
        "netdsl plugins under that name; did you mean `netdsl-tiny`?"
    ) in loose.stderr
    strict = CliRunner().invoke(main, ["--strict-plugins", "check", "-"], input=PRETTY, env=env)
    assert (
        strict.exit_code == 1
        and "error[NDL209]: NETDSL_PLUGINS names `netdsl-tiyn`" in strict.stderr
    )


def test_overriding_a_builtin_says_so_once(site: Site) -> None:
    site.add(
        "over-dist",
        HEADER + "@hookimpl\ndef register_layers(register):\n"
        "    register(Layer(name='dense', infer=same, build=build), override=True)\n",
    )
    result = cli("plugins")
    assert result.exit_code == 0
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: plugin over-dist 1.0 overrides layer `dense` of netdsl 0.1.0 (built-in)"
    ]
    strict = CliRunner().invoke(main, ["--strict-plugins", "plugins"])  # on purpose: not a problem
    assert strict.exit_code == 0


# --- hostile MNIST files -----------------------------------------------------------------------------


def _npy(path: Path) -> Path:
    np.save(path, np.zeros((3, 28, 28), np.uint8))
    return path


HOSTILE = {
    "npy": (lambda d: _npy(d / "x.npy"), "a single .npy array, not an .npz archive"),
    "npy-renamed-npz": (
        lambda d: _npy(d / "x.npy").rename(d / "y.npz") or d / "y.npz",
        "a single .npy array, not an .npz archive",
    ),
    "garbage-npz": (
        lambda d: (d / "g.npz").write_bytes(bytes(range(256)) * 4) and d / "g.npz",
        "cannot read as an MNIST .npz: not a zip archive (it starts with 00 01 02 03",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_file_that_is_not_an_npz_is_a_clean_data_error(tmp_path: Path, case: str) -> None:
    make, fragment = HOSTILE[case]
    path = make(tmp_path)
    with pytest.raises(NetdslDataError) as info:
        load_mnist(path)
    assert info.value.code == "NDL100" and str(path) in info.value.message
    assert fragment in info.value.message and "pickled" not in info.value.message


def test_an_npz_member_declaring_a_huge_array_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "huge.npz"
    header = np.lib.format.header_data_from_array_1_0(np.zeros(1, np.uint8))
    header["shape"] = (10**12,)
    with zipfile.ZipFile(path, "w") as z, z.open("x_train.npy", "w") as f:
        np.lib.format.write_array_header_1_0(f, header)
    with pytest.raises(
        NetdslDataError, match=r"array x_train.npy declares 1,000,000,000,000 bytes, over"
    ):
        load_mnist(path)


def test_a_file_over_the_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    for name in ("train-images-idx3-ubyte", "mnist.npz"):
        path = tmp_path / name
        with open(path, "wb") as f:  # sparse: no disk used
            f.truncate(MAX_BYTES + 1)
        read = read_idx if name.endswith("ubyte") else None
        with pytest.raises(NetdslDataError, match="over the 268,435,456-byte limit") as info:
            read_idx(path, ndim=3) if read else load_mnist(path)
        assert "refused without reading it" in info.value.message


def test_an_idx_header_declaring_too_much_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(
        gzip.compress(b"\0\0\x08\x03" + (2**31).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2)
    )
    with pytest.raises(NetdslDataError, match="the header declares 2,147,483,648 images of 28x28"):
        read_idx(path, ndim=3)


BOMB = """
import resource, sys, zlib
from netdsl.errors import NetdslDataError
from netdsl_builtins.mnist_files import read_idx
path = sys.argv[1]
c = zlib.compressobj(9, zlib.DEFLATED, 31)
with open(path, "wb") as f:
    f.write(c.compress(b"\\0\\0\\x08\\x03" + (60000).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2))
    zeros = bytes(2**24)
    for _ in range(64):  # 1 GiB of zeros, about 1 MB compressed
        f.write(c.compress(zeros))
    f.write(c.flush())
del zeros
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    read_idx(path, ndim=3)
except NetdslDataError as e:
    print(e.message)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


@pytest.mark.slow
def test_a_gzip_bomb_is_decompressed_only_as_far_as_its_header_declares(tmp_path: Path) -> None:
    path = tmp_path / "train-images-idx3-ubyte.gz"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "plugins")])}
    done = subprocess.run(
        [sys.executable, "-c", BOMB, str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    message, grown_kib = done.stdout.strip().splitlines()
    assert path.stat().st_size < 3 * 2**20
    assert (
        "extra bytes: header declares 60000 images of 28x28 (47040000 bytes) but more than"
        in message
    )
    assert int(grown_kib) < 200 * 1024  # the declared 47 MB and buffers, not the bomb's 1 GiB


@pytest.mark.slow
def test_a_real_ctrl_c_while_plugins_load_still_stops_netdsl(site: Site, tmp_path: Path) -> None:
    import signal
    import time

    site.add("slow-dist", "import time\nfor _ in range(100):\n    time.sleep(0.1)\n" + GOOD_LAYER)
    program = tmp_path / "m.net"
    program.write_text(PRETTY)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETDSL_")}
    env["PYTHONPATH"] = os.pathsep.join([str(site.root), str(ROOT), str(ROOT / "plugins")])
    proc = subprocess.Popen(
        [sys.executable, "-m", "netdsl.tools.cli", "check", str(program)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(3)  # well into the plugin's 10 s import
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "ok (" not in out  # the user's interrupt is not a plugin fault
    assert "warning: plugin slow-dist" not in err
