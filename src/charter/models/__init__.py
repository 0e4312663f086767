"""The model seam: load and run causal language models (transformers backend; tiny ones for tests)."""
