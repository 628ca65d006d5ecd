"""dockyard hub: the registry with web pages, private repositories and automated builds from git.

`dockyard hub serve` (dockyard.hub.server) serves the registry API and the pages on one
address; `dockyard hub source add` registers a git repository to build. Nothing heavy is
imported here: aiohttp and Jinja2 load only when the server starts.
"""
