"""Catalogs as astronomers have them (any table astropy reads): the column map (column_map),
table columns (columns), magnitudes and their errors (magnitudes), photometry rows
(photometry), and the reader that puts them together (read)."""
