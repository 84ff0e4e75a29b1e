//! sigstack-rekor
