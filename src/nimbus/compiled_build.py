"""`make install`'s mypyc step: compile `compiled.MODULES` from source, or say in one line why not.

Run as `python -m nimbus.compiled_build` from the repository's root. Nothing to do when `compiled.MANIFEST` already
records today's sources (and this interpreter, and this mypyc); otherwise the old products go first (so a failed
build leaves pure Python, never a mix), the build runs in a child process with its output in build/mypyc.log, and
the manifest is written last. It never fails `make install`: without a C compiler, Python's headers or mypyc, or
when mypyc rejects a module, it says so and Nimbus runs pure Python exactly as before.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import nimbus.compiled as compiled

ROOT = compiled.PACKAGE_DIR.parents[1]
BUILD_DIR = ROOT / "build" / "mypyc"
LOG = ROOT / "build" / "mypyc.log"


def products() -> list[Path]:
    """Every compiled module under src/nimbus (this build's and any older one's), and the manifest."""
    found = compiled.PACKAGE_DIR.rglob("*" + compiled.EXT_SUFFIX)
    return [*found, *compiled.PACKAGE_DIR.parent.glob(compiled.GROUP_LIB + "*"), compiled.MANIFEST]


def wanted() -> dict[str, object]:
    try:
        from mypy.version import __version__
    except ImportError:
        return {**compiled.manifest_for(compiled.MODULES), "mypy": None}
    return {**compiled.manifest_for(compiled.MODULES), "mypy": __version__}


def missing_tools() -> str:
    """Why this machine cannot build, or '' when it has what a build needs."""
    try:
        import mypyc.build  # noqa: F401
    except ImportError:
        return "no mypyc (it comes with the test extras' mypy)"
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"  # what setuptools will run
    if shutil.which(cc.split()[0]) is None:
        return f"no C compiler ({cc.split()[0]})"
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").is_file():
        return "no Python.h (on Debian/Ubuntu: apt-get install python3-dev)"
    return ""


def build() -> None:
    """The build itself (in the child): mypyc to C, then setuptools' build_ext in place, two compilers at once."""
    from mypyc.build import mypycify
    from setuptools import setup  # type: ignore[import-untyped]  # no stubs in the venv

    sources = [str(compiled.source_path(m).relative_to(ROOT)) for m in compiled.MODULES]
    cache = ["--cache-dir", str(BUILD_DIR / "mypy-cache")]  # not the cache `make lint` keeps
    extensions = mypycify([*cache, *sources], group_name=compiled.GROUP, target_dir=str(BUILD_DIR / "c"))
    setup(
        name="nimbus-compiled",
        ext_modules=extensions,
        package_dir={"": "src"},
        script_args=["build_ext", "--inplace", "--parallel", "2", "--build-temp", str(BUILD_DIR / "tmp"),
                     "--build-lib", str(BUILD_DIR / "lib")],
    )


def first_error(log: Path) -> str:
    """The build's first error line (mypy's `path:line: error: ...`, the compiler's `error: ...`), or where to look.
    Not any line with "error" in it: every compiler command line has -Werror."""
    for line in log.read_text(errors="replace").splitlines():
        if ": error:" in line or line.startswith("error:"):
            return f"{line.strip()}; {log}"
    return f"see {log}"


def main() -> int:
    if "--child" in sys.argv:
        build()
        return 0
    want = wanted()
    built = all(compiled.source_path(m).with_suffix(compiled.EXT_SUFFIX).is_file() for m in compiled.MODULES)
    if built and compiled.read_manifest() == want:
        return 0
    for path in products():
        path.unlink(missing_ok=True)
    missing = missing_tools()
    if missing:
        print(f"nimbus: not compiling the hot modules with mypyc ({missing}): running pure Python")
        return 0
    LOG.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with LOG.open("w") as log:
        done = subprocess.run([sys.executable, "-m", "nimbus.compiled_build", "--child"], cwd=ROOT, stdout=log,
                              stderr=subprocess.STDOUT, check=False, env={**os.environ, compiled.PURE_SWITCH: "1"})
    if done.returncode != 0:
        for path in products():
            path.unlink(missing_ok=True)
        print(f"nimbus: mypyc could not compile the hot modules ({first_error(LOG)}): running pure Python")
        return 0
    compiled.MANIFEST.write_text(json.dumps(want, indent=1, sort_keys=True) + "\n")
    print(f"nimbus: compiled {len(compiled.MODULES)} hot modules with mypyc in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
