"""Pure protocol code: data in, data out. No sockets, asyncio or subprocess here (a test enforces it)."""
