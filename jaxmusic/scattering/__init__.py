"""Scattering transforms: time (Scattering1D), joint time-frequency, spiral."""
