"""IEMOCAP in DAG-ERC's JSON layout: `{train,dev,test}_data.json`, a list of dialogues of `{text, speaker, label?}`."""

from __future__ import annotations

from pathlib import Path

from ..benchmarks import Benchmark
from .base import (
    DataFileError,
    LoadReport,
    _check_label,
    _check_not_empty,
    _check_speaker,
    _check_unique,
    _Dialogue,
    _expect,
    _load_json,
    _string,
)


def _read_dagerc_json(path: Path, benchmark: Benchmark, split: str, report: LoadReport) -> list[_Dialogue]:
    """DAG-ERC's IEMOCAP JSON: dialogues of `{text, speaker: <dialogue id>_<M|F>, label?}`; unlabelled ones skipped."""
    data = _expect(_load_json(path), list, str(path), "a list of dialogues")
    dialogues = []
    dialogue_ids: dict[str, str] = {}
    for d, items in enumerate(data):
        where = f"{path}: [{d}]"
        dialogue: _Dialogue | None = None
        for u, utt in enumerate(_expect(items, list, where, "a list of utterances")):
            at = f"{where}[{u}]"
            _expect(utt, dict, at, "an object with 'text' and 'speaker'")
            raw_speaker = _string(utt.get("speaker"), f"{at}.speaker", "a string like '<dialogue id>_<M|F>'")
            text = _string(utt.get("text", ""), f"{at}.text", "a string").strip()
            if "_" not in raw_speaker:
                raise DataFileError(f"{at}: expected a 'speaker' like '<dialogue id>_<M|F>', but got {raw_speaker!r}.")
            dialogue_id, speaker = raw_speaker.rsplit("_", 1)
            if dialogue is None:
                _check_unique(dialogue_ids, dialogue_id, where, "dialogue")
                dialogue = _Dialogue(dialogue_id)
            elif dialogue_id != dialogue.dialogue_id:
                raise DataFileError(
                    f"{at}: speaker {raw_speaker!r} names dialogue {dialogue_id!r}, but this dialogue is "
                    f"{dialogue.dialogue_id!r}; expected every utterance of a dialogue to name the same one."
                )
            speaker = _check_speaker(speaker, benchmark, f"{at}.speaker")
            if utt.get("label") is None:
                report.skip(split, "utterances without a 6-way label")
                continue
            if not text:
                raise DataFileError(f"{at}: a labelled utterance has an empty 'text'.")
            label = utt["label"]
            if isinstance(label, bool) or not isinstance(label, (str, int)):
                raise DataFileError(f"{at}.label: expected a label, but got {type(label).__name__}.")
            dialogue.add(speaker, text, _check_label(str(label), benchmark, at))
        if dialogue is not None and dialogue.utterances:
            dialogues.append(dialogue)
        else:
            report.skip(split, "dialogues without any labelled utterance")
    return _check_not_empty(dialogues, path, "a list of dialogues with labelled utterances")
