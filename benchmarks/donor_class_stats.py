#!/usr/bin/env python
"""Decision aid, not part of the test run (dev, val only): best global-statistic AUROC of class c vs each other class c' on
official val images. Low = c' has the global statistics of c, so donors from c' leave no shortcut."""
import sys, json
import numpy as np
from medstrata.data.source import load_source
from medstrata.validity.shortcuts import shortcut_auroc
flag, c = sys.argv[1], int(sys.argv[2])
s = load_source(flag)
x, y = s.images["val"], s.labels["val"][:, 0]
for d in sorted(set(y.tolist()) - {c}):
    sel = (y == c) | (y == d)
    r = shortcut_auroc(x[sel], np.zeros(sel.sum(), int), (y[sel] == d))
    print(json.dumps({"flag": flag, "cls": c, "donor_cls": d, "n": int((y == d).sum()), "best_stat": r["best_statistic"], "best_auroc": round(r["best_auroc"], 3)}))
