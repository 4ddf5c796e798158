# Quick start: `make demo` runs the main job on the embedded default, `make test` runs the test suite.
# Both set up the project environment (.venv) first; re-running is cheap (tools/install.sh is idempotent).
VENV ?= .venv
PY := $(VENV)/bin/python
export MMSEQFORMER_VENV := $(abspath $(VENV))
TOY_CONFIG := configs/seqformer/seqformer_mbv2-toy_1xb2-1800i_toy.py
TOY_CHECKPOINT := demo/checkpoints/seqformer_mbv2-toy_toy.pth

.PHONY: install demo test lint toy-data

install:
	@bash tools/install.sh

toy-data: install
	@if [ -f data/toy_vis/annotations/toy_vis_valid.json ]; then \
		$(PY) tools/dataset_converters/make_toy_vis.py --out data/toy_vis --summary-only; \
	else \
		$(PY) tools/dataset_converters/make_toy_vis.py --out data/toy_vis --seed 0; \
	fi

# The shipped toy model segments and tracks the synthetic valid videos; prints YouTube-VIS AP/AR.
demo: toy-data
	$(PY) tools/test.py $(TOY_CONFIG) $(TOY_CHECKPOINT) --work-dir work_dirs/demo

lint: install
	$(VENV)/bin/ruff check .

# pytest exits 5 when it collected nothing; make treats any non-zero exit as failure.
test: lint
	$(PY) -m pytest tests
