"""Citizens' phone end (乡村惠民服务 H5): an aiohttp service of server-rendered pages."""
