"""The physics of the mock: cosmology, the galaxy population (luminosity function), SEDs from
kcorrect templates, star formation, spectra and morphology."""
