"""A documented report simulator for the synthetic demo cohort (English and Chinese).

For each node it writes one short neck-ultrasound report, in the node's language, naming
the node's side and level. What the report *says* is drawn from the pathology with error
rates near the paper's original reports (high sensitivity, low specificity):

| pathology | reported malignant | reported benign | reported equivocal |
|---|---|---|---|
| malignant | 0.90 | 0.06 | 0.04 |
| benign | 0.52 | 0.38 | 0.10 |

Each patient's reports are written by one sonographer (``reader``), and readers differ in how
readily they call a node malignant, so the report errors of one patient's nodes are
correlated, as in a real cohort:

| reader | malignant: mal / ben / equiv | benign: mal / ben / equiv |
|---|---|---|
| A (over-calls) | 0.95 / 0.03 / 0.02 | 0.70 / 0.20 / 0.10 |
| B (the average above) | 0.90 / 0.06 / 0.04 | 0.52 / 0.38 / 0.10 |
| C (cautious) | 0.82 / 0.12 / 0.06 | 0.34 / 0.56 / 0.10 |

Malignant wordings name the node's own drawn features (microcalcifications, cystic change)
when it has them; some reports open with a thyroid finding (a distractor that must never
decide the node label), and negations and hedges are used throughout. Deterministic from
the seed. The texts are synthetic: no patient wrote or read them.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

CALL_RATES = {"malignant": (0.90, 0.06, 0.04), "benign": (0.52, 0.38, 0.10)}
READER_RATES = {
    "A": {"malignant": (0.95, 0.03, 0.02), "benign": (0.70, 0.20, 0.10)},
    "B": CALL_RATES,
    "C": {"malignant": (0.82, 0.12, 0.06), "benign": (0.34, 0.56, 0.10)},
}

_SIDE_EN = {"left": "Left", "right": "Right"}
_SIDE_ZH = {"left": "左侧", "right": "右侧"}
_OTHER = {"left": "right", "right": "left"}

EN = {
    "malignant": [
        "{Side} level {level} lymph node, {a} x {b} mm, with {feature}, suspicious for metastasis.",
        "{Side} level {level} node: loss of the fatty hilum and {feature}, consistent with a metastatic lymph node.",
        "Abnormal lymph node in {side} level {level}, {a} x {b} mm.",
        "No abnormal nodes on the {other}; {side} level {level} node with {feature}, likely metastatic.",
        "{Side} neck lymphadenopathy at level {level}, largest node {a} mm.",
    ],
    "benign": [
        "{Side} level {level} lymph node {a} x {b} mm with preserved fatty hilum, reactive hyperplasia.",
        "No suspicious cervical lymph nodes; level {level} nodes are normal in structure.",
        "{Side} level {level} node, oval, hilum intact; no microcalcification or cystic change.",
    ],
    "indeterminate": [
        "{Side} level {level} node {a} x {b} mm, round, without a visible hilum; metastasis cannot be excluded.",
        "{Side} level {level} node of uncertain significance, FNA suggested.",
    ],
}
ZH = {
    "malignant": [
        "{side_zh}颈部{level}区见一低回声淋巴结，大小约{a}×{b}mm，淋巴门消失，内见{feature_zh}，考虑转移。",
        "{side_zh}颈部{level}区异常淋巴结，约{a}×{b}mm。",
        "{other_zh}颈部未见异常淋巴结；{side_zh}{level}区淋巴结伴{feature_zh}，符合转移。",
        "{side_zh}颈部{level}区淋巴结，疑似转移。",
    ],
    "benign": [
        "{side_zh}颈部{level}区淋巴结约{a}×{b}mm，淋巴门存在，考虑反应性增生。",
        "双侧颈部未见明显肿大淋巴结。",
        "{side_zh}颈部{level}区淋巴结结构正常，未见钙化及液化。",
    ],
    "indeterminate": [
        "{side_zh}颈部{level}区淋巴结呈类圆形，淋巴门显示不清，不除外转移，建议穿刺。",
        "{side_zh}{level}区淋巴结性质待定。",
    ],
}
THYROID_EN = ["Thyroid: {a} mm hypoechoic nodule in the left lobe with microcalcifications, TI-RADS 5. ",
              "Thyroid: normal size and echotexture. ", ""]
THYROID_ZH = ["甲状腺左叶见一低回声结节，大小约{a}mm，伴微钙化，TI-RADS 5类。", "甲状腺大小形态如常，腺体回声均匀。", ""]


def simulate_report(node: Mapping, rng: random.Random, language: str, reader: str | None = None) -> tuple[str, str]:
    """(report text, the call it was written to make) for one node (mapping with label,
    side, level and the phantom features hilum / calcification / cystic); ``reader`` picks
    a sonographer's call rates (None: the average rates)."""
    rates = READER_RATES[reader] if reader is not None else CALL_RATES
    p_mal, p_ben, _ = rates[str(node["label"])]
    u = rng.random()
    call = "malignant" if u < p_mal else "benign" if u < p_mal + p_ben else "indeterminate"
    features_en, features_zh = [], []
    if int(node.get("calcification", 0)):
        features_en.append("microcalcifications")
        features_zh.append("微钙化")
    if int(node.get("cystic", 0)):
        features_en.append("cystic change")
        features_zh.append("囊性变")
    if not features_en:
        pick = rng.randrange(3)
        features_en.append(("microcalcifications", "cystic change", "peripheral vascularity")[pick])
        features_zh.append(("微钙化", "囊性变", "周边型血流")[pick])
    side = str(node["side"])
    values = {"Side": _SIDE_EN[side], "side": side, "other": _OTHER[side], "level": node["level"],
              "a": rng.randint(6, 25), "b": rng.randint(4, 15), "feature": " and ".join(features_en),
              "side_zh": _SIDE_ZH[side], "other_zh": _SIDE_ZH[_OTHER[side]], "feature_zh": "及".join(features_zh)}
    if language == "zh":
        text = rng.choice(THYROID_ZH).format(**values) + rng.choice(ZH[call]).format(**values)
    else:
        text = rng.choice(THYROID_EN).format(**values) + rng.choice(EN[call]).format(**values)
    return text, call
