"""The demo's report simulator: deterministic, calibrated to its documented error rates, and
read back correctly by the report classifier."""

import random
from collections import Counter

from reportmine.compare.simulate import CALL_RATES, simulate_report
from reportmine.mining.classify import ReportClassifier


def _nodes(n, label, seed=0):
    rng = random.Random(seed)
    for i in range(n):
        yield {"label": label, "side": rng.choice(["left", "right"]), "level": rng.choice(["II", "III", "IV", "VI"]),
               "calcification": i % 3 == 0, "cystic": i % 4 == 0}


def test_deterministic_from_seed():
    node = next(_nodes(1, "malignant"))
    assert simulate_report(node, random.Random(3), "zh") == simulate_report(node, random.Random(3), "zh")


def test_call_rates_and_classifier_reads_the_intended_call():
    clf = ReportClassifier()
    for label, rates in CALL_RATES.items():
        rng = random.Random(42)
        calls = Counter()
        agree = 0
        nodes = list(_nodes(600, label))
        for k, node in enumerate(nodes):
            text, call = simulate_report(node, rng, "zh" if k % 2 else "en")
            calls[call] += 1
            result = clf.classify(text, level=node["level"], side=node["side"])
            agree += result.label_3class == call
        for call, expected in zip(("malignant", "benign", "indeterminate"), rates):
            assert abs(calls[call] / len(nodes) - expected) < 0.05, (label, call)
        assert agree / len(nodes) > 0.97
