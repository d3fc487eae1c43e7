"""Stage 5: summaries, diagrams, curves, HTML reports and the API comparison."""
