"""The uncertainty report of the active version: calibration, coverage, PIT, learning curves and
figures.
"""
