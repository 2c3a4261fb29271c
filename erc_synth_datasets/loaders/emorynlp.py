"""EmoryNLP's official JSON release: `emotion-detection-{trn,dev,tst}.json`."""

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


def _read_emorynlp_json(path: Path, benchmark: Benchmark, split: str, report: LoadReport) -> list[_Dialogue]:
    """The official EmoryNLP JSON: episodes -> scenes -> utterances with `speakers`, `transcript`, `emotion`."""
    data = _expect(_load_json(path), dict, str(path), "an object with 'episodes'")
    dialogues = []
    scene_ids: dict[str, str] = {}
    for e, episode in enumerate(_expect(data.get("episodes"), list, f"{path}: episodes", "a list")):
        _expect(episode, dict, f"{path}: episodes[{e}]", "an object with 'scenes'")
        for s, scene in enumerate(_expect(episode.get("scenes"), list, f"{path}: episodes[{e}].scenes", "a list")):
            where = f"{path}: episodes[{e}].scenes[{s}]"
            _expect(scene, dict, where, "an object with 'scene_id' and 'utterances'")
            scene_id = scene.get("scene_id")
            if scene_id is None:
                scene_id = f"{benchmark.name}-{split}-{len(dialogues)}"
            scene_id = _string(scene_id, f"{where}.scene_id", "a string")
            _check_unique(scene_ids, scene_id, where, "scene_id")
            dialogue = _Dialogue(scene_id)
            for u, utt in enumerate(_expect(scene.get("utterances"), list, f"{where}.utterances", "a list")):
                at = f"{where}.utterances[{u}]"
                _expect(utt, dict, at, "an object with 'speakers', 'transcript' and 'emotion'")
                label = _check_label(_string(utt.get("emotion"), f"{at}.emotion", "a label string"), benchmark, at)
                speakers = _expect(utt.get("speakers"), list, f"{at}.speakers", "a list of speaker names")
                transcript = _string(utt.get("transcript"), f"{at}.transcript", "a string").strip()
                if not speakers or not transcript:
                    raise DataFileError(f"{at}: expected non-empty 'speakers' and 'transcript'.")
                for k, speaker in enumerate(speakers):
                    _string(speaker, f"{at}.speakers[{k}]", "a speaker name")
                if len(speakers) > 1:
                    report.note(split, "utterances with several speakers: kept the first speaker")
                dialogue.add(_check_speaker(speakers[0], benchmark, f"{at}.speakers[0]"), transcript, label)
            if dialogue.utterances:
                dialogues.append(dialogue)
            else:
                report.skip(split, "scenes without utterances")
    return _check_not_empty(dialogues, path, "episodes with scenes of utterances")
