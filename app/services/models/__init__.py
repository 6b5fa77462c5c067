"""Model versions: fit and recalibrate (training), check the fit (fit_health), metrics, load /
activate / fail (versions), and what admins do with them (admin).
"""
