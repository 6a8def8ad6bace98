"""repro: audit the reproducibility and determinism of GAN training.

Built around "A Large-Scale Study on Regularization and Normalization in GANs"
(Kurach, Lucic, Zhai, Michalski, Gelly, ICML 2019). See README.md for the commands.
"""

__version__ = "0.1.0"
