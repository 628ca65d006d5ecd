"""Containers: a running image, its lifecycle, and the docker-shaped views of it."""
