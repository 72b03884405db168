"""The reference platform's BFFs: one per client experience, each a thin translation layer
over the services, built on tailor."""
