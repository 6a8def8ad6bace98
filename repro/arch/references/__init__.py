"""Literal transcriptions of the reference codebases' architectures, shipped with the package
because the architecture audit (:mod:`repro.arch.archdiff`) builds them: compare_gan (the
study's own code), the paper's ResNet CIFAR, and the SNGAN authors' GitHub ResNet.

Written from the cited source files (file and line at each block), never from this package's
models: the models are tested against them (``tests/test_compare_gan_conformance.py``,
``tests/test_resnet_conformance.py``). The slow, equation-level references that only tests use
(losses, metrics, penalties, spectral norm) stay in the repository's ``reference_impls/``.
"""
