"""Judging a posterior against labels: metrics (accuracy, ECE, σ_NMAD, coverage, PIT, CDE loss)
and the health checks every fit records."""
