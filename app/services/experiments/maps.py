"""Maps of an experiment's pool where diversity strategies and cold starts look: the catalogue
colours (there from the first label) or a pretrained encoder's latents."""

from __future__ import annotations

import numpy as np

from app.services.models.training import ArrayCache
from bayes.colours import colour_features
from bayes.latents import encode
from bayes.layers.fusion import embedding
from bayes.pretrained import Encoder


def start_map(cache: ArrayCache, pool: np.ndarray, encoder: Encoder | None) -> np.ndarray:
    """(len(pool), D) where a cold start looks for typical galaxies: the pretrained encoder's
    mean latent, or without an encoder the catalogue colours."""
    if encoder is None:
        return pool_colours(cache, pool)
    arrays = cache.take(pool)
    latents = encode(encoder.trunk.eval(), arrays, n_bands=encoder.n_bands, n_phot=encoder.n_phot)
    return embedding(latents.latents, latents.mask).numpy()


def pool_colours(cache: ArrayCache, pool: np.ndarray) -> np.ndarray:
    """(len(pool), P) colour features of the pool's galaxies, standardised over the pool."""
    arrays = cache.take(pool)
    if arrays.phot_flux is None:
        raise ValueError("a colour map needs photometry; this survey has none")
    return colour_features(arrays.phot_flux, arrays.phot_ivar)
