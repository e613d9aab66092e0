"""The pure core: the image model, ECR's lifecycle grammar, the retain engine, the propagate diff and image
references. No I/O and no clock: whatever depends on time takes `now` as an argument."""
