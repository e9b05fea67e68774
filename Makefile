# liveroom: the two commands are `make run` and `make test` (see README.md).
# Everything installs into .venv from pyproject.toml, pinned by constraints.txt.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup run test bench bench-answers bench-distributed fit-answers screenshots clean help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "liveroom needs Python 3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)  ## create .venv and install liveroom with its pinned dependencies

run: setup  ## set up, then start the bot on the embedded default (a console room)
	$(BIN)/liveroom run

test: setup  ## set up, then run the whole test suite
	$(BIN)/python -m pytest -q

bench: setup  ## run the benchmarks and print their figures (see bench/RESULTS.md)
	$(BIN)/python bench/replay_throughput.py
	$(BIN)/python bench/answer_latency.py
	$(BIN)/python bench/ingest_throughput.py
	$(BIN)/python bench/abstention.py
	$(BIN)/python bench/platform_latency.py
	$(BIN)/python bench/product_match.py
	$(BIN)/python bench/audience.py
	$(BIN)/python bench/traffic.py
	$(BIN)/python bench/scheduler.py
	$(BIN)/python bench/classify.py
	$(BIN)/python bench/insights.py
	$(BIN)/python bench/report.py
	$(BIN)/python bench/_interactions_data.py
	$(BIN)/python bench/dashboard.py
	$(BIN)/python bench/robustness.py
	$(BIN)/python bench/stop_deadline.py --baseline b7c5d3f
	$(MAKE) bench-answers

SHARED_DATA ?= ../shared/data

bench-distributed: setup  ## 200 rooms through real Redis, PostgreSQL and a Chroma server, 1 and 2 workers (needs postgresql, redis-server)
	$(BIN)/python bench/distributed_load.py --runs 3

bench-answers: setup  ## answers end to end: the sample shop's questions and the shared QA sets (bench/RESULTS.md)
	$(BIN)/python bench/shop_answers.py
	$(BIN)/liveroom eval answers $(SHARED_DATA)/ans-cmrc-trial-zh
	$(BIN)/liveroom eval answers $(SHARED_DATA)/ans-covidqa-en-dev

fit-answers: setup  ## refit the answer selector's weights and bars (docs/answers.md); prints constants to paste
	$(BIN)/python bench/fit_answer_selection.py

screenshots: setup  ## redraw docs/screenshots/*.png of the dashboard (needs /usr/bin/chromium)
	LIVEROOM_SCREENSHOTS=1 $(BIN)/python -m pytest -q -m browser tests/browser

clean:  ## remove the virtual environment and local state
	rm -rf $(VENV) data .pytest_cache
