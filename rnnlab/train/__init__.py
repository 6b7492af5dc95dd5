"""Training: checkpoints (safetensors + JSON, no pickle), and the loop that uses them."""
