"""ops-mcp: an MCP server for AI-assisted Kubernetes operations."""

__version__ = "0.1.0"
