"""The tab-separated releases: `MELD_*.txt`, `EMORY_*.txt` and the 6-way `iemocap_*.txt`."""

from __future__ import annotations

from pathlib import Path

from ..benchmarks import Benchmark
from .base import DataFileError, LoadReport, _check_label, _check_not_empty, _check_speaker, _Dialogue, _read_text


def _read_tsv(path: Path, benchmark: Benchmark, split: str, report: LoadReport) -> list[_Dialogue]:
    """Tab-separated, one utterance a line, a blank line between dialogues, optional header line."""
    dialogues: list[_Dialogue] = []
    current: _Dialogue | None = None
    columns: dict[str, int] | None = None
    header_size = 0
    for lineno, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            current = None
            continue
        fields = line.split("\t")
        lowered = [f.strip().lower() for f in fields]
        if columns is None and not dialogues and current is None and lowered[0] == "speaker":
            if "utterance" not in lowered or not ({"emotion", "label"} & set(lowered)):
                raise DataFileError(
                    f"{path}:{lineno}: a header must name Speaker, Utterance and Emotion columns, but got {fields}."
                )
            label_name = "emotion" if "emotion" in lowered else "label"
            columns = {"speaker": 0, "utterance": lowered.index("utterance"), "label": lowered.index(label_name)}
            header_size = len(fields)
            continue
        where = f"{path}:{lineno}"
        if columns is not None:
            if len(fields) != header_size:
                raise DataFileError(
                    f"{where}: expected {header_size} tab-separated fields as in the header, but got {len(fields)}."
                )
            speaker, utterance, label = (fields[columns[c]] for c in ("speaker", "utterance", "label"))
        else:
            if len(fields) != 3:
                raise DataFileError(
                    f"{where}: expected speaker<TAB>utterance<TAB>emotion (3 tab-separated fields), "
                    f"but got {len(fields)} field(s)."
                )
            speaker, utterance, label = fields
        label = _check_label(label, benchmark, where)
        speaker = _check_speaker(speaker, benchmark, where)
        if not utterance.strip():
            raise DataFileError(f"{where}: the utterance field is empty.")
        if current is None:
            current = _Dialogue(f"{benchmark.name}-{split}-{len(dialogues)}")
            dialogues.append(current)
        current.add(speaker, utterance.strip(), label)
    return _check_not_empty(dialogues, path, "speaker<TAB>utterance<TAB>emotion lines")
