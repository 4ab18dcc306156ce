"""One copy of what the objects of a list repeat: the pods of one ReplicaSet (or copies of one bare pod) decode to
equal containers, volumes, tolerations, labels, conditions... A Sharer, fed the pages of a list as they are decoded,
puts one object in the place of all the equal ones, so a namespace of many pods costs ~3 KB per pod, not ~15 KB.

Safe only because a snapshot is read-only: nothing of diagnosis changes a listed object in place (a fix that needs a
changed manifest copies it first: copy.deepcopy in analyzers/pvc.py and rollout.py; tests/diagnosis/test_shared_pods.py
diagnoses a snapshot twice). Each item keeps its own top dict, so items stay distinct objects (caches keyed by id).
Only for kinds of a typed API (a pod): `==` takes 1, 1.0 and True for one value, which one field of a schema never
mixes, and a custom resource's free-form fields might.
"""

from __future__ import annotations

from typing import Any

FLAT_MAPS = frozenset(("labels", "annotations"))
CANDIDATES = 4  # distinct values kept per shape: a list holds the pods of one owner together (sorted by name)


class Sharer:
    """Puts in the items given to `share_page`, in place of every dict and list equal to one met before in this list,
    that first one, and in place of every string the first equal string of its page. A dict or list with no equal is
    kept, its own children shared in turn (a container differs by its service-account token mount: its env,
    resources, probes... are still shared)."""

    def __init__(self) -> None:
        # (field, shape) -> the last few distinct values of that field and shape, the one last matched first
        self._seen: dict[tuple[Any, ...], list[Any]] = {}
        self._strings: dict[str, str] = {}
        self._maps: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._empties: dict[type, Any] = {}

    def share_page(self, items: list[dict[str, Any]]) -> None:
        """Share the subtrees of the items of one page with those of the pages before. Strings are shared within the
        page only: the unique ones (names, uids, timestamps) would otherwise pile up in the memo for the whole list."""
        self._strings, self._maps = {}, {}
        for item in items:
            for part in item.values():  # metadata, spec, status: each item's own (its name, its node...)
                if type(part) is dict:
                    self._children(part, "")

    def _one(self, field: str, value: dict[str, Any] | list[Any]) -> Any:
        """`value` or an equal one met before; `field`: the key whose value it is (a list item: the list's key)."""
        if field in FLAT_MAPS and type(value) is dict:
            # labels and annotations: looked up by their items (a few candidates would not do for pods whose labels
            # take turns, e.g. a shard label); within the page, as the unique ones of StatefulSet pods would pile up
            try:
                return self._maps.setdefault((field, *value.items()), value)
            except TypeError:  # a value that is not a string: compared as any other dict
                pass
        key = (field, len(value))  # the field (one schema type) and its size: cheap, and few values share both
        candidates = self._seen.get(key)
        if candidates is None:
            candidates = self._seen[key] = []
        # `==` is a deep compare in C (a shared child is found equal at once, by identity)
        for i, seen in enumerate(candidates):
            if seen == value:
                if i:
                    candidates.insert(0, candidates.pop(i))
                return seen
        self._children(value, field)
        candidates.insert(0, value)
        del candidates[CANDIDATES:]
        return value

    def _empty(self, kind: type, item: Any) -> Any:
        """One empty dict (`securityContext: {}`, `resources: {}`, `lastState: {}`) and one empty list for the list."""
        return self._empties.setdefault(kind, item)

    def _children(self, value: dict[str, Any] | list[Any], field: str) -> None:
        strings = self._strings
        pairs = value.items() if type(value) is dict else enumerate(value)
        for key, item in pairs:
            kind = type(item)
            if kind is str:
                shared = strings.setdefault(item, item)
            elif kind is dict or kind is list:
                shared = self._one(key if type(key) is str else field, item) if item else self._empty(kind, item)
            else:
                continue  # numbers, booleans, None: small, or one object already
            if shared is not item:
                value[key] = shared  # replaces a value, the keys stay: allowed while iterating
