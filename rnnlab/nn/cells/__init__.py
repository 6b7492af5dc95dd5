"""The arithmetic of one time step of each cell, forward and backward, one file per cell."""
