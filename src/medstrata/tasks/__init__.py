"""Task specs, building, content-addressed ids, manifests, verification and export."""
