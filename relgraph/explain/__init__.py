"""Why a model predicts what it does: global rankings, one entity's inputs, cohorts.

LightGBM: TreeSHAP values from LightGBM's ``pred_contrib``. GNN: Captum's Integrated
Gradients per input column of every sampled row, and feature ablation per edge type.
"""

from relgraph.explain.report import Explanation, LocalExplanation
from relgraph.explain.run import explain_model

__all__ = ["Explanation", "LocalExplanation", "explain_model"]
