"""The resolver tier: OpenMetadata's own secrets code, in its own venv, resolving the references
on the pods the runner makes (marker ``openmetadata``)."""
