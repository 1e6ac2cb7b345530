"""HTTP routes, one module per area of NVCF's API."""
