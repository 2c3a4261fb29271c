"""Quality of synthetic dialogues beside the real benchmark: metrics, the report, its Markdown and plots.

`report.compute_report` builds the report (docs/quality.md documents its JSON); `metrics` holds the text measures
that the generation-time filters (`generation.filters`) share; `sources` reads run folders, built dataset configs
and real benchmarks; `reference` holds stored aggregate figures of the real benchmarks.
"""
