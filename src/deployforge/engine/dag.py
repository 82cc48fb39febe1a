"""Dependency graphs: cycle detection and orderings (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def find_cycle(deps: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A dependency cycle as a path ``[a, b, ..., a]``, or None. Only nodes in ``deps`` are followed."""
    WHITE, GREY, BLACK = 0, 1, 2
    color = dict.fromkeys(deps, WHITE)
    for root in deps:
        if color[root] != WHITE:
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        path: list[str] = [root]
        color[root] = GREY
        while stack:
            node, idx = stack[-1]
            children = [c for c in deps.get(node, ()) if c in color]
            if idx < len(children):
                stack[-1] = (node, idx + 1)
                child = children[idx]
                if color[child] == GREY:
                    return [*path[path.index(child) :], child]
                if color[child] == WHITE:
                    color[child] = GREY
                    stack.append((child, 0))
                    path.append(child)
            else:
                color[node] = BLACK
                stack.pop()
                path.pop()
    return None


def topological_order(deps: Mapping[str, Sequence[str]]) -> list[str]:
    """Nodes ordered so each comes after its dependencies; ties keep the input order. Assumes no cycle."""
    indegree = {n: 0 for n in deps}
    dependents: dict[str, list[str]] = {n: [] for n in deps}
    for node, requires in deps.items():
        for dep in requires:
            if dep in indegree:
                indegree[node] += 1
                dependents[dep].append(node)
    position = {n: i for i, n in enumerate(deps)}
    import heapq

    ready = [(position[n], n) for n, d in indegree.items() if d == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, node = heapq.heappop(ready)
        order.append(node)
        for nxt in dependents[node]:
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                heapq.heappush(ready, (position[nxt], nxt))
    if len(order) != len(indegree):
        raise ValueError("dependency cycle")
    return order


def dependents_closure(deps: Mapping[str, Sequence[str]], roots: set[str]) -> set[str]:
    """Every node that (transitively) depends on one of ``roots`` (roots excluded)."""
    reverse: dict[str, list[str]] = {}
    for node, requires in deps.items():
        for dep in requires:
            reverse.setdefault(dep, []).append(node)
    seen: set[str] = set()
    frontier = list(roots)
    while frontier:
        node = frontier.pop()
        for nxt in reverse.get(node, ()):
            if nxt not in seen and nxt not in roots:
                seen.add(nxt)
                frontier.append(nxt)
    return seen
