"""Deploying a function version: the deployer, instance types and GPU placement, and the health check."""
