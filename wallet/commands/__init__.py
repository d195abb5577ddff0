"""Typer sub-apps of the patient wallet (`healthsilk wallet|consent|records|access-log|delegate ...`)."""
