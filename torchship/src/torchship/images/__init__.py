"""The project's images: specs and builds (build), base pinning (pin), registries (registry),
dependency locks (locks). Importing this package imports none of docker or torch."""
