"""The team workflow around a project: the Env trailer (commitenv), git hooks (hooks), one branch
per model (modelbranch), CI files (cigen), new projects from the template (template)."""
