"""One door per outside system: processes (proc), git (git), the Docker engine (docker)."""
