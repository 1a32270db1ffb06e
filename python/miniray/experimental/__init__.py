"""Ray's experimental APIs that miniray has: tqdm_ray."""
