"""What a person sees while the tool works (progress displays)."""
