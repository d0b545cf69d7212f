"""Build script: compiles kernels/*.pyx into private modules minicnn._<name>.

If the C compiler or Cython is missing, or a kernel fails to compile, the
install still succeeds and minicnn falls back to its NumPy twins
(see minicnn/_kernels.py).  Set MINICNN_REQUIRE_EXT=1 to make any build
failure an error instead (CI does).
"""
import os
import sys
from pathlib import Path

from setuptools import find_namespace_packages, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).parent
REQUIRE = os.environ.get("MINICNN_REQUIRE_EXT", "") not in ("", "0")


def _extensions():
    try:
        import numpy
        from Cython.Build import cythonize
        from setuptools import Extension
    except ImportError as exc:  # pragma: no cover - depends on the machine
        if REQUIRE:
            raise
        print(f"minicnn: cannot build the Cython kernels ({exc}); using the NumPy twins",
              file=sys.stderr)
        return []
    openmp = [] if sys.platform == "darwin" else ["-fopenmp"]
    exts = []
    for pyx in sorted((HERE / "kernels").glob("*.pyx")):
        exts.append(Extension(
            f"minicnn._{pyx.stem}",
            [str(pyx.relative_to(HERE))],
            include_dirs=[numpy.get_include(), str(HERE / "kernels")],
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
            extra_compile_args=["-O3"] + openmp,
            extra_link_args=openmp,
        ))
    return cythonize(exts, language_level=3, quiet=True,
                     compiler_directives={"boundscheck": False, "wraparound": False,
                                          "cdivision": True, "initializedcheck": False})


class OptionalBuildExt(build_ext):
    """build_ext that degrades to a warning unless MINICNN_REQUIRE_EXT=1."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # pragma: no cover - depends on the machine
            if REQUIRE:
                raise
            print(f"minicnn: building the Cython kernels failed ({exc}); "
                  "using the NumPy twins", file=sys.stderr)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:  # pragma: no cover - depends on the machine
            if REQUIRE:
                raise
            print(f"minicnn: could not build {ext.name} ({exc}); using its NumPy twin",
                  file=sys.stderr)


# Every package under minicnn/ (data folders such as minicnn/_data included), plus
# the top-level pretrained_weights/ folder (shipped fast-style networks, weights
# manifest) installed as the data-only package minicnn.pretrained_weights.
PACKAGES = (find_namespace_packages(include=["minicnn", "minicnn.*"], exclude=["*__pycache__"])
            + ["minicnn.pretrained_weights", "minicnn.pretrained_weights.transformers"])

setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt},
      packages=PACKAGES,
      package_dir={"minicnn.pretrained_weights": "pretrained_weights",
                   "minicnn.pretrained_weights.transformers": "pretrained_weights/transformers"})
