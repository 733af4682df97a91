"""Executable teaching code and site tooling for the course module on diffusion architectures."""
