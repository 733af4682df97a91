"""Producers of lesson 1 (SDXL): the refiner split, the trained micro-conditioning model and its effects."""
