"""Count the import cycles among a package's modules: the strongly connected components of
more than one module in the import graph grimp builds (the graph import-linter checks).

An edge is any import statement grimp finds: at module level, inside a function (a deferred
import still ties the two modules together), and under ``if TYPE_CHECKING:`` unless
``--no-type-checking``. Imports from outside the package are left out. The count is what
issue 23 reports before and after the backend registry moved (``python -m
tools.import_cycles runtime``); ``tests/test_layout.py`` keeps it at zero.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Mapping

import grimp


def import_graph(package: str, *, type_checking: bool = True) -> dict[str, set[str]]:
    graph = grimp.build_graph(package, exclude_type_checking_imports=not type_checking)
    return {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}


def strongly_connected(edges: Mapping[str, set[str]]) -> Iterator[list[str]]:
    """Tarjan's algorithm, iterative (a package's depth must not meet the recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            following = next(successors, None)
            if following is not None:
                if following not in index:
                    index[following] = low[following] = len(index)
                    stack.append(following)
                    on_stack.add(following)
                    work.append((following, iter(sorted(edges.get(following, ())))))
                elif following in on_stack:
                    low[node] = min(low[node], index[following])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                yield sorted(component)


def cycles(package: str, *, type_checking: bool = True) -> list[list[str]]:
    """The components of more than one module, largest first."""
    found = strongly_connected(import_graph(package, type_checking=type_checking))
    return sorted((c for c in found if len(c) > 1), key=len, reverse=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package")
    parser.add_argument("--no-type-checking", action="store_true")
    args = parser.parse_args(argv)
    found = cycles(args.package, type_checking=not args.no_type_checking)
    print(f"{len(found)} import cycle(s) in {args.package}")
    for component in found:
        print(f"  {len(component)} modules: {', '.join(component)}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
