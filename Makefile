# zenws developer targets.  `make test` is the one test command (README, .ci/run):
# it builds the sdist, builds the wheel from that sdist, installs the wheel into
# a fresh virtualenv and runs the whole suite against the installed package.
PY ?= python3
VENV ?= .venv-test
PYTEST_ARGS ?=

.PHONY: test dev ext lint typecheck bench bench-compare conformance clean

test:
	rm -rf dist $(VENV)
	$(PY) -m pip install --quiet --upgrade build
	$(PY) -m build --outdir dist .
	$(PY) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet "$$(ls dist/zenws-*.whl)[test]"
	ZENWS_TEST_INSTALLED=1 $(VENV)/bin/python -m pytest -p no:cacheprovider $(PYTEST_ARGS)

dev:
	$(PY) -m pip install --quiet "Cython>=3.0.10,<3.4" "picows>=2.3.1,<2.4" "setuptools>=68" wheel
	$(PY) -m pip install --no-build-isolation -e ".[dev]"

ext:
	$(PY) setup.py build_ext --inplace

lint:
	ruff check src tests bench
	ruff format --check src tests bench
	cython-lint --max-line-length 100 src/zenws/fast
	mypy

typecheck:
	mypy
	mypy tests/typing

bench:
	$(PY) -m pytest bench -p no:cacheprovider --benchmark-only --benchmark-columns=min,median,mean,ops

bench-compare:
	taskset -c 0 $(PY) -m bench.compare

clean:
	rm -rf build dist $(VENV) src/zenws/fast/*.c src/zenws/fast/*.so src/zenws/fast/*.html
