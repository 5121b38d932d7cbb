"""A small MCP server (official Python SDK) for the mcp-proxy tests: what it does is visible in its answers."""

from mcp.server import MCPServer

server = MCPServer("upstream")


@server.tool()
def echo(text: str) -> str:
    """Echo the text back."""
    return f"echo: {text}"


@server.tool()
def delete_file(path: str) -> str:
    """Pretend to delete a file."""
    return f"deleted {path}"


@server.tool()
def write_note(note: str) -> str:
    """Pretend to write a note."""
    return f"wrote {note}"


if __name__ == "__main__":
    server.run("stdio")
