"""Benchmarks (`make bench`): ECR API calls against the floor, wall time, speed-up and peak memory."""
