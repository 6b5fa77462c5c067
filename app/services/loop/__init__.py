"""The labelling loop: the label queue and its selection rule (strategy, screening, queues),
labelling with leases, scoring a pool, the retrain round, Dask scoring and status.
"""
