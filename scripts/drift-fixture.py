#!/usr/bin/env python3
"""Writes tests/fixtures/drift.json: data and the PSI and KS figures computed on it by NumPy
and SciPy, independently of monlab's Rust code (src/ml/drift.rs), which a unit test checks
against them. Needs numpy and scipy (pip install numpy scipy); the test itself needs neither.

Definitions, the same as monlab's:
- edges: the deciles of the reference (numpy.quantile, default linear method, levels i/10),
  duplicates removed; a value's bin is the number of edges at or below it
  (numpy.searchsorted side="right");
- PSI: sum over bins of (a - e) * ln(a / e), shares floored at 1e-4;
- KS: scipy.stats.ks_2samp(reference, window).statistic.

Run from the repository root: scripts/drift-fixture.py
"""
import json
import pathlib

import numpy as np
import scipy
from scipy import stats

FLOOR = 1e-4


def edges_of(reference):
    return np.unique(np.quantile(reference, [i / 10 for i in range(1, 10)]))


def shares_of(edges, values):
    counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
    return counts / len(values)


def psi(expected, actual):
    e = np.maximum(expected, FLOOR)
    a = np.maximum(actual, FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def case(name, reference, window):
    edges = edges_of(reference)
    ref_shares = shares_of(edges, reference)
    win_shares = shares_of(edges, window)
    return {
        "name": name,
        "reference": [float(x) for x in reference],
        "window": [float(x) for x in window],
        "edges": [float(x) for x in edges],
        "reference_shares": [float(x) for x in ref_shares],
        "window_shares": [float(x) for x in win_shares],
        "psi": psi(ref_shares, win_shares),
        "ks": float(stats.ks_2samp(reference, window).statistic),
    }


def main():
    rng = np.random.default_rng(20261125)
    normal = rng.normal(0.0, 1.0, 1000)
    cases = [
        case("same normal", normal, rng.normal(0.0, 1.0, 500)),
        case("normal shifted by half a standard deviation", normal, rng.normal(0.5, 1.0, 500)),
        case("normal, wider", normal, rng.normal(0.0, 1.6, 300)),
        # Incomes as monlab writes them: log-normal, rounded to 100 (ties).
        case(
            "incomes rounded to 100, moved up",
            np.round(rng.lognormal(np.log(45000), 0.5, 1000) / 100) * 100,
            np.round((rng.lognormal(np.log(45000), 0.5, 400) + 6800) / 100) * 100,
        ),
        # Ages as whole years: many ties and repeated decile edges.
        case(
            "whole-year ages, older",
            np.clip(np.round(rng.normal(40, 12, 1000)), 18, 90),
            np.clip(np.round(rng.normal(46, 12, 600)), 18, 90),
        ),
        # A window entirely outside the reference: empty bins meet the floor.
        case("disjoint", rng.uniform(0, 1, 800), rng.uniform(5, 6, 200)),
        case("few distinct values", rng.integers(0, 4, 1000).astype(float), rng.integers(1, 5, 250).astype(float)),
    ]
    categorical = []
    for expected, counts in [
        ([0.70, 0.15, 0.10, 0.05], [352, 74, 49, 25]),
        ([0.30, 0.30, 0.20, 0.20], [90, 150, 60, 0]),
    ]:
        total = sum(counts)
        categorical.append(
            {
                "expected": expected,
                "counts": counts,
                "psi": psi(np.array(expected), np.array(counts) / total),
            }
        )
    fixture = {
        "generated_by": "scripts/drift-fixture.py",
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "numeric": cases,
        "categorical": categorical,
    }
    out = pathlib.Path("tests/fixtures/drift.json")
    # One line per case: the data are long, the structure short.
    lines = ["{"]
    for key in ["generated_by", "numpy", "scipy"]:
        lines.append(f"  {json.dumps(key)}: {json.dumps(fixture[key])},")
    for key in ["numeric", "categorical"]:
        items = ",\n".join("    " + json.dumps(item) for item in fixture[key])
        comma = "," if key == "numeric" else ""
        lines.append(f"  {json.dumps(key)}: [\n{items}\n  ]{comma}")
    lines.append("}")
    out.write_text("\n".join(lines) + "\n")
    for c in cases:
        print(f"{c['name']:<45} psi {c['psi']:.6f}  ks {c['ks']:.6f}")


if __name__ == "__main__":
    main()
