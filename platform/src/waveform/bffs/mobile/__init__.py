"""The mobile BFF: few round trips, embedded entities, screens in one call."""
