"""Lightning tasks: one LightningModule per objective, plus the shared training runner."""
