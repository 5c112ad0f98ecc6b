"""Only the native kernels live here; everything else about the package is in pyproject.toml.

`pip install -e .` (make setup) compiles them; gcc and the Python headers are all they need."""

from setuptools import Extension, setup

FLAGS = ["-O2", "-std=c11", "-Wall", "-Wextra"]
HEADERS = ["generator/logs/_text_format.h"]

setup(ext_modules=[
    Extension("generator.logs._linestats", ["generator/logs/_linestats.c"], depends=HEADERS, extra_compile_args=FLAGS),
    Extension("generator.logs._records", ["generator/logs/_records.c"], depends=HEADERS, extra_compile_args=FLAGS),
    Extension("generator.logs._linetimes", ["generator/logs/_linetimes.c"], depends=HEADERS,
              extra_compile_args=FLAGS),
])
