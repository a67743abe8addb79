"""Solves the instance with spopt's MCLP and PuLP's CBC, as an analyst would; prints JSON.

    python tests/clients/spopt_mclp.py DIR K RADIUS_M

Reads DIR/demand.csv and DIR/candidates.csv (make_instance.py). Timed: the straight-line
cost matrix, the model build and the solve. Objective: the share of the weight covered.
"""

import json
import sys
import time

import numpy as np
import pandas as pd
import pulp
from scipy.spatial.distance import cdist
from spopt.locate import MCLP

d, k, radius = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
demand = pd.read_csv(f"{d}/demand.csv")
candidates = pd.read_csv(f"{d}/candidates.csv")
start = time.perf_counter()
cost = cdist(demand[["x", "y"]].to_numpy(), candidates[["x", "y"]].to_numpy())
weights = demand["weight"].to_numpy(dtype=float)
model = MCLP.from_cost_matrix(cost, weights, service_radius=radius, p_facilities=k)
model = model.solve(pulp.PULP_CBC_CMD(msg=False))
seconds = time.perf_counter() - start
status = pulp.LpStatus[model.problem.status]
chosen = [j for j, v in enumerate(model.fac_vars) if v.value() > 0.5]
covered = (cost[:, chosen] <= radius).any(axis=1)
share = float(weights[covered].sum() / weights.sum())
print(json.dumps({"seconds": seconds, "status": status, "covered_share": share,
                  "covered_weight": float(weights[covered].sum()), "chosen": len(chosen)}))
