"""Connected components of the duplicate graph and the choice of one document per cluster.

Local components use SciPy's ``connected_components`` (C, O(nodes + edges) memory) on the
sparse graph of verified candidate edges. The keep rule is shared with the Ray reduce:
within a cluster, order by the configured priorities (highest ``quality_score``, then the
longest text, by default) and finally the smallest id, and keep the first.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


def component_labels(n: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Label of every node 0..n-1: the smallest node index of its component."""
    if len(u) == 0:
        return np.arange(n, dtype=np.int64)
    graph = coo_matrix((np.ones(len(u), np.int8), (u, v)), shape=(n, n)).tocsr()
    _, comp = connected_components(graph, directed=False)
    first = np.full(int(comp.max()) + 1, n, np.int64)
    np.minimum.at(first, comp, np.arange(n, dtype=np.int64))
    return first[comp]


def keeper_order(labels: np.ndarray, quality: np.ndarray, length: np.ndarray, ids: pa.Array,
                 keep: Sequence[str]) -> np.ndarray:
    """Row order that puts each cluster's kept document first (clusters by label)."""
    id_rank = np.empty(len(ids), np.int64)
    id_rank[pc.sort_indices(ids).to_numpy()] = np.arange(len(ids))
    q = np.where(np.isnan(quality), -np.inf, quality)
    keys = {"quality_score": -q, "length": -length.astype(np.int64)}
    return np.lexsort((id_rank, *[keys[k] for k in reversed(keep)], labels))


def choose(labels: np.ndarray, quality: np.ndarray, length: np.ndarray, exact: np.ndarray, ids: pa.Array,
           keep: Sequence[str]) -> dict[str, np.ndarray | pa.Array]:
    """Decisions for the members of clusters: kept flag, kept id, cluster size, reason."""
    order = keeper_order(labels, quality, length, ids, keep)
    lab = labels[order]
    first = np.ones(len(lab), bool)
    first[1:] = lab[1:] != lab[:-1]
    run = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    sizes = np.diff(np.append(starts, len(lab)))[run]
    keeper = order[starts][run]
    kept = np.zeros(len(labels), bool)
    kept[order] = first
    out_keeper, out_size = np.empty(len(labels), np.int64), np.empty(len(labels), np.int64)
    out_keeper[order], out_size[order] = keeper, sizes
    same_text = exact == exact[out_keeper]
    reason = np.where(kept, None, np.where(same_text, "exact_dup", "near_dup"))
    return {"kept": kept, "cluster": ids.take(pa.array(out_keeper)), "cluster_size": out_size,
            "reason": pa.array(reason.tolist(), pa.string())}
