"""Check the build's screen before export against a bench that measured every artifact.

``edgeprune build`` leaves out unstructured candidates that another unstructured
candidate dominates before export (:mod:`edgeprune.select.screen`: strictly
sparser at no lower test accuracy, the same dense network once densified). This
script takes a run whose bench measured *every* candidate (a build with
``--all-candidates``, or one made before the screen existed), applies the screen
to its candidates, and for each screened artifact (every format and precision)
checks with the measured figures that its dominator is really no worse: smaller
file, accuracy not lower beyond the selection's tie rule, latency and peak RAM
not worse beyond it. It also says whether the selection would change.

    python benchmarks/screen.py RUN --target raspberry-pi-4
"""
from __future__ import annotations

import argparse
import sys

from _common import header, save


def main(argv: list[str] | None = None) -> int:
    from edgeprune.runio import RunDir, read_json
    from edgeprune.select.core import OBJECTIVES, compare_rows
    from edgeprune.select.noise import Tolerances
    from edgeprune.select.rows import rows_from_bench
    from edgeprune.select.screen import screen_candidates
    from edgeprune.targets import load_target

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run")
    p.add_argument("--target", default="raspberry-pi-4")
    args = p.parse_args(argv)
    rd = RunDir(args.run)
    cands = [read_json(rd.candidate_json(c)) for c in rd.candidate_ids()]
    screen = screen_candidates(cands)
    rows = {r.key: r for r in rows_from_bench(read_json(rd.bench_json(load_target(args.target).name)))}
    tol = Tolerances()
    checks, held = [], 0
    for s in screen.screened:
        for key, y in rows.items():
            if y.candidate != s.candidate or y.error or y.missing():
                continue
            x = rows.get(key.replace(s.candidate, s.dominated_by, 1))
            if x is None or x.error or x.missing():
                checks.append({"screened": key, "dominator": None, "held": None, "why": "dominator not benched"})
                continue
            # > 0: x better beyond the tie, 0: a tie within noise, < 0: x worse
            outcome = {obj: c.outcome for obj, c in compare_rows(x, y, tol).items()}
            ok = all(v >= 0 for v in outcome.values()) and outcome["size_mb"] > 0
            held += ok
            checks.append({"screened": key, "dominator": x.key, "held": ok, "outcome": outcome,
                           "figures": {obj: [x.value(obj), y.value(obj)] for obj in OBJECTIVES}})
    sel = read_json(rd.selection_json) if rd.selection_json.is_file() else {}
    choice = (sel.get("choice") or {}).get("candidate")
    doc = {**header(sys.argv), "run": str(rd.root), "target": args.target, "rule": screen.to_json()["rule"],
           "candidates": len(cands), "screened": [s.candidate for s in screen.screened],
           "artifacts_checked": len(checks), "dominance_held": held, "checks": checks,
           "choice_of_the_full_bench": choice, "choice_was_screened": choice in {s.candidate for s in screen.screened}}
    print(f"screen: {len(screen.screened)} of {len(cands)} candidates screened; measured dominance held for "
          f"{held} of {len(checks)} screened artifacts; the full bench chose {choice} "
          f"({'screened!' if doc['choice_was_screened'] else 'not screened'})")
    for c in checks:
        if not c["held"]:
            print(f"  did not hold: {c['screened']} vs {c['dominator']}: {c.get('outcome') or c.get('why')}")
    print(f"wrote {save('screen', doc)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
