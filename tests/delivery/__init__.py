"""Checks of what ships (images, Terraform, workflows, the container probe) with their tools."""
