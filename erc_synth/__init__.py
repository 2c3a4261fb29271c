"""The `erc-synth` command-line layer: one module per command, each parsing its options and calling library code."""
