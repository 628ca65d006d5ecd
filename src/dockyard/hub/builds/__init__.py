"""Automated builds as Docker Hub has them: rules per source, build arguments and secrets,
base images from the hub's own `library/`, build now, cancel, live logs.

The hub's state module keeps sources and the build queue; this package keeps what a build is
made of (rules, variables, which rule and ref queued it) in its own tables of hub.db.
"""
