"""`invoke release`: the plan, its steps with their undo log, verify and resume (core), over the
changelog (changelog) and bump-my-version (version)."""
