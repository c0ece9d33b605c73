"""Cross-synthesis: hybridization and morphing of two sounds (being assembled)."""
