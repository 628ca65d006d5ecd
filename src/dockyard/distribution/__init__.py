"""Registry client: pull, push, login, search, with token and basic auth, mounts and resumable transfers.

The image service and the CLI call these; they deal only in blobs in a `ContentStore`
(registering and tagging images is the image service's job). Import from the modules:
this package imports nothing, so that `uptodate` costs no HTTP client.
"""
