"""One module per `erc-synth` command, each exposing `make_parser()` and `main(argv) -> int`.

A command module parses its options with `erc_synth_datasets.options.OptionParser` from the options dataclasses of
the library it calls, and keeps heavy imports inside `main`, so that `erc-synth <command> --help` stays light.
"""
