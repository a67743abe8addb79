"""Read one saved answer of a features request and print what it holds, for benches/serving/run.sh.

    python3 check.py ANSWER.json [IDS_TO_COMPARE.json]

Prints: features returned, numberReturned, numberMatched, the first and last score (or -), the
order of the scores (falling, rising, mixed or -) and, with a second answer, how many feature
ids the two share.
Standard library only.
"""
import json
import sys


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


answer = load(sys.argv[1])
features = answer.get("features", [])
scores = [f.get("properties", {}).get("score") for f in features]
scores = [s for s in scores if s is not None]
first = f"{scores[0]:.4f}" if scores else "-"
last = f"{scores[-1]:.4f}" if scores else "-"
pairs = list(zip(scores, scores[1:]))
if not pairs:
    order = "-"
elif all(a >= b for a, b in pairs):
    order = "falling"
elif all(a <= b for a, b in pairs):
    order = "rising"
else:
    order = "mixed"
shared = "-"
if len(sys.argv) > 2:
    ids = lambda d: {f.get("id", f.get("properties", {}).get("id")) for f in d.get("features", [])}
    shared = str(len(ids(answer) & ids(load(sys.argv[2]))))
print(len(features), answer.get("numberReturned", "-"), answer.get("numberMatched", "-"), first, last, order, shared)
