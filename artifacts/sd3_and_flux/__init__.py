"""Producers of lesson 3, SD3 and Flux: encoder and transformer tables, timestep figures, naive concatenation vs MMDiT."""
