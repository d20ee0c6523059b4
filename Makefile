# zenws developer targets.  `make test` is the one test command (README, .ci/run): it
# builds the sdist, builds the wheel from that sdist, installs the wheel into a virtualenv
# (.venv-test) and runs the whole suite against the installed package: the parallel-safe
# tests on $(JOBS) workers, then the tests marked `serial` alone.
#
# Everything it installs goes into .venv-test (never into $(PY)): the build requirements
# of pyproject.toml, `build`, and the wheel with its `test` extra.  Only the first run (or
# one after pyproject.toml changed) downloads packages; after that the wheel is rebuilt
# only when a source file changed (dist/.wheel-stamp), with no network.
SHELL := bash
PY ?= python3
VENV ?= .venv-test
VPY := $(VENV)/bin/python
JOBS ?= 2
PYTEST_ARGS ?=
# what the wheel is built from (generated .c/.so/.html under src/ excluded)
WHEEL_SOURCES := setup.py pyproject.toml MANIFEST.in README.md LICENSE \
	$(wildcard ext/*.c ext/*.h docs/*.md) \
	$(shell find src -type f \( -name '*.py' -o -name '*.pyi' -o -name '*.pyx' \
		-o -name '*.pxd' -o -name '*.pxi' -o -name '*.h' -o -name 'py.typed' \) \
		-not -path '*/__pycache__/*' 2>/dev/null)
PYTEST := ZENWS_TEST_INSTALLED=1 $(VPY) -m pytest -p no:cacheprovider

.PHONY: test test-dev wheel install dev ext lint typecheck bench bench-compare bench-check \
	bench-baseline conformance clean

# Two passes; exit 5 (no test collected) is fine for one pass only if the other ran tests.
test: $(VENV)/.installed
	@set +e; \
	$(PYTEST) -n $(JOBS) -m "not serial" $(PYTEST_ARGS); a=$$?; \
	echo "== serial tests (alone) =="; \
	$(PYTEST) -m serial $(PYTEST_ARGS); b=$$?; \
	if [ $$a -eq 5 ] && [ $$b -eq 5 ]; then echo "make test: no test ran" >&2; exit 5; fi; \
	for rc in $$a $$b; do if [ $$rc -ne 0 ] && [ $$rc -ne 5 ]; then exit $$rc; fi; done

# The fast in-place loop: extensions compiled into src/, tests against the checkout.
test-dev: ext
	PYTHONPATH=src $(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS)

wheel: dist/.wheel-stamp

# Build the wheel and install it into $(PY) (what `pip install .` does, but the wheel
# stays in dist/ for `make test`).
install: dist/.wheel-stamp
	$(PY) -m pip install --force-reinstall --no-deps dist/zenws-*.whl
	$(PY) -m pip install dist/zenws-*.whl

$(VENV)/.tools: pyproject.toml
	test -x $(VPY) || $(PY) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -c 'import re; b = open("pyproject.toml").read().split("[build-system]")[1]; \
		print("\n".join(re.findall(r"\"([^\"]+)\"", b.split("]")[0])))' > $(VENV)/build-requires.txt
	$(VPY) -m pip install --quiet build -r $(VENV)/build-requires.txt
	touch $@

# sdist, then the wheel from that sdist; the build requirements are those of pyproject.toml,
# installed in the venv (no isolated build environment to download on every build).
dist/.wheel-stamp: $(VENV)/.tools $(WHEEL_SOURCES)
	rm -rf dist
	$(VPY) -m build --no-isolation --outdir dist .
	touch $@

$(VENV)/.installed: dist/.wheel-stamp
	$(VPY) -m pip install --quiet --force-reinstall --no-deps dist/zenws-*.whl
	$(VPY) -m pip install --quiet "$$(ls dist/zenws-*.whl)[test]"
	touch $@

dev:
	$(PY) -m pip install --quiet "Cython>=3.0.10,<3.4" "picows>=2.3.1,<2.4" \
		"aiofastnet>=1.2.0,<1.3" "setuptools>=77" wheel
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

# Latency regression gate (bench/README.md): the micro benchmarks and the loopback
# request() round trip against the committed baseline, pinned to one core.
bench-check: ext
	PYTHONPATH=src $(PY) -m bench.check

bench-baseline: ext
	PYTHONPATH=src $(PY) -m bench.check --save

clean:
	rm -rf build dist $(VENV) src/zenws/fast/*.c src/zenws/fast/*.so src/zenws/fast/*.html
