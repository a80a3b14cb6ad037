"""release: ship new versions of on-premises systems and keep their databases safe."""

__version__ = "0.1.0"
