"""newsmon's benchmark suite (issue 8): ``uv run python -m bench`` runs every part.

Each part is a module here with a ``run(...) -> dict`` and a command line of its own
(``uv run python bench/<part>.py``); see bench/README.md and docs/benchmarks.md.
"""
