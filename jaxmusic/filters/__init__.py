"""Filter banks built in NumPy, outside any trace."""
