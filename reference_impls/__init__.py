"""Literal, slow, obviously-correct transcriptions of the paper's equations that the tests check
the package against: the loss table, FID / IS / KID in NumPy, the gradient penalties by plain
autograd, spectral norm by SVD, and one compare_gan training step.

Written from the cited papers, docs/design.md and the cited source files (file and line at each
block), never from this package's code. Not installed with the package: only the tests import them.
The architecture transcriptions that the architecture audit builds at run time ship inside the
package, in ``repro/arch/references/``.
"""
