"""AWS I/O: boto3 clients, the ECR registry, the workloads that use images, the resume state and the rate
limiter. Everything here talks to AWS; nothing here decides what to delete."""
