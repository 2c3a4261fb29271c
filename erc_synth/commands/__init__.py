"""One module per `erc-synth` command, each with `make_parser()` and `main(argv)`; heavy imports inside `main`."""
