"""`invoke release`, one module per concept:

    plan      preflight checks and the Plan (data); Options; the image hook
    steps     the one list of steps (dry run and real run), their journal, apply, rollback
    verify    what `invoke release.verify` checks (also the verify step)
    resume    finish a half-published release, or roll back one that stopped
    run       the entry points the invoke tasks call
    changelog Keep a Changelog surgery; version: the bump-my-version adapter
"""
