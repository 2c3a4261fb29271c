"""ERC F1: the F1 score of emotion recognition in conversations, over utterances, with an explicit averaging.

An `evaluate` metric module that ships with erc-synth and loads by path, offline:
`evaluate.load("trainers/metrics/erc_f1")`. It wraps scikit-learn's `f1_score`.
"""

import datasets
import evaluate
from sklearn.metrics import f1_score

_DESCRIPTION = """
The F1 score of emotion labels over utterances: F1 = 2 * (precision * recall) / (precision + recall), per label,
then averaged as asked. ERC papers report the weighted average (each label's F1 weighted by its number of gold
utterances) for MELD, EmoryNLP and IEMOCAP; this module has no default averaging, so every caller says which one.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `int`): Predicted label ids, one per utterance.
    references (`list` of `int`): Gold label ids, one per utterance.
    average (`str`): Required, no default. `'weighted'` (the ERC convention), `'macro'`, `'micro'`, or `None` for
        the F1 of each label (returned as a list, in the order of `labels`).
    labels (`list` of `int`, *optional*): The label ids to score, in order; pass `list(range(num_labels))` so that
        labels absent from both lists still count (as 0) in macro and per-label scores.
    sample_weight (`list` of `float`, *optional*): Weights of the utterances.
    zero_division (`float` or `str`, defaults to `0.0`): The value of a label's F1 when it is undefined.

Returns:
    f1 (`float` or `list` of `float`): The averaged F1, or the per-label F1 scores when `average=None`.

Examples:

    >>> import evaluate
    >>> erc_f1 = evaluate.load("trainers/metrics/erc_f1")  # doctest: +SKIP
    >>> erc_f1.compute(predictions=[0, 1, 1, 2], references=[0, 1, 2, 2], average="weighted")  # doctest: +SKIP
    {'f1': 0.75}
    >>> erc_f1.compute(predictions=[0, 1, 1, 2], references=[0, 1, 2, 2], average=None, labels=[0, 1, 2, 3])
    ... # doctest: +SKIP
    {'f1': [1.0, 0.6666666666666666, 0.6666666666666666, 0.0]}
"""

_CITATION = """
@article{scikit-learn,
  title={Scikit-learn: Machine Learning in {P}ython},
  author={Pedregosa, F. and Varoquaux, G. and Gramfort, A. and Michel, V. and Thirion, B. and Grisel, O. and
          Blondel, M. and Prettenhofer, P. and Weiss, R. and Dubourg, V. and Vanderplas, J. and Passos, A. and
          Cournapeau, D. and Brucher, M. and Perrot, M. and Duchesnay, E.},
  journal={Journal of Machine Learning Research},
  volume={12},
  pages={2825--2830},
  year={2011}
}
"""

_AVERAGES = ("weighted", "macro", "micro", None)
_UNSET = "__unset__"


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class ErcF1(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("int32"), "references": datasets.Value("int32")}
            ),
            reference_urls=["https://scikit-learn.org/stable/modules/generated/sklearn.metrics.f1_score.html"],
        )

    def _compute(self, predictions, references, average=_UNSET, labels=None, sample_weight=None, zero_division=0.0):
        if average == _UNSET:
            raise ValueError(
                "erc_f1 needs an explicit averaging: pass average='weighted' (the ERC convention), 'macro', "
                "'micro' or None (per label)."
            )
        if average not in _AVERAGES:
            raise ValueError(f"average must be one of {list(_AVERAGES)}, but got average={average!r}.")
        score = f1_score(
            references,
            predictions,
            labels=labels,
            average=average,
            sample_weight=sample_weight,
            zero_division=zero_division,
        )
        return {"f1": float(score) if average is not None else [float(s) for s in score]}
