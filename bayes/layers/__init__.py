"""The network's parts: the trunk that encodes and fuses the modalities (fusion) and the Bayesian
heads on its latents (heads). Encoders per modality are in ``bayes.encoders``."""
