"""A survey's data as the services read it: array references, splits, targets (truth or labels) and
one galaxy's view.
"""
