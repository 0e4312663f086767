"""Training stage: adaptation (LoRA / full fine-tuning) and small pretraining, each gated by a decision first."""
