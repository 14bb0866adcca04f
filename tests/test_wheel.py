"""The binary wheel users without Rust install ("Today's Pythons", item 4).

scripts/wheels.sh (what `make wheels` runs) builds the manylinux2014 wheel of the running CPython
with maturin and zig; then:

- its file name and its WHEEL metadata carry the tags cpXY-cpXY-manylinux_2_17_x86_64 and
  manylinux2014_x86_64 of this CPython, and it holds this CPython's extension module;
- that extension needs only libraries manylinux2014 allows and glibc symbol versions up to 2.17
  (read from its ELF version-needs section, independently of the auditwheel check of wheels.sh);
- it installs with pip, offline, into a fresh virtual environment whose PATH reaches no cargo or
  rustc, where a smoke program imports it from there, sends through a channel to an interpreter
  that answers through a queue, calls a function in it, maps over the pool and exits cleanly.

Building is a release compile of the whole crate (tens of seconds to minutes on 2 cores), so the
per-version suite (`make python-test`) leaves this module out with `-m "not wheel"`, and `make
wheel-test` (part of `make test`) runs it once, with the newest CPython found. It runs with any
CPython: `pytest -m wheel tests/test_wheel.py`, e.g. inside ../shared/ci/newer-pythons for 3.14
and 3.15.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.wheel,
    # The first test also waits for the build (a cold release build under load takes minutes).
    pytest.mark.timeout(1200),
    pytest.mark.skipif(
        sys.platform != "linux" or platform.machine() != "x86_64",
        reason="the wheels are manylinux x86_64 wheels, built and installed on Linux x86_64 only",
    ),
]

ROOT = Path(__file__).resolve().parent.parent
VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
CP = f"cp{sys.version_info.major}{sys.version_info.minor}"
EXPECTED_TAGS = {f"{CP}-{CP}-manylinux2014_x86_64", f"{CP}-{CP}-manylinux_2_17_x86_64"}
# manylinux2014's libraries (PEP 599) that an extension may need, and the dynamic loader.
ALLOWED_LIBRARIES = {
    "libgcc_s.so.1",
    "libstdc++.so.6",
    "libm.so.6",
    "libdl.so.2",
    "librt.so.1",
    "libc.so.6",
    "libnsl.so.1",
    "libutil.so.1",
    "libpthread.so.0",
    "libresolv.so.2",
    "libX11.so.6",
    "libXext.so.6",
    "libXrender.so.1",
    "libICE.so.6",
    "libSM.so.6",
    "libGL.so.1",
    "libgobject-2.0.so.0",
    "libgthread-2.0.so.0",
    "libglib-2.0.so.0",
    "ld-linux-x86-64.so.2",
}
RUST_TOOLS = ("cargo", "rustc", "rustup")

SMOKE = textwrap.dedent(
    """
    import shutil, sys, threading

    missing = [tool for tool in ("cargo", "rustc") if shutil.which(tool) is not None]
    assert not missing, f"Rust is reachable: {missing}"

    import subinterpreters as si

    assert si.__file__.startswith(sys.prefix + "/"), (si.__file__, sys.prefix)

    numbers = list(range(-3, 4))
    squares = si.create_queue()
    recv, send = si.create_channel()
    with si.create() as interp:
        source = "for n in numbers:\\n    squares.put(n * n)\\nsquares.close()"
        worker = threading.Thread(target=interp.run, args=(source,),
                                  kwargs={"numbers": recv, "squares": squares})
        worker.start()
        for n in numbers:
            send.send(n)
        send.close()
        worker.join()
        assert list(squares) == [n * n for n in numbers]
        assert interp.call(len, "abcd") == len("abcd")
    with si.InterpreterPoolExecutor(max_workers=2) as pool:
        assert list(pool.map(abs, numbers)) == [abs(n) for n in numbers]
    print("smoke ok:", si.__file__)
    """
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of this CPython, built by scripts/wheels.sh into a fresh folder."""
    out = tmp_path_factory.mktemp("wheels")
    proc = subprocess.run(
        [str(ROOT / "scripts" / "wheels.sh"), "-o", str(out), VERSION],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, f"scripts/wheels.sh failed (rc={proc.returncode}):\n{proc.stderr[-6000:]}"
    wheels = sorted(out.glob("*.whl"))
    assert len(wheels) == 1, f"expected one wheel in {out}, found {[w.name for w in wheels]}"
    assert proc.stdout.split() == [str(wheels[0])], proc.stdout
    return wheels[0]


def test_wheel_is_tagged_for_this_cpython_and_manylinux2014(wheel: Path) -> None:
    name, version, python_tag, abi_tag, platform_tag = wheel.name[: -len(".whl")].split("-")
    assert name == "subinterpreters"
    file_tags = {f"{python_tag}-{abi_tag}-{p}" for p in platform_tag.split(".")}
    assert file_tags == EXPECTED_TAGS, wheel.name
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(f"subinterpreters-{version}.dist-info/WHEEL").decode()
    assert set(re.findall(r"^Tag: (\S+)$", metadata, re.M)) == EXPECTED_TAGS, metadata
    assert "Root-Is-Purelib: false" in metadata, metadata
    assert f"subinterpreters/_core.cpython-{CP[2:]}-x86_64-linux-gnu.so" in names, names
    for part in ("__init__.py", "_core.pyi", "py.typed"):
        assert f"subinterpreters/{part}" in names, names


def test_extension_needs_only_glibc_2_17_and_manylinux2014_libraries(wheel: Path, tmp_path: Path) -> None:
    try:
        from elftools.elf.elffile import ELFFile
        from elftools.elf.gnuversions import GNUVerNeedSection
    except ImportError:  # pragma: no cover - the Makefile installs it (TEST_REQUIREMENTS)
        pytest.fail("pyelftools is needed to read the extension's ELF sections (pip install pyelftools)")
    with zipfile.ZipFile(wheel) as archive:
        (member,) = [n for n in archive.namelist() if n.endswith(".so")]
        so = Path(archive.extract(member, tmp_path))
    with so.open("rb") as f:
        elf = ELFFile(f)
        dynamic = elf.get_section_by_name(".dynamic")
        needed = {tag.needed for tag in dynamic.iter_tags() if tag.entry.d_tag == "DT_NEEDED"}
        versions: dict[str, set[str]] = {}
        for section in elf.iter_sections():
            if isinstance(section, GNUVerNeedSection):
                for verneed, auxiliaries in section.iter_versions():
                    versions.setdefault(verneed.name, set()).update(aux.name for aux in auxiliaries)
    assert needed, "the extension needs no library at all: not the ELF file expected"
    assert needed <= ALLOWED_LIBRARIES, (
        f"libraries manylinux2014 does not allow: {needed - ALLOWED_LIBRARIES}"
    )
    glibc = {v for names in versions.values() for v in names if v.startswith("GLIBC_")}
    assert "GLIBC_2.2.5" in glibc, versions  # x86_64's base version: the section was read
    assert "GLIBC_PRIVATE" not in glibc, versions
    newest = max(
        tuple(int(x) for x in v.removeprefix("GLIBC_").split(".")) for v in glibc - {"GLIBC_PRIVATE"}
    )
    assert newest <= (2, 17), f"needs glibc {'.'.join(map(str, newest))} symbols: {sorted(glibc)}"


def path_without_rust() -> str:
    """This PATH less every folder holding cargo, rustc or rustup."""
    folders = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d]
    kept = [d for d in folders if not any(os.access(os.path.join(d, t), os.X_OK) for t in RUST_TOOLS)]
    return os.pathsep.join(kept)


def test_wheel_installs_and_runs_without_rust(wheel: Path, tmp_path: Path) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CARGO", "RUST", "PYO3", "MATURIN", "PYTHON", "VIRTUAL_ENV", "PIP_"))
    }
    env["PATH"] = path_without_rust()
    assert shutil.which("cargo", path=env["PATH"]) is None and shutil.which("rustc", path=env["PATH"]) is None
    venv = tmp_path / "venv"
    # The base interpreter, not this test venv's python: the fresh venv must see none of this one.
    base = Path(sys.base_prefix) / "bin" / f"python{VERSION}"
    assert base.exists(), base
    subprocess.run([str(base), "-m", "venv", str(venv)], env=env, check=True, capture_output=True)
    python = venv / "bin" / "python"
    env["PATH"] = os.pathsep.join([str(venv / "bin"), env["PATH"]])
    install = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--no-index",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            str(wheel),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    proc = subprocess.run(
        [str(python), "-W", "error", "-c", SMOKE],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, f"smoke program failed (rc={proc.returncode}):\n{proc.stderr}"
    assert proc.stderr == "", proc.stderr
    site = f"{venv}/lib/python{VERSION}/site-packages/subinterpreters/__init__.py"
    assert proc.stdout.strip() == f"smoke ok: {site}", proc.stdout
