"""Producers of the trained digit generators and the studies made from them (lessons 2 to 4)."""
