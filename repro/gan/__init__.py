"""The study's GAN zoo: losses, penalties, normalizations, architectures and variant presets."""
