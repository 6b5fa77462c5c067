"""Per-modality encoders: (inputs of the galaxies that have the modality) -> (n, D) latents."""

from bayes.encoders.image import ImageEncoder
from bayes.encoders.photometry import PhotometryEncoder
from bayes.encoders.spectrum import SpectrumEncoder, wavelength_embedding

__all__ = ["ImageEncoder", "PhotometryEncoder", "SpectrumEncoder", "wavelength_embedding"]
