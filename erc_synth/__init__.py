"""The command layer of erc-synth: the `erc-synth` console script (`erc_synth.cli`) and one module per command.

This package sits on top: its command modules parse options and call the library packages below it
(`generation`, `trainers`, `erc_synth_datasets`); nothing below imports it (the layers are checked by
import-linter, see `[tool.importlinter]` in pyproject.toml).
"""
