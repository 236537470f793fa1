"""`nox -s gpu_tests`: the suites in each pinned image (run, suites) -> typed records (records)
-> a comparison (compare, pure) -> a report (report)."""
