PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo test bench clean

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	# tinysoundfont renders soundfonts (jaxmusic.data.gm8); its pyaudio requirement is for live
	# playback only and does not build without PortAudio headers, so install it without dependencies.
	$(PY) -m pip install --quiet --no-deps 'tinysoundfont>=0.3'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/jaxmusic demo --out runs/demo

test: $(STAMP)
	$(PY) -m pytest tests

bench: $(STAMP)
	$(PY) benchmarks/scattering.py

clean:
	rm -rf $(VENV) runs build *.egg-info
