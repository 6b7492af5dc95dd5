"""Runs: what the command line and a notebook share. A run is built from its spec, trained into a
folder, loaded back from it and evaluated, with the same code whichever of the two asks."""
