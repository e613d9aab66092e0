"""ECR Janitor: nightly cleanup of Amazon ECR repositories that never deletes an image still in use."""

__version__ = "0.1.0"
