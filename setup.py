"""Only the native kernel lives here; everything else about the package is in pyproject.toml.

`pip install -e .` (make setup) compiles it; gcc and the Python headers are all it needs."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("generator.logs._linestats", ["generator/logs/_linestats.c"],
                             extra_compile_args=["-O2", "-std=c11", "-Wall", "-Wextra"])])
