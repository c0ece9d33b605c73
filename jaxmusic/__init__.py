"""jaxmusic."""
