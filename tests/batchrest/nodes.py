"""The simulated pool's compute nodes: which node a task runs on, and whether a node
takes new tasks (Batch's node scheduling state).

Every pool a job names exists with a few nodes of unlimited slots (tasks are
simulated, so slots would only slow the tests). A node whose scheduling is
disabled gets no new tasks; with `requeue` or `terminate` its running tasks are
dealt with at once, with `taskcompletion` they finish where they are.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

NODES_PER_POOL = 2
SCHEDULING_OPTIONS = ("requeue", "terminate", "taskcompletion")


@dataclass
class Node:
    id: str
    pool_id: str
    scheduling: str = "enabled"  # enabled | disabled

    @property
    def affinity_id(self) -> str:
        return f"TVM:{self.id}"


@dataclass
class Pool:
    id: str
    nodes: dict[str, Node] = field(default_factory=dict)
    _turn: int = 0

    @classmethod
    def with_nodes(cls, pool_id: str, count: int = NODES_PER_POOL) -> Pool:
        pool = cls(pool_id)
        for i in range(count):
            # Batch's node ids look like this: tvmps_<64 hex>_d (dedicated) or _p (Spot)
            digest = hashlib.sha256(f"{pool_id}/{i}".encode()).hexdigest()
            node = Node(f"tvmps_{digest}_{'dp'[i % 2]}", pool_id)
            pool.nodes[node.id] = node
        return pool

    def next_node(self) -> Node | None:
        """The next node taking tasks, in turn; None when scheduling is off on all of them."""
        ready = [n for n in self.nodes.values() if n.scheduling == "enabled"]
        if not ready:
            return None
        self._turn += 1
        return ready[self._turn % len(ready)]
