"""The bottom layer: text processing, YAML data files and helpers every stage package may use.

It imports no other package of this repository (the import contract in pyproject.toml checks it).
"""
