"""Build the Cython core; everything else is in pyproject.toml."""
from Cython.Build import cythonize
from setuptools import Extension, setup

extensions = [
    Extension(
        "scenec.runtime._core",
        ["runtime/_core.pyx"],
        # -pthread: candidates_many runs its batch on POSIX threads (glibc < 2.34 needs it).
        extra_compile_args=["-O3", "-pthread"],
        extra_link_args=["-pthread"],
    )
]

setup(ext_modules=cythonize(extensions, language_level=3, compiler_directives={
    "boundscheck": False, "wraparound": False, "cdivision": True, "initializedcheck": False,
}))
