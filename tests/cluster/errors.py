"""The harness's one error type, shared by the control plane (harness.py) and the real node (node.py)."""


class ClusterError(RuntimeError):
    """The control plane or its real node could not be built, started or reached."""
